package io.github.dl4jema.examples;

import io.github.dl4jema.EmaListener;
import io.github.dl4jema.ui.AverageStatsListener;
import java.io.File;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.concurrent.Callable;
import org.deeplearning4j.config.DL4JSystemProperties;
import org.deeplearning4j.core.storage.Persistable;
import org.deeplearning4j.core.storage.StatsStorage;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.ui.api.UIServer;
import org.deeplearning4j.ui.model.stats.StatsListener;
import org.deeplearning4j.ui.model.stats.api.StatsReport;
import org.deeplearning4j.ui.model.storage.FileStatsStorage;
import org.deeplearning4j.ui.model.storage.InMemoryStatsStorage;
import org.nd4j.linalg.dataset.DataSet;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The average in DL4J's training UI: {@code mvn -q -pl examples -am compile exec:java
 * -Dexec.mainClass=io.github.dl4jema.examples.TrainingUiExample}, then open the printed address.
 *
 * <p>Trains the 64-64-10 perceptron of {@link QuickStart} on the shipped UCI digits with an exponential average
 * (decay 0.99 per iteration) and watches it in DL4J's {@code UIServer}, set up exactly as without an average
 * ({@code uiServer.attach(storage)}, {@code new StatsListener(storage, ...)}); an {@link AverageStatsListener} adds
 * the average's sessions to the same storage. The UI's session selector (top right) then lists the training session,
 * the average's minibatch scores, and the held-out accuracy of the average and of the training weights at each epoch
 * end. When training ends the runner prints those accuracies as stored, and keeps serving the UI for
 * {@code --serve-seconds} (so that it can be looked at, or screenshotted).
 */
@Command(name = "TrainingUiExample", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Trains on the UCI digits with an exponential average and shows both in DL4J's training UI.")
public final class TrainingUiExample implements Callable<Integer> {

    private static final long SEED = 42;
    private static final int BATCH = 32;
    private static final double DECAY = 0.99;

    @CommandLine.Spec
    private CommandLine.Model.CommandSpec spec;

    @Option(names = "--epochs", paramLabel = "N", description = "Training epochs (default: ${DEFAULT-VALUE}).")
    private int epochs = 15;

    @Option(names = "--serve-seconds", paramLabel = "S",
            description = "Seconds to keep serving the UI after training; 0 stops at once (default: ${DEFAULT-VALUE}).")
    private int serveSeconds = 600;

    @Option(names = "--port", paramLabel = "PORT", description = "The UI's port (default: ${DEFAULT-VALUE}).")
    private int port = 9000;

    @Option(names = "--stats-file", paramLabel = "FILE",
            description = "Keep the stats in this file (FileStatsStorage) instead of in memory, to reopen later.")
    private File statsFile;

    /**
     * Runs the example; exits with a non-zero status on bad options.
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
     * Runs the example without exiting the JVM.
     *
     * @param args the options, as for {@link #main(String[])}
     * @return the exit status: 0 on success, 2 for bad options
     */
    public static int run(String... args) {
        return new CommandLine(new TrainingUiExample()).execute(args);
    }

    /**
     * Trains, reports and serves.
     *
     * @return 0 on success
     * @throws Exception if the UI server cannot start or the wait is interrupted
     */
    @Override
    public Integer call() throws Exception {
        if (epochs < 1 || serveSeconds < 0 || port < 1 || port > 65535) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--epochs should be >= 1, --serve-seconds "
                    + ">= 0 and --port in 1..65535 (got: " + epochs + ", " + serveSeconds + ", " + port + ")");
        }
        NativeThreads.useOneUnlessConfigured();
        Digits.Split split = Digits.load().split(SEED, 0.8);
        DataSet train = split.train();

        // The UI, set up as DL4J's examples do: a storage, the server attached to it, a StatsListener.
        StatsStorage storage = statsFile == null ? new InMemoryStatsStorage() : new FileStatsStorage(statsFile);
        System.setProperty(DL4JSystemProperties.UI_SERVER_PORT_PROPERTY, String.valueOf(port));
        UIServer uiServer = UIServer.getInstance();
        uiServer.attach(storage);
        String session = "digits-" + LocalTime.now().format(DateTimeFormatter.ofPattern("HHmmss"));
        StatsListener stats = new StatsListener(storage, 5, session);

        // The average, and the one listener that shows it in the same UI.
        EmaListener ema = EmaListener.exponential(DECAY).build();
        AverageStatsListener averageStats = AverageStatsListener.builder(ema, stats)
                .evaluateOn(Digits.iterator(split.test(), 256, -1))
                .evaluateTrainingWeights(true)
                .build();

        MultiLayerNetwork net = new MultiLayerNetwork(QuickStart.network());
        net.init();
        net.setListeners(stats, ema, averageStats);
        System.out.printf("DL4J training UI: %s/train/overview%n", uiServer.getAddress());
        System.out.printf("Sessions (selector at the top right of the UI):%n"
                        + "  %-46s training weights: loss of each minibatch (DL4J's StatsListener)%n"
                        + "  %-46s exponential average %.2f: loss of the same minibatches%n"
                        + "  %-46s held-out accuracy of the average at each epoch end%n"
                        + "  %-46s held-out accuracy of the training weights at each epoch end%n%n",
                session, averageStats.averageSessionId(), DECAY, averageStats.averageMetricSessionId(),
                averageStats.trainingMetricSessionId());

        long started = System.nanoTime();
        for (int epoch = 1; epoch <= epochs; epoch++) {
            net.fit(Digits.iterator(train, BATCH, SEED * 1000 + epoch));
        }
        System.out.printf("Trained %d epochs (%d iterations) in %.1f s.%n%n", epochs, net.getIterationCount(),
                (System.nanoTime() - started) / 1e9);
        printStoredAccuracies(storage, stats.getWorkerID(), averageStats);

        if (serveSeconds > 0) {
            System.out.printf("%nServing %s/train/overview for %d s (Ctrl+C stops).%n", uiServer.getAddress(),
                    serveSeconds);
            Thread.sleep(serveSeconds * 1000L);
        }
        uiServer.stop();
        storage.close();
        return 0;
    }

    /** The held-out accuracies as the UI reads them: from the storage. */
    private static void printStoredAccuracies(StatsStorage storage, String worker, AverageStatsListener listener) {
        List<Persistable> average = storage.getAllUpdatesAfter(listener.averageMetricSessionId(),
                StatsListener.TYPE_ID, worker, 0);
        List<Persistable> training = storage.getAllUpdatesAfter(listener.trainingMetricSessionId(),
                StatsListener.TYPE_ID, worker, 0);
        System.out.printf("Held-out accuracy at each epoch end, as stored for the UI:%n%5s  %9s  %16s  %18s%n",
                "epoch", "iteration", "training weights", "exponential 0.99");
        for (int i = 0; i < average.size() && i < training.size(); i++) {
            StatsReport a = (StatsReport) average.get(i);
            StatsReport t = (StatsReport) training.get(i);
            System.out.printf("%5d  %9d  %15.2f%%  %17.2f%%%n", i + 1, a.getIterationCount(), 100 * t.getScore(),
                    100 * a.getScore());
        }
    }
}
