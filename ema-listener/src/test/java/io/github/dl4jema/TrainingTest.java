package io.github.dl4jema;

import static io.github.dl4jema.Snapshots.assertClose;
import static io.github.dl4jema.Snapshots.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** The listener on real small networks trained by DL4J's own fit loop. */
class TrainingTest {

    private static final int EPOCHS = 4;

    private static Model network(boolean graph, DataType type) {
        return graph ? Networks.graph(type, 7) : Networks.mlp(type, true, 7);
    }

    private static void fit(Model net, int epochs, DataType type) {
        if (net instanceof MultiLayerNetwork mln) {
            mln.fit(Networks.data(type), epochs);
        } else {
            ((ComputationGraph) net).fit(Networks.data(type), epochs);
        }
    }

    private static void addListeners(Model net, org.deeplearning4j.optimize.api.TrainingListener... listeners) {
        if (net instanceof MultiLayerNetwork mln) {
            mln.addListeners(listeners);
        } else {
            ((ComputationGraph) net).addListeners(listeners);
        }
    }

    /** The seed recursion θ̄₁ = θ₁, θ̄ₑ = e/(e+1)·θ̄ₑ₋₁ + 1/(e+1)·θₑ, in double precision. */
    private static double[] seedAverage(double[] previous, double[] theta, int e) {
        if (previous == null) {
            return theta.clone();
        }
        double[] next = new double[theta.length];
        for (int j = 0; j < theta.length; j++) {
            next[j] = (double) e / (e + 1) * previous[j] + 1.0 / (e + 1) * theta[j];
        }
        return next;
    }

    @ParameterizedTest(name = "graph={0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void shadowListenersLeaveTrainingExactlyAsWithoutThem(boolean graph) {
        Model plain = network(graph, DataType.FLOAT);
        fit(plain, EPOCHS, DataType.FLOAT);

        Model averaged = network(graph, DataType.FLOAT);
        EmaListener sma = EmaListener.builder(AveragingRule.simple()).everyIteration().build();
        EmaListener ema = EmaListener.exponential(0.9).build();
        addListeners(averaged, sma, ema);
        fit(averaged, EPOCHS, DataType.FLOAT);

        assertArrayEquals(values(plain.params()), values(averaged.params()),
                "shadow averaging must not change a single training weight");
        assertEquals(EPOCHS * 4, sma.snapshotCount());
        assertEquals(EPOCHS * 4, ema.snapshotCount());
        assertFalse(Arrays.equals(values(sma.averagedParams(averaged)), values(ema.averagedParams(averaged))),
                "two listeners on one network keep two averages");
    }

    @ParameterizedTest(name = "graph={0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void writeBackReplacesWeightsWithTheSeedAverageAfterEachEpoch(boolean graph) {
        Model net = network(graph, DataType.DOUBLE);
        Recorder before = new Recorder();
        Recorder after = new Recorder();
        EmaListener seed = EmaListener.seedRule().build();
        addListeners(net, before, seed, after);
        fit(net, EPOCHS, DataType.DOUBLE);

        double[] expected = null;
        for (int e = 1; e <= EPOCHS; e++) {
            expected = seedAverage(expected, before.epochEnds.get(e - 1), e);
            assertArrayEquals(expected, after.epochEnds.get(e - 1), 1e-12, "weights after epoch " + e);
        }
        assertArrayEquals(values(seed.averagedParams(net)), values(net.params()));
        assertEquals(EPOCHS, seed.lastStep());
    }

    @Test
    void perIterationUpdatesStartAfterTheOffset() {
        MultiLayerNetwork net = Networks.mlp(DataType.DOUBLE, false, 3);
        Recorder recorder = new Recorder();
        EmaListener sma = EmaListener.builder(AveragingRule.simple()).everyNIterations(2).startingAfter(3).build();
        net.addListeners(recorder, sma);
        net.fit(Networks.data(DataType.DOUBLE), 3);   // 12 iterations: snapshots after iterations 5, 7, 9, 11

        assertEquals(4, sma.snapshotCount());
        assertEquals(12, sma.lastStep());
        int n = (int) net.numParams();
        double[] mean = new double[n];
        for (int iteration : new int[] {5, 7, 9, 11}) {
            double[] theta = recorder.iterationEnds.get(iteration - 1);
            for (int j = 0; j < n; j++) {
                mean[j] += theta[j] / 4;
            }
        }
        assertArrayEquals(mean, values(sma.averagedParams(net)), 1e-12);
    }

