package io.github.dl4jema;

import org.nd4j.linalg.api.blas.Level1;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.reduce.longer.MatchCondition;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.conditions.Conditions;

/**
 * The in-place blend over contiguous 1-D FLOAT or DOUBLE vectors (the flat parameter buffer, the coalesced ranges
 * of a selection, or the FLOAT master copy of a half-precision network), in the lerp form
 * <pre>  θ̄ ← θ̄ + w·(θ − θ̄),   w = 1 − ρ</pre>
 * with the write-back copy {@code θ ← θ̄} fused into it, and the NaN/infinity check that precedes it.
 *
 * <p>Why the lerp form and not {@code ρ·θ̄ + (1 − ρ)·θ}: the latter rounds its two coefficients separately, so in
 * FLOAT {@code (float) ρ + (float) (1 − ρ) ≠ 1} and the average drifts towards zero by the difference at every
 * update (at {@code ρ = 0.99999}, {@code (float) ρ} is off by 1e-8, 0.1% of {@code 1 − ρ}). The lerp form rounds
 * only {@code w}, and its increment vanishes where {@code θ = θ̄}; torch's {@code _foreach_lerp_} and timm's
 * {@code ModelEmaV3} use it too. {@code BlendKernelTest} measures the two forms against a double recursion.
 *
 * <p>Two paths, chosen per call by backend and layout:
 * <ul>
 *   <li>On ND4J's CPU backend with OpenBLAS present, {@link HostBlend}: OpenBLAS level 1 calls over blocks that stay
 *       in cache, so each array streams from memory once (12N bytes in shadow mode, 16N in write-back mode for N
 *       floats).</li>
 *   <li>Everywhere else (the CUDA backend, strided arrays, or {@link #portableOnly} set by tests) ND4J's BLAS
 *       level 1 only: {@code copy} into a scratch vector, {@code axpy} twice, then {@code copy} for write-back
 *       (cuBLAS on the device: no host copies, no temporaries; the scratch is allocated once by the caller).</li>
 * </ul>
 * OpenBLAS is looked up by name, so the library needs no backend on its classpath and runs unchanged on CUDA.
 */
final class BlendKernel {

    /**
     * Routes every call through the portable ND4J path that the CUDA backend takes, so that the tests run it on the
     * CPU too. Package-private: a test switch, not an option.
     */
    static volatile boolean portableOnly;

    /** True when ND4J runs on the CPU and OpenBLAS' JavaCPP binding is present: the host fast path applies. */
    private static final class Host {
        static final boolean ENABLED = Nd4j.getEnvironment().isCPU() && HostBlend.available();
    }

    private BlendKernel() {
    }

    /** @return true if {@code blend} on these arrays needs a caller-provided scratch vector (the portable path) */
    static boolean needsScratch(DataType type) {
        return portableOnly || !Host.ENABLED || (type != DataType.FLOAT && type != DataType.DOUBLE);
    }

    /**
     * {@code average ← average + weight·(snapshot − average)}; then, if {@code writeBack} is not null,
     * {@code writeBack ← average}. All arrays contiguous, of one type (FLOAT or DOUBLE) and length;
     * {@code writeBack} may be {@code snapshot} itself. {@code scratch} is a vector of that type and length that the
     * portable path overwrites (it may be {@code snapshot} itself), or null where {@link #needsScratch} is false.
     */
    static void blend(INDArray average, INDArray snapshot, INDArray scratch, double weight, INDArray writeBack) {
        if (weight == 1.0) {
            average.assign(snapshot);
        } else if (weight != 0.0) {
            if (!portableOnly && Host.ENABLED && contiguous(average) && contiguous(snapshot)
                    && (writeBack == null || contiguous(writeBack))) {
                HostBlend.lerp(average, snapshot, weight, writeBack);
                return;
            }
            Level1 level1 = Nd4j.getBlasWrapper().level1();
            long n = average.length();
            if (scratch != snapshot) {
                level1.copy(snapshot, scratch);
            }
            level1.axpy(n, -1.0, average, scratch);
            level1.axpy(n, weight, scratch, average);
        }
        if (writeBack != null) {
            writeBack.assign(average);
        }
    }

    /** The number of NaN or infinite elements of {@code values}. */
    static long countNonFinite(INDArray values) {
        DataType type = values.dataType();
        if (type == DataType.FLOAT || type == DataType.DOUBLE) {
            double sum = !portableOnly && Host.ENABLED && contiguous(values) ? HostBlend.finiteUnlessNonFinite(values)
                    : Nd4j.getBlasWrapper().level1().asum(values);
            if (Double.isFinite(sum)) {
                return 0;
            }
        }
        return Nd4j.getExecutioner().exec(new MatchCondition(values, Conditions.notFinite())).getLong(0);
    }

    private static boolean contiguous(INDArray array) {
        return array.elementWiseStride() == 1;
    }
}
