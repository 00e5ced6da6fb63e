package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.junit.jupiter.api.Test;

/**
 * The average is right in every parameter type and at high decays: long runs against a double-precision recursion.
 *
 * <p>Scenario (the one that exposed the defect): the weights drift linearly from 0.37 to 0.30 over
 * {@value #UPDATES} exponential updates. The reference is the recursion {@code a ← ρ·a + (1 − ρ)·θ} in double
 * precision over the values the parameters really hold (θ rounded to their type).
 */
class PrecisionTest {

    static final int UPDATES = 10_000;

    /**
     * Tolerance on the stored average, absolute (the average is about 0.33). The average is kept in DOUBLE for DOUBLE
     * networks and in FLOAT otherwise, and each update rounds it once to half an ulp (2^-26 in FLOAT, 2^-55 in DOUBLE
     * near 0.33). Under a steady drift the rounding errors do not cancel: they have the same sign update after update,
     * and each one decays with ρ, so they add up to at most {@code ulp/2 / (1 − ρ)}: 1.5e-6, 1.5e-5 and 1.5e-4 in
     * FLOAT at 0.99, 0.999 and 0.9999. Twice that is the tolerance. Blending in HALF itself misses by 0.07 (0.375
     * against 0.304) and in BFLOAT16 by 0.3 (0.008 against 0.329).
     */
    static double tolerance(DataType type, double decay) {
        double halfUlp = type == DataType.DOUBLE ? Math.pow(2, -55) : Math.pow(2, -26);
        return 2 * halfUlp / (1 - decay);
    }

    /**
     * Half an ulp at 0.3 of the parameters' own type: what reading the average back into them may add by rounding.
     * HALF has 10 fraction bits (ulp 2^-12 near 0.3), BFLOAT16 7 (ulp 2^-9).
     */
    static double readBackRounding(DataType type) {
        return switch (type) {
            case HALF -> Math.pow(2, -13);
            case BFLOAT16 -> Math.pow(2, -10);
            default -> 0.0;
        };
    }

    static Stream<Arguments> typesAndDecays() {
        return Stream.of(DataType.FLOAT, DataType.DOUBLE, DataType.HALF, DataType.BFLOAT16)
                .flatMap(t -> Stream.of(0.99, 0.999, 0.9999).map(d -> Arguments.of(t, d)));
    }

    /**
     * The averager's arithmetic ({@link RunningAverage}, the state behind every listener) on parameters of each type.
     * It runs on a bare parameter vector because DL4J M2.1 refuses to configure a BFLOAT16 network ("Data type must
     * be ... DOUBLE, FLOAT, or HALF"); the HALF network test below goes through the listener.
     */
    @ParameterizedTest(name = "{0} decay {1}")
    @MethodSource("typesAndDecays")
    void exponentialAverageOfDriftingWeightsMatchesADoublePrecisionRecursion(DataType type, double decay) {
        int n = 37;
        INDArray params = Nd4j.zeros(type, n);
        INDArray[] views = {params};
        RunningAverage average = new RunningAverage(EmaListener.exponential(decay).config(), new long[] {0, n}, n,
                type);
        double reference = 0;
        for (int t = 0; t < UPDATES; t++) {
            params.assign(0.37 - 0.07 * t / (UPDATES - 1));
            double held = params.getDouble(0);
            reference = t == 0 ? held : decay * reference + (1 - decay) * held;
            average.update(views, t + 1, "a bare vector");
        }
        INDArray master = average.average();
        assertEquals(RunningAverage.averageType(type), master.dataType(), "the average's type");
        double tolerance = tolerance(type, decay);
        assertEquals(reference, master.minNumber().doubleValue(), tolerance, "smallest element of the average");
        assertEquals(reference, master.maxNumber().doubleValue(), tolerance, "largest element of the average");
        INDArray readBack = Nd4j.zeros(type, n);
        average.writeInto(new INDArray[] {readBack});
        assertEquals(reference, readBack.getDouble(7), tolerance + readBackRounding(type), "read back in " + type);
    }

