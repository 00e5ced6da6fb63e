package io.github.dl4jema;

import org.nd4j.linalg.api.blas.Level1;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.reduce.longer.MatchCondition;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.conditions.Conditions;

/**
 * The in-place blend {@code θ̄ ← ρ·θ̄ + (1 − ρ)·θ} over contiguous 1-D vectors (the flat parameter buffer or the
 * coalesced ranges of a selection), with the write-back copy {@code θ ← θ̄} fused into it, and the NaN/infinity
 * check that precedes it.
 *
 * <p>Two paths, chosen once per JVM and per call by data type and layout:
 * <ul>
 *   <li>On ND4J's CPU backend, FLOAT and DOUBLE go to {@link HostBlend}: OpenBLAS {@code scal}, {@code axpy} (and
 *       {@code copy} for write-back) over blocks that stay in cache, so each array streams from memory once, as in a
 *       hand-written one-pass loop (12N bytes in shadow mode, 16N in write-back mode). ND4J's own
 *       {@code Level1.scal}/{@code axpy} make a separate pass each (20N and 28N bytes with the copy back), and its
 *       scalar and pairwise ops allocate a scalar buffer per call.</li>
 *   <li>Everywhere else (the CUDA backend, HALF and BFLOAT16, strided arrays) the blend is ND4J operations only:
 *       BLAS level 1 {@code scal} then {@code axpy} for FLOAT/DOUBLE (cuBLAS on the device, no temporaries, no host
 *       copies), element-wise ops with one temporary for the half types, then {@code assign} for write-back.</li>
 * </ul>
 * OpenBLAS is looked up by name, so the library needs no backend on its classpath and runs unchanged on CUDA.
 *
 * <p>The non-finite check must read every parameter before anything is written (a rejected update leaves network
 * and average exactly as they were), so it cannot share the blend's pass; it is made as cheap as a read can be: a
 * number that is finite exactly when every element is finite (on the host a dot product of the array's two halves,
 * elsewhere BLAS {@code asum}), with ND4J's exact {@code MatchCondition} count only when that number is not finite.
 * Both return a number instead of allocating a result array as {@code MatchCondition} does.
 */
final class BlendKernel {

    /** True when ND4J runs on the CPU and OpenBLAS' JavaCPP binding is present: the host fast path applies. */
    private static final class Host {
        static final boolean ENABLED = openBlasPresent() && Nd4j.getEnvironment().isCPU();

        private static boolean openBlasPresent() {
            try {
                Class.forName("org.bytedeco.openblas.global.openblas_nolapack", false,
                        BlendKernel.class.getClassLoader());
                return HostBlend.available();
            } catch (ClassNotFoundException | LinkageError e) {
                return false;
            }
        }
    }

    private BlendKernel() {
    }

    /** {@code average ← params}. */
    static void copy(INDArray average, INDArray params) {
        average.assign(params);
    }

    /** {@code average ← decay·average + (1 − decay)·params}, in place (shadow mode). */
    static void blend(INDArray average, INDArray params, double decay) {
        blend(average, params, decay, false);
    }

    /**
     * {@code average ← decay·average + (1 − decay)·params}, then {@code params ← average} (write-back mode), in one
     * pass where the backend allows; afterwards the two are bitwise equal.
     */
    static void blendWriteBack(INDArray average, INDArray params, double decay) {
        blend(average, params, decay, true);
    }

    private static void blend(INDArray average, INDArray params, double decay, boolean writeBack) {
        if (decay == 0.0) {
            average.assign(params);
            return;
        }
        if (decay == 1.0) {
            if (writeBack) {
                params.assign(average);
            }
            return;
        }
        DataType type = average.dataType();
        boolean blas = type == DataType.FLOAT || type == DataType.DOUBLE;
        if (blas && Host.ENABLED && contiguous(average) && contiguous(params)) {
            HostBlend.blend(average, params, decay, writeBack);
            return;
        }
        if (blas) {
            Level1 level1 = Nd4j.getBlasWrapper().level1();
            level1.scal(average.length(), decay, average);
            level1.axpy(average.length(), 1.0 - decay, params, average);
        } else {
            average.muli(decay).addi(params.mul(1.0 - decay));
        }
        if (writeBack) {
            params.assign(average);
        }
    }

    /** The number of NaN or infinite elements of {@code values}. */
    static long countNonFinite(INDArray values) {
        DataType type = values.dataType();
        if (type == DataType.FLOAT || type == DataType.DOUBLE) {
            double sum = Host.ENABLED && contiguous(values) ? HostBlend.finiteUnlessNonFinite(values)
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
