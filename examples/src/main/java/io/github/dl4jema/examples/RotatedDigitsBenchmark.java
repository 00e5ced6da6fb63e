package io.github.dl4jema.examples;

import io.github.dl4jema.AverageSwap;
import io.github.dl4jema.AveragingRule;
import io.github.dl4jema.EmaListener;
import io.github.dl4jema.ensemble.EnsembleOfAverages;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The domain-generalization benchmark of <i>Ensemble of Averages</i> (Arpit et al., NeurIPS 2022) in miniature:
 * DomainBed's RotatedMNIST protocol on the shipped 8x8 UCI digits ({@link RotatedDigits}).
 *
 * <p>For every held-out domain and seed it trains a network ({@link BenchmarkModel}: a perceptron, or with
 * {@code --model cnn} a small convolutional network) with Adam on the five other domains and scores, after every
 * epoch, on in-domain validation data and on the held-out domain (out-of-domain, OOD):
 * <ul>
 *   <li>one run carries three shadow listeners, so plain training ({@link Method#ERM}), the paper's simple moving
 *       average from iteration 99 ({@link Method#SMA}), the same started at mid-run ({@link Method#SMA_MID_RUN}) and
 *       an exponential average ({@link Method#EMA}) share one training run;</li>
 *   <li>a second run trains with the seed rule written back ({@link Method#SEED_WRITE_BACK}), which changes the
 *       training itself;</li>
 *   <li>after all seeds, at each epoch, the {@link EnsembleOfAverages} of the seeds' models of each shadow method:
 *       the Ensembles of Averages of the SMA, mid-run SMA and EMA models, and as a control the plain ensemble of
 *       their training weights ({@link Method#ENSEMBLE_OF_ERM}).</li>
 * </ul>
 * Each run's epoch is selected on in-domain validation; the report gives the selected model's OOD accuracy (mean and
 * standard deviation over seeds), two measures of the epoch-to-epoch instability of OOD accuracy over the last half
 * of training (its standard deviation and its mean absolute change from one epoch to the next), and each method's
 * difference from plain training against the spread over seeds, per held-out domain and averaged, as CSV files,
 * Markdown tables and PNG plots ({@link BenchmarkReport}).
 *
 * <p>Every average's start is given in iterations ({@code startingAfter(k)}: the first snapshot is iteration
 * {@code k + 1}, 1-based), computed here from the run's length, so the runner depends on no preset's start.
 *
 * <pre>
 * mvn -q -pl examples -am compile exec:java -Dexec.mainClass=io.github.dl4jema.examples.RotatedDigitsBenchmark \
 *     -Dexec.args="--seeds 10 --epochs 40 --output docs/rotated-digits/mlp"
 * </pre>
 */
@Command(name = "RotatedDigitsBenchmark", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Leave-one-domain-out benchmark of weight averaging on the rotated UCI digits.")
public final class RotatedDigitsBenchmark implements Callable<Integer> {

    /** Default number of seeds (trials) per held-out domain. */
    public static final int DEFAULT_SEEDS = 10;
    /** Default number of epochs per training run. */
    public static final int DEFAULT_EPOCHS = 40;
    /** Default decay of the exponential average, per iteration (38 iterations per epoch here). */
    public static final double DEFAULT_EMA_DECAY = 0.99;
    /** Seeds used by {@code --quick}. */
    public static final int QUICK_SEEDS = 2;
    /** Epochs used by {@code --quick}. */
    public static final int QUICK_EPOCHS = 5;
    /**
     * Iterations trained before the paper's simple moving average takes its first snapshot: 98, so that it averages
     * the weights after iterations 99..N (1-based), as the reference {@code MovingAvg} with {@code sma_start_iter =
     * 100} and its 1-based {@code global_iter} does (it copies the weights while {@code global_iter < 100}, the copy
     * at iteration 99 being its first term).
     */
    public static final long EARLY_SMA_START = 98;
    /**
     * The seed of the training/validation split, the same for every seed of a held-out domain: seeds vary the
     * initialisation and the minibatch order, as the members of the paper's ensembles do, and the ensemble of their
     * averages keeps a validation set that none of its members saw.
     */
    public static final long SPLIT_SEED = 12345;
    /** Minibatch size. */
    public static final int BATCH = 32;

    /** The methods of one shadow run, each with the ensemble over seeds built from its models. */
    private static final List<Method> SHADOW_METHODS = List.of(Method.ERM, Method.SMA, Method.SMA_MID_RUN, Method.EMA);

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Option(names = "--model", paramLabel = "MODEL",
            description = "Network: mlp (64-128-10 perceptron) or cnn (small convolutional network) "
                    + "(default: ${DEFAULT-VALUE}).")
    private BenchmarkModel model = BenchmarkModel.MLP;

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
            description = "A smoke run: " + QUICK_SEEDS + " seeds and " + QUICK_EPOCHS
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
     * @return the exit status: 0 on success, 2 for bad options
     */
    public static int run(String... args) {
        return new CommandLine(new RotatedDigitsBenchmark()).setCaseInsensitiveEnumValuesAllowed(true).execute(args);
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
        if (runSeeds < 1 || runEpochs < 3) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--seeds should be >= 1 and --epochs >= 3, "
                    + "so that the last half of training has an epoch-to-epoch change (got: " + runSeeds + " and "
                    + runEpochs + ")");
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
        RotatedDigits data = RotatedDigits.of(Digits.load());
        Map<Integer, RotatedDigits.Split> splits = new TreeMap<>();
        Map<Integer, Plan> plans = new TreeMap<>();
        for (int domain : domains) {
            splits.put(domain, data.split(domain, SPLIT_SEED));
            plans.put(domain, Plan.of(model, splits.get(domain), runEpochs, emaDecay));
        }
        Plan plan = plans.get(domains[0]);
        if (plans.values().stream().distinct().count() > 1) {
            throw new IllegalStateException("the held-out domains give training sets of different numbers of "
                    + "minibatches " + plans + "; the report describes one schedule");
        }
        System.out.printf("Rotated digits: model %s, held-out domains %s degrees, %d seeds, %d epochs of %d "
                        + "iterations, EMA decay %s, output %s%n", model.description(),
                Arrays.toString(Arrays.stream(domains).map(d -> RotatedDigits.ANGLES[d]).toArray()), runSeeds,
                runEpochs, plan.iterationsPerEpoch(), emaDecay, output.toAbsolutePath());
        BenchmarkReport report = new BenchmarkReport(plan, runSeeds);
        int total = domains.length * runSeeds;
        int done = 0;
        for (int domain : domains) {
            int angle = RotatedDigits.ANGLES[domain];
            RotatedDigits.Split split = splits.get(domain);
            Map<Method, List<INDArray[]>> members = new EnumMap<>(Method.class);
            for (int seed = 1; seed <= runSeeds; seed++) {
                long runStart = System.nanoTime();
                ShadowRun shadows = trainWithShadows(plan, split, seed);
                Curve seedRule = trainWithSeedRule(plan, split, seed);
                for (Map.Entry<Method, Curve> curve : shadows.curves().entrySet()) {
                    report.add(angle, curve.getKey(), seed, curve.getValue());
                }
                report.add(angle, Method.SEED_WRITE_BACK, seed, seedRule);
                shadows.params().forEach((method, params) -> members.computeIfAbsent(method, m -> new ArrayList<>())
                        .add(params));
                done++;
                double elapsed = (System.nanoTime() - started) / 1e9;
                System.out.printf("[%d/%d] held out %2d°, seed %d: last-epoch OOD accuracy ERM %.1f%%, SMA from 99 "
                                + "%.1f%%, SMA from mid-run %.1f%%, EMA %.1f%%, seed rule %.1f%% (%.1f s; about "
                                + "%.0f s to go)%n",
                        done, total, angle, seed, 100 * last(shadows.curves().get(Method.ERM)),
                        100 * last(shadows.curves().get(Method.SMA)),
                        100 * last(shadows.curves().get(Method.SMA_MID_RUN)),
                        100 * last(shadows.curves().get(Method.EMA)), 100 * last(seedRule),
                        (System.nanoTime() - runStart) / 1e9, elapsed / done * (total - done));
            }
            long ensembleStart = System.nanoTime();
            StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "      held out %2d°, ensembles of %d, "
                    + "OOD accuracy at the selected epoch:", angle, runSeeds));
            for (Method ensemble : Method.values()) {
                if (ensemble.isEnsemble()) {
                    Curve curve = ensembleCurve(model, members.get(ensemble.member()), split, runEpochs);
                    report.add(angle, ensemble, -1, curve);
                    line.append(String.format(Locale.ROOT, " %s %.1f%% (epoch %d);", ensemble.label(),
                            100 * curve.selectedOod(), curve.selectedEpoch()));
                }
            }
            System.out.printf("%s (%.1f s)%n", line, (System.nanoTime() - ensembleStart) / 1e9);
        }
        Files.createDirectories(output);
        report.write(output);
        System.out.println();
        System.out.println(report.markdownTables());
        System.out.printf("Wrote %s in %.1f s.%n", output.toAbsolutePath(), (System.nanoTime() - started) / 1e9);
        return 0;
    }

    /**
     * One training run carrying three shadow averages, each started explicitly in iterations: the paper's simple
     * moving average from iteration 99 ({@code startingAfter(}{@value #EARLY_SMA_START}{@code )}), the same from
     * mid-run ({@code startingAfter(N / 2)}), and an exponential average from iteration 1. After each epoch it scores
     * the training weights, then each average swapped in, on validation and OOD data, and keeps copies of the
     * training weights and of each average for the ensembles.
     *
     * @param plan  the model, epochs, schedule and EMA decay
     * @param split the data
     * @param seed  initialisation and shuffling seed
     * @return the curves of {@link Method#ERM}, {@link Method#SMA}, {@link Method#SMA_MID_RUN} and
     *         {@link Method#EMA}, their parameters after each epoch, the trained network and its listeners
     * @throws IllegalArgumentException if the split's number of minibatches per epoch differs from the plan's
     */
    public static ShadowRun trainWithShadows(Plan plan, RotatedDigits.Split split, long seed) {
        if (iterationsPerEpoch(split) != plan.iterationsPerEpoch()) {
            throw new IllegalArgumentException("the plan counts " + plan.iterationsPerEpoch() + " iterations per "
                    + "epoch but this split has " + iterationsPerEpoch(split) + "; make the plan with Plan.of(split)");
        }
        MultiLayerNetwork net = new MultiLayerNetwork(plan.model().configuration(seed));
        net.init();
        EmaListener sma = EmaListener.builder(AveragingRule.simple()).everyIteration()
                .startingAfter(plan.smaStart()).shadow().build();
        EmaListener smaMidRun = EmaListener.builder(AveragingRule.simple()).name("simple-mid-run").everyIteration()
                .startingAfter(plan.midRunStart()).shadow().build();
        EmaListener ema = EmaListener.builder(AveragingRule.exponential(plan.emaDecay())).everyIteration().shadow()
                .build();
        net.addListeners(sma, smaMidRun, ema);
        Map<Method, EmaListener> averages = new EnumMap<>(Map.of(Method.SMA, sma, Method.SMA_MID_RUN, smaMidRun,
                Method.EMA, ema));
        int epochs = plan.epochs();
        Map<Method, double[][]> scores = new EnumMap<>(Method.class);
        Map<Method, INDArray[]> params = new EnumMap<>(Method.class);
        for (Method method : SHADOW_METHODS) {
            scores.put(method, new double[2][epochs]);
            params.put(method, new INDArray[epochs]);
        }
        for (int e = 0; e < epochs; e++) {
            net.fit(Digits.iterator(split.train(), BATCH, seed * 100_003 + e));
            score(net, split, scores.get(Method.ERM), e);
            params.get(Method.ERM)[e] = net.params().dup();
            for (Map.Entry<Method, EmaListener> average : averages.entrySet()) {
                try (AverageSwap ignored = average.getValue().swapIn(net)) {
                    score(net, split, scores.get(average.getKey()), e);
                }
                params.get(average.getKey())[e] = average.getValue().averagedParams(net);
            }
        }
        Map<Method, Curve> curves = new EnumMap<>(Method.class);
        scores.forEach((method, s) -> curves.put(method, new Curve(s[0], s[1])));
        return new ShadowRun(curves, params, net, sma, smaMidRun, ema);
    }

    /**
     * One training run with the seed rule written back into the network at every epoch end; the network is scored
     * after each epoch, when it holds the average.
     *
     * @param plan  the model and epochs
     * @param split the data
     * @param seed  initialisation and shuffling seed (the same as the shadow run's, so both start alike)
     * @return the curve of {@link Method#SEED_WRITE_BACK}
     */
    public static Curve trainWithSeedRule(Plan plan, RotatedDigits.Split split, long seed) {
        MultiLayerNetwork net = new MultiLayerNetwork(plan.model().configuration(seed));
        net.init();
        net.addListeners(EmaListener.builder(AveragingRule.seed()).everyEpoch().writeBack().build());
        double[][] scores = new double[2][plan.epochs()];
        for (int e = 0; e < plan.epochs(); e++) {
            net.fit(Digits.iterator(split.train(), BATCH, seed * 100_003 + e));
            score(net, split, scores, e);
        }
        return new Curve(scores[0], scores[1]);
    }

    /**
     * An ensemble over epochs: at each epoch, the {@link EnsembleOfAverages} (logits averaged) of the seeds' models
     * at that epoch. All seeds share one data split, so the ensemble has a validation set that none of its members
     * trained on.
     *
     * @param model        the members' network
     * @param memberParams per seed, the member's parameters after each epoch
     * @param split        the data split all seeds trained on
     * @param epochs       the number of epochs
     * @return the ensemble's curve
     */
    public static Curve ensembleCurve(BenchmarkModel model, List<INDArray[]> memberParams, RotatedDigits.Split split,
                                      int epochs) {
        DataSet validation = split.validation();
        DataSet test = split.test();
        List<MultiLayerNetwork> members = new ArrayList<>();
        for (int s = 0; s < memberParams.size(); s++) {
            MultiLayerNetwork member = new MultiLayerNetwork(model.configuration(s + 1));
            member.init();
            members.add(member);
        }
        double[][] scores = new double[2][epochs];
        for (int e = 0; e < epochs; e++) {
            for (int s = 0; s < members.size(); s++) {
                members.get(s).setParams(memberParams.get(s)[e]);
            }
            EnsembleOfAverages ensemble = EnsembleOfAverages.builder().members(members).build();
            scores[0][e] = accuracy(ensemble.output(validation.getFeatures()), validation.getLabels());
            scores[1][e] = accuracy(ensemble.output(test.getFeatures()), test.getLabels());
        }
        return new Curve(scores[0], scores[1]);
    }

    /**
     * The number of minibatches (iterations) per epoch on a split's training data.
     *
     * @param split the data
     * @return {@code ceil(training examples / BATCH)}
     */
    public static long iterationsPerEpoch(RotatedDigits.Split split) {
        return (split.train().numExamples() + BATCH - 1) / BATCH;
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
     * What one training run does, in iterations: the model, its length and where each average starts. Iterations are
     * 1-based; {@code startingAfter(k)} takes its first snapshot at iteration {@code k + 1}.
     *
     * @param model              the network
     * @param epochs             epochs per run
     * @param iterationsPerEpoch minibatches per epoch
     * @param emaDecay           the exponential average's decay per iteration
     */
    public record Plan(BenchmarkModel model, int epochs, long iterationsPerEpoch, double emaDecay) {

        /**
         * The plan for training on a split.
         *
         * @param model    the network
         * @param split    the data, which sets the iterations per epoch
         * @param epochs   epochs per run
         * @param emaDecay the exponential average's decay
         * @return the plan
         */
        public static Plan of(BenchmarkModel model, RotatedDigits.Split split, int epochs, double emaDecay) {
            return new Plan(model, epochs, RotatedDigitsBenchmark.iterationsPerEpoch(split), emaDecay);
        }

        /** @return N, the iterations of the whole run */
        public long totalIterations() {
            return epochs * iterationsPerEpoch;
        }

        /** @return the iterations before the paper's SMA starts: {@value #EARLY_SMA_START} (it averages 99..N) */
        public long smaStart() {
            return EARLY_SMA_START;
        }

        /** @return the iterations before the mid-run SMA starts: {@code floor(N / 2)} (it averages N/2 + 1..N) */
        public long midRunStart() {
            return totalIterations() / 2;
        }
    }

    /**
     * The outcome of {@link #trainWithShadows}: curves, parameters, and the trained network with its listeners for
     * inspection.
     *
     * @param curves    the curves of ERM, SMA, SMA from mid-run and EMA
     * @param params    for the same methods, the parameters after each epoch (index {@code e - 1} for epoch
     *                  {@code e}): the training weights for ERM, the averages for the others
     * @param network   the trained network (holding its own weights, not an average)
     * @param sma       the simple moving average listener (from iteration 99)
     * @param smaMidRun the simple moving average listener started at mid-run
     * @param ema       the exponential average listener
     */
    public record ShadowRun(Map<Method, Curve> curves, Map<Method, INDArray[]> params, MultiLayerNetwork network,
                            EmaListener sma, EmaListener smaMidRun, EmaListener ema) {
    }
}
