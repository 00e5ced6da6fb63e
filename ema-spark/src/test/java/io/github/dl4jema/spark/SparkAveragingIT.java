package io.github.dl4jema.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jema.AveragingRule;
import io.github.dl4jema.EmaListener;
import java.io.Serial;
import java.io.Serializable;
import java.lang.reflect.Proxy;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkException;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.spark.api.TrainingMaster;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * {@link SparkAveraging} on a real Spark context ({@code local[2]}), for {@code SparkDl4jMultiLayer} and
 * {@code SparkComputationGraph}, in shadow and write-back mode.
 *
 * <p>A recording listener rides the Spark workers ({@code sparkNet.setListeners}: every task trains with its own
 * deserialized copy) and writes down, per worker, the parameters it started from (at its first gradient, before any
 * update) and the parameters it ended with (after its last update). From those records alone the test recomputes what
 * the driver must hold after each epoch (the mean of the workers, one averaging round per epoch here), applies the
 * averaging rule to those driver snapshots itself, and checks what the workers of the next epoch started from: the
 * driver's parameters in shadow mode, the average in write-back mode.
 */
class SparkAveragingIT {

    private static final int EPOCHS = 3;
    private static final int WORKERS = 2;
    private static final int BATCH_PER_WORKER = 8;
    private static final int AVERAGING_FREQUENCY = 2;
    /** One averaging round per epoch: every worker fits {@link #AVERAGING_FREQUENCY} minibatches, then they average. */
    private static final int EXAMPLES = WORKERS * BATCH_PER_WORKER * AVERAGING_FREQUENCY;
    private static final double TOLERANCE = 1e-12;

    private static JavaSparkContext sc;
    private static JavaRDD<DataSet> data;

    @TempDir
    Path exportDirectory;

    @BeforeAll
    static void startSpark() {
        sc = new JavaSparkContext(new SparkConf().setMaster("local[" + WORKERS + "]").setAppName("SparkAveragingIT")
                .set("spark.ui.enabled", "false"));
        Random random = new Random(5);
        List<DataSet> examples = new ArrayList<>();
        for (int i = 0; i < EXAMPLES; i++) {
            double[] x = new double[4];
            double score = 0;
            for (int j = 0; j < 4; j++) {
                x[j] = random.nextGaussian();
                score += x[j] * (j - 1.5);
            }
            double[] y = new double[3];
            y[score < -1 ? 0 : score < 1 ? 1 : 2] = 1;
            examples.add(new DataSet(Nd4j.create(new double[][] {x}), Nd4j.create(new double[][] {y})));
        }
        data = sc.parallelize(examples, WORKERS);
    }

    @AfterAll
    static void stopSpark() {
        sc.close();
    }

    @BeforeEach
    void forgetWorkers() {
        WorkerRecorder.WORKERS.clear();
    }

    enum Kind { MULTI_LAYER, GRAPH }

    static Stream<Arguments> kindsAndModes() {
        return Stream.of(Arguments.of(Kind.MULTI_LAYER, false), Arguments.of(Kind.MULTI_LAYER, true),
                Arguments.of(Kind.GRAPH, false), Arguments.of(Kind.GRAPH, true));
    }

