package io.github.dl4jema;

import org.nd4j.linalg.api.blas.Level1;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.reduce.longer.MatchCondition;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.conditions.Conditions;

/**
 * The blend over the vectors of a selection (contiguous 1-D FLOAT or DOUBLE vectors: the ranges of the flat
 * parameter buffer, or the FLOAT master copy of a half-precision network), in the lerp form
 * <pre>  θ̄ ← θ̄ + w·(θ − θ̄),   w = 1 − ρ</pre>
 * and the NaN/infinity check, as two kernels:
 * <ul>
 *   <li><b>one pass</b> ({@link #blendInto}): the new average is written into a second vector, with the check folded
 *       into the same loop; the caller swaps the two vectors when every value was finite and drops the new one
 *       otherwise, so a rejected update leaves the average as it was. It reads the average and the parameters and
 *       writes the new average: 12N bytes for N values, 16N with the read a write-allocate cache makes of a line it
 *       writes without reading, at the price of N more values of memory. Host (CPU) path only.</li>
 *   <li><b>two pass</b> ({@link #countNonFinite} then {@link #blend}): a read-only check of every parameter, then the
 *       blend in place, with the write-back copy {@code θ ← θ̄} fused into it: 16N bytes in shadow mode, 20N in
 *       write-back mode (every line written was read first), no second vector. Every path has it.</li>
 * </ul>
 *
 * <p>Why the lerp form and not {@code ρ·θ̄ + (1 − ρ)·θ}: the latter rounds its two coefficients separately, so in
 * FLOAT {@code (float) ρ + (float) (1 − ρ) ≠ 1} and the average drifts towards zero by the difference at every
 * update (at {@code ρ = 0.99999}, {@code (float) ρ} is off by 1e-8, 0.1% of {@code 1 − ρ}). The lerp form rounds
 * only {@code w}, and its increment vanishes where {@code θ = θ̄}; torch's {@code _foreach_lerp_} and timm's
 * {@code ModelEmaV3} use it too. {@code PrecisionTest} measures the two forms against a double recursion.
 *
 * <p>Two paths, chosen per call by backend and layout:
 * <ul>
 *   <li>On ND4J's CPU backend, for contiguous FLOAT or DOUBLE vectors, {@link HostBlend}: one fused loop over the
 *       host memory for the blend, blocked OpenBLAS dot products for the check, split over a few threads for large
 *       vectors. Both kernels compute every element with the same expression, so they agree bitwise.</li>
 *   <li>Everywhere else (the CUDA backend, strided arrays, or {@link #portableOnly} set by tests) ND4J's BLAS
 *       level 1 only, two-pass: BLAS {@code asum} for the check ({@code MatchCondition} only when it is not finite),
 *       then {@code copy} into a scratch vector, {@code axpy} twice, then {@code assign} for write-back (cuBLAS on the
 *       device: no host copies, no temporaries; the scratch is allocated once by the caller).</li>
 * </ul>
 * OpenBLAS is looked up by name, so the library needs no backend on its classpath and runs unchanged on CUDA.
 */
final class BlendKernel {

    /**
     * Routes every call through the portable ND4J path that the CUDA backend takes, so that the tests run it on the
     * CPU too. Package-private: a test switch, not an option.
     */
    static volatile boolean portableOnly;

    /** True when ND4J runs on the CPU and {@link HostBlend} can run: the host fast path applies. */
    private static final class Host {
        static final boolean ENABLED = Nd4j.getEnvironment().isCPU() && HostBlend.available();
    }

    private BlendKernel() {
    }

    /** @return true if the two-pass blend of vectors of {@code type} needs a caller-provided scratch vector */
    static boolean needsScratch(DataType type) {
        return !onHost(type);
    }

    /** @return true if the host path (and with it the one-pass kernel) takes contiguous vectors of {@code type} */
    static boolean onHost(DataType type) {
        return !portableOnly && Host.ENABLED && (type == DataType.FLOAT || type == DataType.DOUBLE);
    }

    /**
     * The two-pass kernel's blend, in place: {@code average[i] ← average[i] + weight·(snapshot[i] − average[i])};
     * then, if {@code writeBack} is not null, {@code writeBack[i] ← average[i]}. All vectors of one type (FLOAT or
     * DOUBLE), {@code average[i]}, {@code snapshot[i]} and {@code writeBack[i]} of one length; {@code writeBack[i]}
     * may be {@code snapshot[i]}. {@code scratch[i]} is a vector of that length that the portable path overwrites
     * (it may be {@code snapshot[i]} itself); {@code scratch} may be null where {@link #needsScratch} is false.
     */
    static void blend(INDArray[] average, INDArray[] snapshot, INDArray[] scratch, double weight,
                      INDArray[] writeBack) {
        if (weight != 0.0 && weight != 1.0 && onHost(average[0].dataType()) && contiguous(average)
                && contiguous(snapshot) && (writeBack == null || contiguous(writeBack))) {
            HostBlend.lerp(average, snapshot, weight, writeBack);
            return;
        }
        for (int i = 0; i < average.length; i++) {
            blendPortable(average[i], snapshot[i], scratch == null ? null : scratch[i], weight,
                    writeBack == null ? null : writeBack[i]);
        }
    }

    private static void blendPortable(INDArray average, INDArray snapshot, INDArray scratch, double weight,
                                      INDArray writeBack) {
        if (weight == 1.0) {
            average.assign(snapshot);
        } else if (weight != 0.0) {
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

    /**
     * @return true if {@link #blendInto} can run on these vectors: the host path, contiguous vectors of a type it
     *         takes, and a weight that is neither 0 (nothing to blend) nor 1 (a copy)
     */
    static boolean canBlendInto(INDArray[] average, INDArray[] snapshot, INDArray[] next, double weight) {
        return weight != 0.0 && weight != 1.0 && onHost(average[0].dataType()) && contiguous(average)
                && contiguous(snapshot) && contiguous(next);
    }

    /**
     * The one-pass kernel: {@code next[i] ← average[i] + weight·(snapshot[i] − average[i])}, checking every value
     * written; {@code average} is not touched, and {@code snapshot} only if {@code next} is it. Only where
     * {@link #canBlendInto} is true.
     *
     * @return true if every value written is finite; false if a value may not be (NaN or infinite parameters, or an
     *         overflow on absurdly large finite values: {@link #countNonFinite} tells which), and then {@code next}
     *         holds partial results
     */
    static boolean blendInto(INDArray[] average, INDArray[] snapshot, INDArray[] next, double weight) {
        return HostBlend.lerpInto(average, snapshot, next, weight);
    }

    /** The exact number of NaN or infinite elements of {@code values}, after a cheap test that all are finite. */
    static long countNonFinite(INDArray[] values) {
        DataType type = values[0].dataType();
        if (onHost(type) && contiguous(values)) {
            if (HostBlend.allFinite(values)) {
                return 0;
            }
        } else if (type == DataType.FLOAT || type == DataType.DOUBLE) {
            Level1 level1 = Nd4j.getBlasWrapper().level1();
            boolean finite = true;
            for (INDArray range : values) {
                finite &= Double.isFinite(level1.asum(range));
            }
            if (finite) {
                return 0;
            }
        }
        long count = 0;
        for (INDArray range : values) {
            count += Nd4j.getExecutioner().exec(new MatchCondition(range, Conditions.notFinite())).getLong(0);
        }
        return count;
    }

    private static boolean contiguous(INDArray[] arrays) {
        for (INDArray array : arrays) {
            if (array.elementWiseStride() != 1) {
                return false;
            }
        }
        return true;
    }
}
