package io.github.dl4jema.examples;

import io.github.dl4jema.AverageSwap;
import io.github.dl4jema.AveragingRule;
import io.github.dl4jema.EmaListener;
import io.github.dl4jema.ensemble.EnsembleOfAverages;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The domain-generalization benchmark of <i>Ensemble of Averages</i> (Arpit et al., NeurIPS 2022) in miniature:
 * DomainBed's RotatedMNIST protocol on the shipped 8x8 UCI digits ({@link RotatedDigits}).
 *
 * <p>For every held-out domain and seed it trains a 64-128-10 perceptron with Adam on the five other domains and
 * scores, after every epoch, on in-domain validation data and on the held-out domain (out-of-domain, OOD):
 * <ul>
 *   <li>one run carries three shadow listeners, so plain training ({@link Method#ERM}), the paper's simple moving
 *       average ({@link Method#SMA}), the same started at mid-run ({@link Method#SMA_MID_RUN}) and an exponential
 *       average ({@link Method#EMA}) share one training run;</li>
 *   <li>a second run trains with the seed rule written back ({@link Method#SEED_WRITE_BACK}), which changes the
 *       training itself;</li>
 *   <li>after all seeds, the {@link EnsembleOfAverages} of the seeds' SMA models at each epoch
 *       ({@link Method#ENSEMBLE_OF_SMA}), and as a control the same ensemble of their training weights
 *       ({@link Method#ENSEMBLE_OF_ERM}).</li>
 * </ul>
 * Each run's epoch is selected on in-domain validation; the report gives the selected model's OOD accuracy (mean and
 * standard deviation over seeds) and the epoch-to-epoch standard deviation of OOD accuracy over the last half of
 * training, per held-out domain and averaged, as a CSV, a Markdown table and PNG plots ({@link BenchmarkReport}).
 *
 * <pre>
 * mvn -q -pl examples -am compile exec:java -Dexec.mainClass=io.github.dl4jema.examples.RotatedDigitsBenchmark \
 *     -Dexec.args="--seeds 5 --epochs 40 --output docs/rotated-digits"
 * </pre>
 */
@Command(name = "RotatedDigitsBenchmark", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Leave-one-domain-out benchmark of weight averaging on the rotated UCI digits.")
public final class RotatedDigitsBenchmark implements Callable<Integer> {

    /** Default number of seeds (trials) per held-out domain. */
    public static final int DEFAULT_SEEDS = 5;
    /** Default number of epochs per training run. */
    public static final int DEFAULT_EPOCHS = 40;
    /** Default decay of the exponential average, per iteration (about 38 iterations per epoch here). */
    public static final double DEFAULT_EMA_DECAY = 0.99;
    /** Seeds used by {@code --quick}. */
    public static final int QUICK_SEEDS = 2;
    /** Epochs used by {@code --quick}. */
    public static final int QUICK_EPOCHS = 5;
    /**
     * The seed of the training/validation split, the same for every seed of a held-out domain: seeds vary the
     * initialisation and the minibatch order, as the members of the paper's ensembles do, and the ensemble of their
     * averages keeps a validation set that none of its members saw.
     */
    public static final long SPLIT_SEED = 12345;
    /** Minibatch size. */
    public static final int BATCH = 32;
    /** Adam's learning rate. */
    public static final double LEARNING_RATE = 0.003;
    /** Width of the hidden layer. */
    public static final int HIDDEN = 128;

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Option(names = "--held-out", split = ",", paramLabel = "DEGREES",
            description = "Held-out (test) domains, by rotation angle: any of 0,15,30,45,60,75 (default: all six).")
    private int[] heldOut = RotatedDigits.ANGLES.clone();

    @Option(names = "--seeds", paramLabel = "N",
            description = "Seeds (trials) per held-out domain; seeds 1..N (default: ${DEFAULT-VALUE}).")
    private int seeds = DEFAULT_SEEDS;

    @Option(names = "--epochs", paramLabel = "N", description = "Epochs per training run (default: ${DEFAULT-VALUE}).")
    private int epochs = DEFAULT_EPOCHS;

    @Option(names = "--ema-decay", paramLabel = "D",
            description = "Decay of the exponential average, per iteration (default: ${DEFAULT-VALUE}).")
    private double emaDecay = DEFAULT_EMA_DECAY;

    @Option(names = "--output", paramLabel = "DIR",
            description = "Folder for the CSV files, Markdown table and plots (default: ${DEFAULT-VALUE}).")
    private Path output = Path.of("rotated-digits-results");

    @Option(names = "--quick",
            description = "A smoke run of well under 2 minutes: " + QUICK_SEEDS + " seeds and " + QUICK_EPOCHS
                    + " epochs, overriding --seeds and --epochs.")
    private boolean quick;

    /**
     * Runs the benchmark from the command line; exits with a non-zero status on bad options or failure.
     *
     * @param args the options; {@code --help} lists them
     */
    public static void main(String[] args) {
        int status = run(args);
        if (status != 0) {
            System.exit(status);
        }
    }

    /**
     * Runs the benchmark without exiting the JVM (for tests and embedding).
     *
     * @param args the options, as for {@link #main(String[])}
     * @return the exit status: 0 on success
     */
    public static int run(String... args) {
        return new CommandLine(new RotatedDigitsBenchmark()).execute(args);
    }

    /**
     * Runs the configured benchmark and writes the report.
     *
     * @return 0 on success
     * @throws IOException if the report cannot be written
     */
    @Override
    public Integer call() throws IOException {
        int runSeeds = quick ? QUICK_SEEDS : seeds;
        int runEpochs = quick ? QUICK_EPOCHS : epochs;
        if (runSeeds < 1 || runEpochs < 2) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--seeds should be >= 1 and --epochs >= 2 "
                    + "(got: " + runSeeds + " and " + runEpochs + ")");
        }
        if (!(emaDecay >= 0.0 && emaDecay < 1.0)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--ema-decay should be in [0, 1) (got: "
                    + emaDecay + ")");
        }
        int[] domains;
        try {
            domains = Arrays.stream(heldOut).map(RotatedDigits::domainOf).distinct().sorted().toArray();
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), e.getMessage());
        }
        System.setProperty("java.awt.headless", "true");
        NativeThreads.useOneUnlessConfigured();
        long started = System.nanoTime();
        System.out.printf("Rotated digits: held-out domains %s degrees, %d seeds, %d epochs, EMA decay %s, "
                        + "output %s%n", Arrays.toString(Arrays.stream(domains).map(d -> RotatedDigits.ANGLES[d])
                        .toArray()), runSeeds, runEpochs, emaDecay, output.toAbsolutePath());
        RotatedDigits data = RotatedDigits.of(Digits.load());
        BenchmarkReport report = new BenchmarkReport(runEpochs, runSeeds, emaDecay);
        int total = domains.length * runSeeds;
        int done = 0;
        for (int domain : domains) {
            int angle = RotatedDigits.ANGLES[domain];
            List<INDArray[]> smaSnapshots = new ArrayList<>();
            List<INDArray[]> ermSnapshots = new ArrayList<>();
            RotatedDigits.Split split = data.split(domain, SPLIT_SEED);
            for (int seed = 1; seed <= runSeeds; seed++) {
                long runStart = System.nanoTime();
                ShadowRun shadows = trainWithShadows(split, seed, runEpochs, emaDecay);
                Curve seedRule = trainWithSeedRule(split, seed, runEpochs);
                for (Map.Entry<Method, Curve> curve : shadows.curves().entrySet()) {
                    report.add(angle, curve.getKey(), seed, curve.getValue());
                }
                report.add(angle, Method.SEED_WRITE_BACK, seed, seedRule);
                smaSnapshots.add(shadows.smaParams());
                ermSnapshots.add(shadows.ermParams());
                done++;
                double elapsed = (System.nanoTime() - started) / 1e9;
                System.out.printf("[%d/%d] held out %2d°, seed %d: last-epoch OOD accuracy ERM %.1f%%, SMA %.1f%%,"
                                + " SMA from mid-run %.1f%%, EMA %.1f%%, seed rule %.1f%% (%.1f s; about %.0f s to "
                                + "go)%n",
                        done, total, angle, seed, 100 * last(shadows.curves().get(Method.ERM)),
                        100 * last(shadows.curves().get(Method.SMA)),
                        100 * last(shadows.curves().get(Method.SMA_MID_RUN)),
                        100 * last(shadows.curves().get(Method.EMA)), 100 * last(seedRule),
                        (System.nanoTime() - runStart) / 1e9, elapsed / done * (total - done));
            }
            Curve ensemble = ensembleCurve(smaSnapshots, split, runEpochs);
            Curve plainEnsemble = ensembleCurve(ermSnapshots, split, runEpochs);
            report.add(angle, Method.ENSEMBLE_OF_SMA, -1, ensemble);
            report.add(angle, Method.ENSEMBLE_OF_ERM, -1, plainEnsemble);
            System.out.printf("      held out %2d°, ensembles of %d: OOD accuracy at the selected epoch: of SMA "
                            + "models %.1f%% (epoch %d), of ERM models %.1f%% (epoch %d)%n", angle, runSeeds,
                    100 * ensemble.selectedOod(), ensemble.selectedEpoch(), 100 * plainEnsemble.selectedOod(),
                    plainEnsemble.selectedEpoch());
        }
        Files.createDirectories(output);
        report.write(output);
        System.out.println();
        System.out.println(report.markdownTables());
        System.out.printf("Wrote %s in %.1f s.%n", output.toAbsolutePath(), (System.nanoTime() - started) / 1e9);
        return 0;
    }

    /**
     * The benchmark's network: 64 inputs, a hidden layer of {@link #HIDDEN} ReLU units, 10 softmax outputs; Adam
     * with learning rate {@link #LEARNING_RATE}.
     *
     * @param seed the initialisation seed; not 0, which DL4J 1.0.0-M2.1 does not reproduce (the weights drawn with
     *             seed 0 differ from one JVM to the next, measured here), so the benchmark numbers its seeds from 1
     * @return the configuration
     */
    public static MultiLayerConfiguration network(long seed) {
        return new NeuralNetConfiguration.Builder()
                .seed(seed)
                .weightInit(WeightInit.XAVIER)
                .updater(new Adam(LEARNING_RATE))
                .list()
                .layer(new DenseLayer.Builder().nIn(Digits.SIDE * Digits.SIDE).nOut(HIDDEN)
                        .activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(HIDDEN).nOut(Digits.CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .build();
    }

    /**
     * One training run carrying three shadow averages: the paper's simple moving average (after 100 iterations), the
     * same started at mid-run, and an exponential average. After each epoch it scores the training weights, then
     * each average swapped in, on validation and OOD data, and keeps copies of the training weights and of the
     * simple average for the ensembles.
     *
     * @param split    the data
     * @param seed     initialisation and shuffling seed
     * @param epochs   epochs to train
     * @param emaDecay decay of the exponential average
     * @return the curves of {@link Method#ERM}, {@link Method#SMA}, {@link Method#SMA_MID_RUN} and
     *         {@link Method#EMA}, the trained network and its listeners
     */
    public static ShadowRun trainWithShadows(RotatedDigits.Split split, long seed, int epochs, double emaDecay) {
        MultiLayerNetwork net = new MultiLayerNetwork(network(seed));
        net.init();
        EmaListener sma = EmaListener.simpleMovingAverage().build();
        long iterationsPerEpoch = (split.train().numExamples() + BATCH - 1) / BATCH;
        EmaListener smaMidRun = EmaListener.builder(AveragingRule.simple()).name("simple-mid-run").everyIteration()
                .startingAtFraction(0.5, epochs * iterationsPerEpoch).shadow().build();
        EmaListener ema = EmaListener.exponential(emaDecay).build();
        net.addListeners(sma, smaMidRun, ema);
        Map<Method, double[][]> scores = new EnumMap<>(Method.class);
        for (Method method : List.of(Method.ERM, Method.SMA, Method.SMA_MID_RUN, Method.EMA)) {
            scores.put(method, new double[2][epochs]);
        }
        INDArray[] smaParams = new INDArray[epochs];
        INDArray[] ermParams = new INDArray[epochs];
        for (int e = 0; e < epochs; e++) {
            net.fit(Digits.iterator(split.train(), BATCH, seed * 100_003 + e));
            score(net, split, scores.get(Method.ERM), e);
            try (AverageSwap ignored = sma.swapIn(net)) {
                score(net, split, scores.get(Method.SMA), e);
            }
            try (AverageSwap ignored = smaMidRun.swapIn(net)) {
                score(net, split, scores.get(Method.SMA_MID_RUN), e);
            }
            try (AverageSwap ignored = ema.swapIn(net)) {
                score(net, split, scores.get(Method.EMA), e);
            }
            smaParams[e] = sma.averagedParams(net);
            ermParams[e] = net.params().dup();
        }
        Map<Method, Curve> curves = new EnumMap<>(Method.class);
        scores.forEach((method, s) -> curves.put(method, new Curve(s[0], s[1])));
        return new ShadowRun(curves, net, sma, smaMidRun, ema, smaParams, ermParams);
    }

    /**
     * One training run with the seed rule written back into the network at every epoch end; the network is scored
     * after each epoch, when it holds the average.
     *
     * @param split  the data
     * @param seed   initialisation and shuffling seed (the same as the shadow run's, so both start alike)
     * @param epochs epochs to train
     * @return the curve of {@link Method#SEED_WRITE_BACK}
     */
    public static Curve trainWithSeedRule(RotatedDigits.Split split, long seed, int epochs) {
        MultiLayerNetwork net = new MultiLayerNetwork(network(seed));
        net.init();
        net.addListeners(EmaListener.seedRule().build());
        double[][] scores = new double[2][epochs];
        for (int e = 0; e < epochs; e++) {
            net.fit(Digits.iterator(split.train(), BATCH, seed * 100_003 + e));
            score(net, split, scores, e);
        }
        return new Curve(scores[0], scores[1]);
    }

    /**
     * An ensemble over epochs: at each epoch, the {@link EnsembleOfAverages} (logits averaged) of the seeds' models,
     * the simple-average models for {@link Method#ENSEMBLE_OF_SMA}. All seeds share one data split, so the ensemble
     * has a validation set that none of its members trained on.
     *
     * @param memberParams per seed, the member's parameters after each epoch
     * @param split        the data split all seeds trained on
     * @param epochs       the number of epochs
     * @return the ensemble's curve
     */
    public static Curve ensembleCurve(List<INDArray[]> memberParams, RotatedDigits.Split split, int epochs) {
        DataSet validation = split.validation();
        DataSet test = split.test();
        double[][] scores = new double[2][epochs];
        for (int e = 0; e < epochs; e++) {
            EnsembleOfAverages.Builder builder = EnsembleOfAverages.builder();
            for (int s = 0; s < memberParams.size(); s++) {
                MultiLayerNetwork member = new MultiLayerNetwork(network(s));
                member.init(memberParams.get(s)[e], false);
                builder.member(member);
            }
            EnsembleOfAverages ensemble = builder.build();
            scores[0][e] = accuracy(ensemble.output(validation.getFeatures()), validation.getLabels());
            scores[1][e] = accuracy(ensemble.output(test.getFeatures()), test.getLabels());
        }
        return new Curve(scores[0], scores[1]);
    }

    private static void score(MultiLayerNetwork net, RotatedDigits.Split split, double[][] into, int epoch) {
        into[0][epoch] = accuracy(net.output(split.validation().getFeatures(), false), split.validation().getLabels());
        into[1][epoch] = accuracy(net.output(split.test().getFeatures(), false), split.test().getLabels());
    }

    private static double accuracy(INDArray predictions, INDArray labels) {
        Evaluation evaluation = new Evaluation(Digits.CLASSES);
        evaluation.eval(labels, predictions);
        return evaluation.accuracy();
    }

    private static double last(Curve curve) {
        return curve.ood()[curve.epochs() - 1];
    }

    /**
     * The outcome of {@link #trainWithShadows}: curves, and the trained network with its listeners for inspection.
     *
     * @param curves    the curves of ERM, SMA, SMA from mid-run and EMA
     * @param network   the trained network (holding its own weights, not an average)
     * @param sma       the simple moving average listener (after 100 iterations)
     * @param smaMidRun the simple moving average listener started at mid-run
     * @param ema       the exponential average listener
     * @param smaParams the simple average's parameters after each epoch (index {@code e - 1} for epoch {@code e})
     * @param ermParams the training weights after each epoch
     */
    public record ShadowRun(Map<Method, Curve> curves, MultiLayerNetwork network, EmaListener sma,
                            EmaListener smaMidRun, EmaListener ema, INDArray[] smaParams, INDArray[] ermParams) {
    }
}