    @ParameterizedTest(name = "{0}, writeBack={1}")
    @MethodSource("kindsAndModes")
    void eachEpochAveragesTheDriverAndTheNextEpochStartsFromWhatTheDriverHolds(Kind kind, boolean writeBack) {
        Model driver = kind == Kind.MULTI_LAYER ? multiLayer() : graph();
        double[] initial = driver.params().toDoubleVector();
        List<EmaListener> averagers = writeBack ? List.of(EmaListener.seedRule().build())
                : List.of(EmaListener.builder(AveragingRule.simple()).shadow().build(),
                        EmaListener.builder(AveragingRule.exponential(0.5)).shadow().build());
        EmaListener[] given = averagers.toArray(new EmaListener[0]);

        Model returned;
        if (kind == Kind.MULTI_LAYER) {
            SparkDl4jMultiLayer sparkNet = new SparkDl4jMultiLayer(sc, (MultiLayerNetwork) driver, trainingMaster());
            sparkNet.setListeners(new WorkerRecorder());
            returned = SparkAveraging.fit(sparkNet, data, EPOCHS, given);
        } else {
            SparkComputationGraph sparkGraph = new SparkComputationGraph(sc, (ComputationGraph) driver,
                    trainingMaster());
            sparkGraph.setListeners(new WorkerRecorder());
            returned = SparkAveraging.fit(sparkGraph, data, EPOCHS, given);
        }
        assertSame(driver, returned, "the driver's network");

        List<Worker> workers = new ArrayList<>(WorkerRecorder.WORKERS);
        assertEquals(EPOCHS * WORKERS, workers.size(), "one task per worker per epoch");
        for (Worker worker : workers) {
            assertEquals(AVERAGING_FREQUENCY, worker.iterations, "minibatches per worker and epoch");
        }

        // what the driver holds after epoch k: the mean of that epoch's workers (verified for the last epoch below,
        // and in shadow mode for the others by what the next epoch's workers start from)
        List<double[]> snapshots = new ArrayList<>();
        for (int k = 0; k < EPOCHS; k++) {
            snapshots.add(mean(workers.get(k * WORKERS).last, workers.get(k * WORKERS + 1).last));
        }
        for (int k = 0; k < EPOCHS; k++) {
            double[] expectedStart = k == 0 ? initial
                    : writeBack ? seedAverage(snapshots.subList(0, k)) : snapshots.get(k - 1);
            for (int w = 0; w < WORKERS; w++) {
                Worker worker = workers.get(k * WORKERS + w);
                assertArrayEquals(expectedStart, worker.start, TOLERANCE,
                        "epoch " + (k + 1) + ", worker " + w + " starts from "
                                + (k == 0 ? "the initial weights" : writeBack ? "the average" : "the driver's mean"));
                assertFalse(Arrays.equals(worker.start, worker.last), "the worker trained");
            }
        }

        double[] driverNow = driver.params().toDoubleVector();
        if (writeBack) {
            double[] expected = seedAverage(snapshots);
            assertFalse(Arrays.equals(expected, snapshots.get(EPOCHS - 1)), "the average is not the last mean");
            assertArrayEquals(expected, driverNow, TOLERANCE, "the driver holds the average");
            assertArrayEquals(expected, averagers.get(0).averagedParams(driver).toDoubleVector(), TOLERANCE);
        } else {
            assertArrayEquals(snapshots.get(EPOCHS - 1), driverNow, TOLERANCE, "the driver holds the workers' mean");
            assertArrayEquals(simpleAverage(snapshots), averagers.get(0).averagedParams(driver).toDoubleVector(),
                    TOLERANCE, "simple average of the driver after each epoch");
            assertArrayEquals(halfDecayAverage(snapshots), averagers.get(1).averagedParams(driver).toDoubleVector(),
                    TOLERANCE, "exponential average (decay 0.5) of the driver after each epoch");
        }
        for (EmaListener averager : averagers) {
            assertEquals(EPOCHS, averager.snapshotCount());
        }
    }

    @Test
    void anAveragerHandedToSetListenersFailsTheSparkJobWithTheRecipe() {
        MultiLayerNetwork driver = multiLayer();
        double[] before = driver.params().toDoubleVector();
        SparkDl4jMultiLayer sparkNet = new SparkDl4jMultiLayer(sc, driver, trainingMaster());
        EmaListener ema = EmaListener.exponential(0.9).build();
        sparkNet.setListeners(ema);

        SparkException e = assertThrows(SparkException.class, () -> sparkNet.fit(data));

        assertTrue(e.getMessage().contains("a serialized copy of EmaListener"), e.getMessage());
        assertTrue(e.getMessage().contains("Spark's setListeners serializes listeners to the workers"), e.getMessage());
        assertTrue(e.getMessage().contains("call ema.update(net) on the master (driver) network"), e.getMessage());
        assertEquals(0, ema.snapshotCount(), "no average of replicas");
        assertArrayEquals(before, driver.params().toDoubleVector(), "the failed job did not change the driver");
    }

    @Test
    void badArgumentsAreRefusedBeforeAnythingTrains() {
        MultiLayerNetwork driver = multiLayer();
        double[] before = driver.params().toDoubleVector();
        SparkDl4jMultiLayer sparkNet = new SparkDl4jMultiLayer(sc, driver, trainingMaster());
        EmaListener ema = EmaListener.exponential(0.9).build();

        assertMessage("sparkNet should be a SparkDl4jMultiLayer (got: null)",
                () -> SparkAveraging.fit((SparkDl4jMultiLayer) null, data, 1, ema));
        assertMessage("data should be an RDD (got: null)", () -> SparkAveraging.fit(sparkNet, null, 1, ema));
        assertMessage("epochs should be >= 1 (got: 0)", () -> SparkAveraging.fit(sparkNet, data, 0, ema));
        assertMessage("averagers should hold at least one EmaListener to update after each epoch (got: none)",
                () -> SparkAveraging.fit(sparkNet, data, 1));
        assertMessage("averagers should be distinct EmaListeners: each is updated once per epoch (got: null)",
                () -> SparkAveraging.fit(sparkNet, data, 1, ema, null));
        assertMessage("(got: the same averager twice, " + ema + ")", () -> SparkAveraging.fit(sparkNet, data, 1, ema,
                ema));

        TrainingMaster<?, ?> other = (TrainingMaster<?, ?>) Proxy.newProxyInstance(getClass().getClassLoader(),
                new Class<?>[] {TrainingMaster.class}, (proxy, method, args) -> {
                    throw new UnsupportedOperationException(method.getName());
                });
        SparkComputationGraph sparkGraph = new SparkComputationGraph(sc, graph(), other);
        assertMessage("should train with a ParameterAveragingTrainingMaster, whose driver network holds the workers' "
                + "mean after each fit: that is what the averagers are updated from (got: jdk.proxy",
                () -> SparkAveraging.fit(sparkGraph, data, 1, ema));

        assertEquals(0, ema.snapshotCount());
        assertArrayEquals(before, driver.params().toDoubleVector(), "nothing trained");
    }

