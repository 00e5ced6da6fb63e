package io.github.dl4jema;

import static io.github.dl4jema.Snapshots.assertClose;
import static io.github.dl4jema.Snapshots.theta;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Each rule against averages computed by hand (closed forms and double-precision recursions written out here),
 * over snapshots put into a real network with {@code setParams} and taken with the manual update.
 */
class ClosedFormTest {

    private static final int K = 6;

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void seedRuleMatchesItsClosedFormAfterEveryEpoch(DataType type) {
        MultiLayerNetwork net = Networks.mlp(type, false, 1);
        int n = (int) net.numParams();
        EmaListener ema = EmaListener.builder(AveragingRule.seed()).shadow().build();
        for (int e = 1; e <= K; e++) {
            Snapshots.load(net, e);
            ema.update(net, e);
            // (2θ₁ + θ₂ + … + θₑ) / (e + 1)
            double[] expected = new double[n];
            for (int j = 0; j < n; j++) {
                double sum = theta(1, n)[j];
                for (int k = 1; k <= e; k++) {
                    sum += theta(k, n)[j];
                }
                expected[j] = sum / (e + 1);
            }
            assertClose(expected, ema.averagedParams(net), type);
        }
        assertEquals(K, ema.snapshotCount());
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void simpleRuleIsTheArithmeticMean(DataType type) {
        MultiLayerNetwork net = Networks.mlp(type, false, 1);
        int n = (int) net.numParams();
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).build();
        for (int k = 1; k <= K; k++) {
            Snapshots.load(net, k);
            ema.update(net);
        }
        double[] mean = new double[n];
        for (int k = 1; k <= K; k++) {
            for (int j = 0; j < n; j++) {
                mean[j] += theta(k, n)[j] / K;
            }
        }
        assertClose(mean, ema.averagedParams(net), type);
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void exponentialRuleWeighsSnapshotsGeometrically(DataType type) {
        double d = 0.8;
        MultiLayerNetwork net = Networks.mlp(type, false, 1);
        int n = (int) net.numParams();
        EmaListener ema = EmaListener.builder(AveragingRule.exponential(d)).build();
        for (int k = 1; k <= K; k++) {
            Snapshots.load(net, k);
            ema.update(net);
        }
        // closed form: θ̄ = d^(K-1)·θ₁ + Σ_{k=2..K} (1-d)·d^(K-k)·θₖ
        double[] expected = new double[n];
        for (int j = 0; j < n; j++) {
            expected[j] = Math.pow(d, K - 1) * theta(1, n)[j];
            for (int k = 2; k <= K; k++) {
                expected[j] += (1 - d) * Math.pow(d, K - k) * theta(k, n)[j];
            }
        }
        assertClose(expected, ema.averagedParams(net), type);
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void warmupUsesTheSnapshotCountInTensorFlowsFormula(DataType type) {
        double d = 0.5;
        MultiLayerNetwork net = Networks.mlp(type, false, 1);
        int n = (int) net.numParams();
        EmaListener ema = EmaListener.builder(AveragingRule.exponentialWithWarmup(d)).build();
        // decays for snapshots 2..6: t = 1..5, min(0.5, (1+t)/(10+t)) = 2/11, 3/12, 4/13, 5/14, 6/15;
        // the cap 0.5 is reached only at t = 8 (9/18), checked in AveragingRuleTest
        double[] decays = {2.0 / 11, 3.0 / 12, 4.0 / 13, 5.0 / 14, 6.0 / 15};
        double[] expected = theta(1, n);
        Snapshots.load(net, 1);
        ema.update(net);
        for (int k = 2; k <= K; k++) {
            Snapshots.load(net, k);
            ema.update(net);
            double rho = decays[k - 2];
            double[] th = theta(k, n);
            for (int j = 0; j < n; j++) {
                expected[j] = rho * expected[j] + (1 - rho) * th[j];
            }
        }
        assertClose(expected, ema.averagedParams(net), type);
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void customRuleGetsCountAndStep(DataType type) {
        MultiLayerNetwork net = Networks.mlp(type, false, 1);
        int n = (int) net.numParams();
        // keeps a quarter of the average at odd steps and three quarters at even steps
        EmaListener ema = EmaListener.builder((averaged, step) -> step % 2 == 1 ? 0.25 : 0.75).build();
        double[] expected = theta(1, n);
        Snapshots.load(net, 1);
        ema.update(net, 10);
        for (int k = 2; k <= 4; k++) {
            Snapshots.load(net, k);
            ema.update(net, 10 + k);
            double rho = (10 + k) % 2 == 1 ? 0.25 : 0.75;
            for (int j = 0; j < n; j++) {
                expected[j] = rho * expected[j] + (1 - rho) * theta(k, n)[j];
            }
        }
        assertClose(expected, ema.averagedParams(net), type);
        assertEquals(14, ema.lastStep());
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE", "HALF"})
    void averageKeepsTheParametersDataTypeWithAFloatMasterCopyForHalf(DataType type) {
        MultiLayerNetwork net = Networks.mlp(type, false, 1);
        int n = (int) net.numParams();
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).build();
        Snapshots.load(net, 1);
        ema.update(net);
        Snapshots.load(net, 2);
        ema.update(net);
        assertEquals(type == DataType.HALF ? DataType.FLOAT : type, ema.state().average().dataType());
        assertEquals(type, ema.averagedParams(net).dataType());
        double[] expected = new double[n];
        for (int j = 0; j < n; j++) {
            expected[j] = (theta(1, n)[j] + theta(2, n)[j]) / 2;
        }
        assertClose(expected, ema.averagedParams(net), type);
    }

    @ParameterizedTest
    @EnumSource(value = DataType.class, names = {"FLOAT", "DOUBLE"})
    void shadowModeNeverTouchesTheNetwork(DataType type) {
        MultiLayerNetwork net = Networks.mlp(type, false, 1);
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).shadow().build();
        Snapshots.load(net, 1);
        ema.update(net);
        Snapshots.load(net, 2);
        double[] before = Snapshots.values(net.params());
        ema.update(net);
        assertArrayEquals(before, Snapshots.values(net.params()));
    }
}