    @Test
    void beforeTheStartTheAverageFollowsTheWeights() {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 3);
        EmaListener sma = EmaListener.builder(AveragingRule.simple()).everyIteration().startingAfter(100).build();
        net.addListeners(sma);
        net.fit(Networks.data(DataType.FLOAT), 2);
        assertEquals(0, sma.snapshotCount());
        assertArrayEquals(values(net.params()), values(sma.averagedParams(net)));
    }

    @Test
    void epochsKeepCountingWhenTheNetworkCountDoesNotAdvance() {
        // DL4J's early-stopping trainer fires onEpochEnd without incrementing the network's epoch count
        MultiLayerNetwork net = Networks.mlp(DataType.DOUBLE, false, 3);
        EmaListener seed = EmaListener.builder(AveragingRule.seed()).shadow().build();
        double[] expected = null;
        for (int e = 1; e <= 4; e++) {
            Snapshots.load(net, e);
            seed.onEpochEnd(net);
            expected = seedAverage(expected, Snapshots.theta(e, (int) net.numParams()), e);
        }
        assertEquals(0, net.getEpochCount());
        assertEquals(4, seed.lastStep());
        assertArrayEquals(expected, values(seed.averagedParams(net)), 1e-12);
    }

    @Test
    void keySelectionLeavesUnselectedParametersUntouched() {
        MultiLayerNetwork net = Networks.mlp(DataType.DOUBLE, true, 5);
        Recorder before = new Recorder();
        Recorder after = new Recorder();
        EmaListener seed = EmaListener.seedRule().parameters(ParameterSelection.keys("0_W", "2_b")).build();
        net.addListeners(before, seed, after);
        net.fit(Networks.data(DataType.DOUBLE), 3);

        Map<String, INDArray> table = net.paramTable();
        double[] expected = null;
        for (int e = 1; e <= 3; e++) {
            expected = seedAverage(expected, before.epochEnds.get(e - 1), e);
            double[] pre = before.epochEnds.get(e - 1);
            double[] post = after.epochEnds.get(e - 1);
            long offset = 0;
            for (Map.Entry<String, INDArray> entry : table.entrySet()) {
                long length = entry.getValue().length();
                boolean selected = List.of("0_W", "2_b").contains(entry.getKey());
                for (long j = offset; j < offset + length; j++) {
                    double want = selected ? expected[(int) j] : pre[(int) j];
                    assertEquals(want, post[(int) j], 1e-12, entry.getKey() + " element " + (j - offset)
                            + " after epoch " + e);
                }
                offset += length;
            }
        }
    }

    @Test
    void batchNormStatisticsCanBeLeftOut() {
        MultiLayerNetwork net = Networks.mlp(DataType.DOUBLE, true, 5);
        Recorder recorder = new Recorder();
        EmaListener sma = EmaListener.builder(AveragingRule.simple())
                .parameters(ParameterSelection.allExceptBatchNormStatistics()).build();
        net.addListeners(recorder, sma);
        net.fit(Networks.data(DataType.DOUBLE), 3);

        double[] averaged = values(sma.averagedParams(net));
        double[] current = values(net.params());
        long offset = 0;
        for (Map.Entry<String, INDArray> entry : net.paramTable().entrySet()) {
            boolean statistic = entry.getKey().endsWith("_mean") || entry.getKey().endsWith("_log10stdev");
            for (long j = offset; j < offset + entry.getValue().length(); j++) {
                int i = (int) j;
                double mean = 0;
                for (double[] theta : recorder.epochEnds) {
                    mean += theta[i] / recorder.epochEnds.size();
                }
                assertEquals(statistic ? current[i] : mean, averaged[i], 1e-12, entry.getKey());
            }
            offset += entry.getValue().length();
        }
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void swapPutsTheAverageInAndRestoresTrainingWeightsBitForBit(DataType type) {
        MultiLayerNetwork net = Networks.mlp(type, true, 9);
        EmaListener ema = EmaListener.exponential(0.5).build();
        net.addListeners(ema);
        net.fit(Networks.data(type), 2);

        double[] training = values(net.params());
        double[] average = values(ema.averagedParams(net));
        assertFalse(Arrays.equals(training, average));
        INDArray features = Networks.data(type).next().getFeatures();
        try (AverageSwap ignored = ema.swapIn(net)) {
            assertArrayEquals(average, values(net.params()));
            MultiLayerNetwork copy = ema.averagedCopy(net);
            assertArrayEquals(average, values(copy.params()));
            assertArrayEquals(values(net.output(features)), values(copy.output(features)),
                    "the averaged copy predicts what the swapped-in network predicts");
            assertEquals(0, copy.getListeners().size());
        }
        assertArrayEquals(training, values(net.params()));
    }

    @Test
    void averagedCopyOfAGraphCarriesTheAverageAndNoListeners() {
        ComputationGraph graph = Networks.graph(DataType.FLOAT, 2);
        EmaListener ema = EmaListener.exponential(0.7).build();
        graph.addListeners(ema);
        graph.fit(Networks.data(DataType.FLOAT), 2);
        ComputationGraph copy = ema.averagedCopy(graph);
        assertArrayEquals(values(ema.averagedParams(graph)), values(copy.params()));
        assertEquals(0, copy.getListeners().size());
        assertEquals(1, graph.getListeners().size());
    }

    @Test
    void swapBeforeTheFirstSnapshotChangesNothing() {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 9);
        EmaListener ema = EmaListener.exponential(0.5).build();
        double[] weights = values(net.params());
        try (AverageSwap ignored = ema.swapIn(net)) {
            assertArrayEquals(weights, values(net.params()));
        }
        assertArrayEquals(weights, values(net.params()));
    }
}
