package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.junit.jupiter.api.Test;

/**
 * The average is right in every parameter type and at high decays: long runs against a double-precision recursion.
 *
 * <p>Scenario (the one that exposed the defect): the weights drift linearly from 0.37 to 0.30 over
 * {@value #UPDATES} exponential updates. The reference is the recursion {@code a ← ρ·a + (1 − ρ)·θ} in double
 * precision over the values the network really holds (θ rounded to its type).
 */
class PrecisionTest {

    static final int UPDATES = 10_000;

    /**
     * Tolerance on the stored average, absolute (the average is about 0.33). DOUBLE: 1e-12, rounding at 1e-16 per
     * update cannot add up to more in 10^4 updates. FLOAT (and the FLOAT master copy of HALF and BFLOAT16): 2e-6.
     * Round-to-nearest errors of the lerp are unbiased, about ulp/2 = 1.5e-8 per update, and decay with ρ, so they
     * sum like a damped random walk, σ ≈ 1.5e-8·sqrt(1/(2(1 − ρ))) ≈ 1.1e-6 at ρ = 0.9999 and less at lower decays;
     * the bias that two separately rounded coefficients add at ρ = 0.9999 is about 0.33·2e-8/1e-4 = 6.6e-5, which
     * this tolerance catches. Blending in HALF itself would be off by 0.07 (0.375 against 0.304).
     */
    static double tolerance(DataType type) {
        return type == DataType.DOUBLE ? 1e-12 : 2e-6;
    }

    /**
     * Half an ulp at 0.3 of the network's own type: what reading the average back into the network (write-back,
     * swap, {@code averagedParams}) may add by rounding. HALF has 10 fraction bits (ulp 2^-12 near 0.3), BFLOAT16 7
     * (ulp 2^-9).
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

    @ParameterizedTest(name = "{0} decay {1}")
    @MethodSource("typesAndDecays")
    void exponentialAverageOfDriftingWeightsMatchesADoublePrecisionRecursion(DataType type, double decay) {
        MultiLayerNetwork net = Networks.mlp(type, false, 1);
        EmaListener ema = EmaListener.exponential(decay).build();
        INDArray params = net.params();
        double reference = 0;
        for (int t = 0; t < UPDATES; t++) {
            params.assign(0.37 - 0.07 * t / (UPDATES - 1));
            double held = params.getDouble(0);
            reference = t == 0 ? held : decay * reference + (1 - decay) * held;
            ema.update(net);
        }
        INDArray master = ema.state().average();
        assertEquals(RunningAverage.averageType(type), master.dataType(), "the average's type");
        double tolerance = tolerance(type);
        assertEquals(reference, master.minNumber().doubleValue(), tolerance, "smallest element of the average");
        assertEquals(reference, master.maxNumber().doubleValue(), tolerance, "largest element of the average");
        INDArray readBack = ema.averagedParams(net);
        assertEquals(type, readBack.dataType());
        assertEquals(reference, readBack.getDouble(7), tolerance + readBackRounding(type), "read back in " + type);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("halfTypes")
    void writeBackOfAHalfNetworkRoundsTheFloatMasterCopyIntoIt(DataType type) {
        MultiLayerNetwork net = Networks.mlp(type, false, 1);
        EmaListener ema = EmaListener.exponential(0.999).writeBack().build();
        INDArray params = net.params();
        double reference = 0;
        for (int t = 0; t < 2_000; t++) {
            // the network trains away from the average by a step smaller than half its own ulp
            params.addi(t == 0 ? 0 : 1e-3);
            double held = params.getDouble(0);
            reference = t == 0 ? held : 0.999 * reference + 0.001 * held;
            ema.update(net);
        }
        double master = ema.state().average().getDouble(0);
        assertEquals(reference, master, 2e-6, "the master copy follows every small step");
        assertEquals(Nd4j.scalar(DataType.FLOAT, master).castTo(type).getDouble(0), net.params().getDouble(0), 0.0,
                "the network holds the master copy rounded to " + type);
    }

    static Stream<DataType> halfTypes() {
        return Stream.of(DataType.HALF, DataType.BFLOAT16);
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
        INDArray scratch = BlendKernel.needsScratch(DataType.FLOAT) ? Nd4j.zeros(DataType.FLOAT, n) : null;
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
                BlendKernel.blend(average, theta, scratch, 1 - decay, null);
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
