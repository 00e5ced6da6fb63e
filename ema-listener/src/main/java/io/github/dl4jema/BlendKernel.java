package io.github.dl4jema;

import org.nd4j.linalg.api.blas.Level1;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.reduce.longer.MatchCondition;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.conditions.Conditions;

/**
 * The in-place blend {@code θ̄ ← ρ·θ̄ + (1 − ρ)·θ} over contiguous 1-D vectors (the flat parameter buffer or the
 * coalesced ranges of a selection).
 *
 * <p>FLOAT and DOUBLE go through ND4J's BLAS level 1 ({@code scal} then {@code axpy}), which the CPU backend runs as
 * OpenBLAS {@code cblas_?scal}/{@code cblas_?axpy} and the CUDA backend as cuBLAS on the device: no temporaries,
 * no host copies, no allocation. ND4J's scalar and pairwise ops would allocate a scalar buffer per call (and a
 * cached constant per distinct decay), which is why they are not used for these types. Other floating types
 * (HALF, BFLOAT16), which BLAS level 1 does not take on the CPU, use ND4J element-wise ops with one temporary.
 */
final class BlendKernel {

    private BlendKernel() {
    }

    /** {@code average ← params}. */
    static void copy(INDArray average, INDArray params) {
        average.assign(params);
    }

    /** {@code average ← decay·average + (1 − decay)·params}, in place. */
    static void blend(INDArray average, INDArray params, double decay) {
        if (decay == 0.0) {
            average.assign(params);
            return;
        }
        if (decay == 1.0) {
            return;
        }
        DataType type = average.dataType();
        if (type == DataType.FLOAT || type == DataType.DOUBLE) {
            Level1 blas = Nd4j.getBlasWrapper().level1();
            blas.scal(average.length(), decay, average);
            blas.axpy(average.length(), 1.0 - decay, params, average);
        } else {
            average.muli(decay).addi(params.mul(1.0 - decay));
        }
    }

    /**
     * The number of NaN or infinite elements of {@code values}. For FLOAT and DOUBLE a BLAS {@code asum} (one read
     * pass, no allocation) proves the common case: a sum of absolute values is finite only if every element is
     * (IEEE arithmetic propagates NaN and infinity). Only when it is not (or for other types) does an exact count
     * run; ND4J's reduce ops allocate a scalar result and leak a few bytes into its constant cache per call, so they
     * stay off the hot path.
     */
    static long countNonFinite(INDArray values) {
        DataType type = values.dataType();
        if ((type == DataType.FLOAT || type == DataType.DOUBLE)
                && Double.isFinite(Nd4j.getBlasWrapper().level1().asum(values))) {
            return 0;
        }
        return Nd4j.getExecutioner().exec(new MatchCondition(values, Conditions.notFinite())).getLong(0);
    }
}