    @ParameterizedTest(name = "decay {0}")
    @ValueSource(doubles = {0.99, 0.999, 0.9999})
    void listenerOnAHalfNetworkKeepsAFloatMasterCopy(double decay) {
        MultiLayerNetwork net = Networks.mlp(DataType.HALF, false, 1);
        EmaListener ema = EmaListener.exponential(decay).build();
        INDArray params = net.params();
        double reference = 0;
        for (int t = 0; t < UPDATES; t++) {
            params.assign(0.37 - 0.07 * t / (UPDATES - 1));
            double held = params.getDouble(0);
            reference = t == 0 ? held : decay * reference + (1 - decay) * held;
            ema.update(net);
        }
        assertEquals(DataType.FLOAT, ema.state().average().dataType());
        assertEquals(reference, ema.state().average().getDouble(3), tolerance(DataType.FLOAT, decay));
        assertEquals(DataType.HALF, ema.averagedParams(net).dataType());
        assertEquals(reference, ema.averagedParams(net).getDouble(3),
                tolerance(DataType.FLOAT, decay) + readBackRounding(DataType.HALF));
    }

    @Test
    void writeBackOfAHalfNetworkRoundsTheFloatMasterCopyIntoIt() {
        DataType type = DataType.HALF;
        MultiLayerNetwork net = Networks.mlp(type, false, 1);
        EmaListener ema = EmaListener.exponential(0.999).writeBack().build();
        INDArray params = net.params();
        double reference = 0;
        for (int t = 0; t < 2_000; t++) {
            // the network moves away from the written-back average by a small step before every update
            params.addi(t == 0 ? 0 : 1e-3);
            double held = params.getDouble(0);
            reference = t == 0 ? held : 0.999 * reference + 0.001 * held;
            ema.update(net);
        }
        double master = ema.state().average().getDouble(0);
        assertEquals(reference, master, tolerance(DataType.FLOAT, 0.999), "the master copy follows every step");
        assertEquals(Nd4j.scalar(DataType.FLOAT, master).castTo(type).getDouble(0), net.params().getDouble(0), 0.0,
                "the network holds the master copy rounded to " + type);
    }

    /**
     * The lerp form {@code a + w·(θ − a)} settles closer to the truth than {@code ρ·a + (1 − ρ)·θ} with the two
     * coefficients rounded to FLOAT separately, at a decay whose FLOAT rounding is far from {@code 1 − w}: measured on
     * the kernel itself against a double recursion, with the old form computed the way BLAS {@code scal} then
     * {@code axpy} computes it.
     */
    @Test
    void lerpFormHasLessBiasThanTwoRoundedCoefficientsAtAHighDecay() {
        double decay = 0.99999;
        int n = 64;
        int updates = 300_000;
        float keep = (float) decay;
        float take = (float) (1 - decay);
        INDArray average = Nd4j.zeros(DataType.FLOAT, n);
        INDArray theta = Nd4j.zeros(DataType.FLOAT, n);
        INDArray[] scratch = BlendKernel.needsScratch(DataType.FLOAT) ? new INDArray[] {Nd4j.zeros(DataType.FLOAT, n)}
                : null;
        float[] twoCoefficients = new float[n];
        double[] truth = new double[n];
        float[] thetaValues = new float[n];
        for (int t = 0; t < updates; t++) {
            for (int j = 0; j < n; j++) {
                thetaValues[j] = (float) (0.3 + 0.05 * Math.sin(0.001 * t + j));
            }
            theta.assign(Nd4j.createFromArray(thetaValues));
            if (t == 0) {
                average.assign(theta);
            } else {
                BlendKernel.blend(new INDArray[] {average}, new INDArray[] {theta}, scratch, 1 - decay, null);
            }
            for (int j = 0; j < n; j++) {
                float held = thetaValues[j];
                twoCoefficients[j] = t == 0 ? held : keep * twoCoefficients[j] + take * held;
                truth[j] = t == 0 ? held : decay * truth[j] + (1 - decay) * held;
            }
        }
        double lerpBias = 0;
        double oldBias = 0;
        for (int j = 0; j < n; j++) {
            lerpBias += (average.getDouble(j) - truth[j]) / truth[j] / n;
            oldBias += (twoCoefficients[j] - truth[j]) / truth[j] / n;
        }
        assertTrue(Math.abs(lerpBias) < Math.abs(oldBias) / 5, "lerp bias " + lerpBias + " vs two-coefficient bias "
                + oldBias);
        assertTrue(Math.abs(lerpBias) < 1e-4, "lerp bias " + lerpBias);
    }
}