    private static void assertMessage(String expected, Runnable call) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    // ---------------------------------------------------------------- the rules, recomputed here

    private static double[] mean(double[] a, double[] b) {
        double[] mean = new double[a.length];
        for (int j = 0; j < a.length; j++) {
            mean[j] = (a[j] + b[j]) / 2;
        }
        return mean;
    }

    /** The seed rule's closed form after k snapshots: (2θ₁ + θ₂ + … + θₖ)/(k+1). */
    private static double[] seedAverage(List<double[]> snapshots) {
        double[] sum = snapshots.get(0).clone();
        for (double[] snapshot : snapshots) {
            for (int j = 0; j < sum.length; j++) {
                sum[j] += snapshot[j];
            }
        }
        for (int j = 0; j < sum.length; j++) {
            sum[j] /= snapshots.size() + 1;
        }
        return sum;
    }

    private static double[] simpleAverage(List<double[]> snapshots) {
        double[] sum = new double[snapshots.get(0).length];
        for (double[] snapshot : snapshots) {
            for (int j = 0; j < sum.length; j++) {
                sum[j] += snapshot[j];
            }
        }
        for (int j = 0; j < sum.length; j++) {
            sum[j] /= snapshots.size();
        }
        return sum;
    }

    /** θ̄₁ = θ₁, θ̄ₖ = 0.5·θ̄ₖ₋₁ + 0.5·θₖ: with three snapshots θ₁/4 + θ₂/4 + θ₃/2. */
    private static double[] halfDecayAverage(List<double[]> snapshots) {
        double[] average = snapshots.get(0).clone();
        for (double[] snapshot : snapshots.subList(1, snapshots.size())) {
            for (int j = 0; j < average.length; j++) {
                average[j] = 0.5 * average[j] + 0.5 * snapshot[j];
            }
        }
        return average;
    }

    // ---------------------------------------------------------------- networks and Spark

    private ParameterAveragingTrainingMaster trainingMaster() {
        return new ParameterAveragingTrainingMaster.Builder(1).batchSizePerWorker(BATCH_PER_WORKER)
                .averagingFrequency(AVERAGING_FREQUENCY).workerPrefetchNumBatches(0).rngSeed(7)
                .exportDirectory(exportDirectory.toUri().toString()).build();
    }

    private static NeuralNetConfiguration.Builder base() {
        return new NeuralNetConfiguration.Builder().seed(3).dataType(DataType.DOUBLE).updater(new Adam(0.05));
    }

    private static DenseLayer hidden() {
        return new DenseLayer.Builder().nIn(4).nOut(12).activation(Activation.TANH).build();
    }

    private static OutputLayer output() {
        return new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(12).nOut(3)
                .activation(Activation.SOFTMAX).build();
    }

    private static MultiLayerNetwork multiLayer() {
        MultiLayerNetwork net = new MultiLayerNetwork(base().list().layer(hidden()).layer(output()).build());
        net.init();
        return net;
    }

    private static ComputationGraph graph() {
        ComputationGraph graph = new ComputationGraph(base().graphBuilder().addInputs("in")
                .addLayer("hidden", hidden(), "in").addLayer("out", output(), "hidden").setOutputs("out").build());
        graph.init();
        return graph;
    }

    /** What one Spark worker started from and ended with in one task. */
    static final class Worker {
        final double[] start;
        double[] last;
        int iterations;

        Worker(double[] start) {
            this.start = start;
        }
    }

    /**
     * Rides the workers: Spark ships a deserialized copy to every task, so each copy sees exactly one worker's
     * training. In {@code local[2]} the executors share this JVM, so the copies report to a static list.
     */
    static final class WorkerRecorder extends BaseTrainingListener implements Serializable {

        @Serial
        private static final long serialVersionUID = 1L;

        static final List<Worker> WORKERS = Collections.synchronizedList(new ArrayList<>());

        private transient Worker worker;

        @Override
        public void onGradientCalculation(Model model) {
            if (worker == null) {
                worker = new Worker(model.params().toDoubleVector());
                WORKERS.add(worker);
            }
        }

        @Override
        public void iterationDone(Model model, int iteration, int epoch) {
            worker.last = model.params().toDoubleVector();
            worker.iterations++;
        }
    }
}
