package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Each rule on real SameDiff training ({@code sd.fit}), against averages computed here from the weights a separate
 * listener recorded at the same events: closed forms and double-precision recursions, per epoch and per iteration,
 * with starts, on a perceptron and a convolutional graph.
 */
class SameDiffClosedFormTest {

    private static final List<String> MLP = Graphs.MLP_VARIABLES;

    /** Trains {@code epochs} epochs of the perceptron with a recorder before the averager; returns the recorder. */
    private static VariableRecorder train(SameDiff sd, SameDiffAverager averager, DataType type, int epochs) {
        VariableRecorder recorder = new VariableRecorder(MLP);
        sd.fit(Graphs.data(type), epochs, recorder, averager);
        return recorder;
    }

    private static void assertAverage(double[] expected, SameDiffAverager averager, SameDiff sd, DataType type) {
        Map<String, INDArray> averaged = averager.averagedVariables(sd);
        INDArray flat = Nd4j.createFromArray(Graphs.flat(averaged, List.copyOf(averaged.keySet())));
        Snapshots.assertClose(expected, flat, type);
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void seedRuleInShadowIsTwiceTheFirstEpochPlusTheOthersOverKPlusOne(DataType type) {
        SameDiff sd = Graphs.mlp(type, 1);
        SameDiffAverager seed = SameDiffAverager.builder(AveragingRule.seed()).everyEpoch().shadow().build();
        VariableRecorder recorded = train(sd, seed, type, 5);
        int n = recorded.epochs.get(0).length;
        double[] expected = new double[n];
        for (int j = 0; j < n; j++) {
            double sum = recorded.epochs.get(0)[j];
            for (double[] theta : recorded.epochs) {
                sum += theta[j];
            }
            expected[j] = sum / 6;
        }
        assertAverage(expected, seed, sd, type);
        assertEquals(5, seed.snapshotCount());
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void seedRuleWrittenBackLeavesTheClosedFormInTheGraph(DataType type) {
        SameDiff sd = Graphs.mlp(type, 2);
        SameDiffAverager seed = SameDiffAverager.seedRule().build();
        VariableRecorder recorded = train(sd, seed, type, 4);
        // the recorder saw each epoch's weights before the write-back: θ̄ₖ = (2θ₁ + θ₂ + … + θₖ)/(k + 1)
        int n = recorded.epochs.get(0).length;
        double[] expected = new double[n];
        for (int j = 0; j < n; j++) {
            double sum = recorded.epochs.get(0)[j];
            for (double[] theta : recorded.epochs) {
                sum += theta[j];
            }
            expected[j] = sum / 5;
        }
        Snapshots.assertClose(expected, Nd4j.createFromArray(Graphs.flat(sd, MLP)), type);
        assertArrayEquals(Graphs.flat(seed.averagedVariables(sd), MLP), Graphs.flat(sd, MLP),
                "the graph holds the average itself");
    }

    @Test
    void writeBackEveryIterationFollowsTheRulesRecursionFromTheWeightsEachStepProduced() {
        DataType type = DataType.DOUBLE;
        SameDiff sd = Graphs.mlp(type, 3);
        double d = 0.6;
        SameDiffAverager ema = SameDiffAverager.exponential(d).writeBack().build();
        VariableRecorder recorded = train(sd, ema, type, 2);
        double[] expected = recorded.iterations.get(0).clone();
        for (int k = 1; k < recorded.iterations.size(); k++) {
            double[] theta = recorded.iterations.get(k);
            for (int j = 0; j < expected.length; j++) {
                expected[j] = d * expected[j] + (1 - d) * theta[j];
            }
        }
        Snapshots.assertClose(expected, Nd4j.createFromArray(Graphs.flat(sd, MLP)), type);
        assertEquals(2 * Graphs.BATCHES, ema.snapshotCount());
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void simpleAverageEveryIterationAfterAStartIsTheMeanOfTheLaterIterations(DataType type) {
        SameDiff sd = Graphs.mlp(type, 4);
        int start = 5;
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).everyIteration()
                .startingAfter(start).build();
        VariableRecorder recorded = train(sd, sma, type, 3);
        List<double[]> averaged = recorded.iterations.subList(start, recorded.iterations.size());
        double[] mean = new double[averaged.get(0).length];
        for (double[] theta : averaged) {
            for (int j = 0; j < mean.length; j++) {
                mean[j] += theta[j] / averaged.size();
            }
        }
        assertAverage(mean, sma, sd, type);
        assertEquals(3L * Graphs.BATCHES - start, sma.snapshotCount());
        assertEquals(3L * Graphs.BATCHES, sma.lastStep());
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void exponentialEveryIterationWeighsTheIterationsGeometrically(DataType type) {
        SameDiff sd = Graphs.mlp(type, 5);
        double d = 0.8;
        SameDiffAverager ema = SameDiffAverager.exponential(d).build();
        VariableRecorder recorded = train(sd, ema, type, 2);
        int k = recorded.iterations.size();
        // θ̄ = d^(K-1)·θ₁ + Σ_{i=2..K} (1-d)·d^(K-i)·θᵢ
        double[] expected = new double[recorded.iterations.get(0).length];
        for (int j = 0; j < expected.length; j++) {
            expected[j] = Math.pow(d, k - 1) * recorded.iterations.get(0)[j];
            for (int i = 2; i <= k; i++) {
                expected[j] += (1 - d) * Math.pow(d, k - i) * recorded.iterations.get(i - 1)[j];
            }
        }
        assertAverage(expected, ema, sd, type);
    }

    @Test
    void exponentialWithWarmupEveryIterationUsesTensorFlowsDecays() {
        DataType type = DataType.DOUBLE;
        SameDiff sd = Graphs.mlp(type, 6);
        double d = 0.4;
        SameDiffAverager ema = SameDiffAverager.builder(AveragingRule.exponentialWithWarmup(d)).everyIteration()
                .build();
        VariableRecorder recorded = train(sd, ema, type, 3);
        // snapshot t + 1 (t already averaged) blends with decay min(0.4, (1+t)/(10+t)): 2/11, 3/12, 4/13, 5/14,
        // then 0.4 from t = 5 on (6/15 = 0.4)
        double[] expected = recorded.iterations.get(0).clone();
        for (int t = 1; t < recorded.iterations.size(); t++) {
            double rho = Math.min(d, (1.0 + t) / (10.0 + t));
            double[] theta = recorded.iterations.get(t);
            for (int j = 0; j < expected.length; j++) {
                expected[j] = rho * expected[j] + (1 - rho) * theta[j];
            }
        }
        assertAverage(expected, ema, sd, type);
    }

    @Test
    void customRuleEveryOtherEpochAfterAStartSeesItsOwnStepNumbers() {
        DataType type = DataType.DOUBLE;
        SameDiff sd = Graphs.mlp(type, 7);
        // snapshots at epochs 3, 5, 7 (start 1, every 2): ρ = 0.3 at even steps, 0.6 at odd ones
        SameDiffAverager custom = SameDiffAverager.builder((averaged, step) -> step % 2 == 0 ? 0.3 : 0.6)
                .everyNEpochs(2).startingAfter(1).build();
        VariableRecorder recorded = train(sd, custom, type, 7);
        double[] expected = recorded.epochs.get(2).clone();
        for (int epoch : new int[] {5, 7}) {
            double[] theta = recorded.epochs.get(epoch - 1);
            for (int j = 0; j < expected.length; j++) {
                expected[j] = 0.6 * expected[j] + 0.4 * theta[j];
            }
        }
        assertAverage(expected, custom, sd, type);
        assertEquals(3, custom.snapshotCount());
        assertEquals(7, custom.lastStep());
    }

    @Test
    void aSelectionByNameAveragesOnlyThoseVariables() {
        DataType type = DataType.FLOAT;
        SameDiff sd = Graphs.mlp(type, 8);
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).everyEpoch().variables("w1", "b0")
                .build();
        VariableRecorder recorder = new VariableRecorder(List.of("b0", "w1"));
        sd.fit(Graphs.data(type), 3, recorder, sma);
        double[] mean = new double[recorder.epochs.get(0).length];
        for (double[] theta : recorder.epochs) {
            for (int j = 0; j < mean.length; j++) {
                mean[j] += theta[j] / 3;
            }
        }
        Map<String, INDArray> averaged = sma.averagedVariables(sd);
        assertEquals(List.of("b0", "w1"), List.copyOf(averaged.keySet()));
        Snapshots.assertClose(mean, Nd4j.createFromArray(Graphs.flat(averaged, List.of("b0", "w1"))), type);
        assertEquals(Graphs.HIDDEN + Graphs.HIDDEN * Graphs.CLASSES, sma.state().average().length());
    }

    @Test
    void simpleAverageOfAConvolutionalGraphEveryEpochFromMidRunIsTheMeanOfTheLaterEpochs() {
        SameDiff sd = Graphs.cnn(9);
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).everyEpoch()
                .startingAtFraction(0.5, 6).build();
        VariableRecorder recorder = new VariableRecorder(Graphs.CNN_VARIABLES);
        sd.fit(Graphs.images(), 6, recorder, sma);
        double[] mean = new double[recorder.epochs.get(0).length];
        for (double[] theta : recorder.epochs.subList(3, 6)) {
            for (int j = 0; j < mean.length; j++) {
                mean[j] += theta[j] / 3;
            }
        }
        Map<String, INDArray> averaged = sma.averagedVariables(sd);
        Snapshots.assertClose(mean, Nd4j.createFromArray(Graphs.flat(averaged, Graphs.CNN_VARIABLES)),
                DataType.FLOAT);
        assertEquals(3, sma.snapshotCount());
    }

    @Test
    void beforeTheFirstSnapshotTheAverageFollowsTheWeights() {
        DataType type = DataType.FLOAT;
        SameDiff sd = Graphs.mlp(type, 10);
        SameDiffAverager late = SameDiffAverager.builder(AveragingRule.simple()).everyEpoch().startingAfter(5)
                .build();
        sd.fit(Graphs.data(type), 2, late);
        assertEquals(0, late.snapshotCount());
        assertArrayEquals(Graphs.flat(sd, MLP), Graphs.flat(late.averagedVariables(sd), MLP));
    }
}
