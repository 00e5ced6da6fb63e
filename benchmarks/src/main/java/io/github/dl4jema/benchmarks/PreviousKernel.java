package io.github.dl4jema.benchmarks;

import static org.bytedeco.openblas.global.openblas_nolapack.cblas_daxpy;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_dcopy;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_ddot;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_saxpy;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_scopy;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_sdot;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The listener's kernel before the one-pass check (commit f4b8028), kept here to measure the change against it in the
 * same rounds: a read-only check (blocked OpenBLAS dot product of the vector's two halves), then the lerp as blocks of
 * 8,192 elements of OpenBLAS level 1 calls, {@code copy} of the parameters into a scratch block, {@code axpy(−1)},
 * {@code axpy(w)} into the average, and in write-back mode {@code copy} back into the parameters. Single-threaded.
 */
final class PreviousKernel {

    private static final int BLOCK = 8192;

    private final Span average = new Span();
    private final Span params = new Span();
    private final Span low = new Span();
    private final Span high = new Span();
    private final FloatPointer floatScratch = new FloatPointer(BLOCK);
    private final DoublePointer doubleScratch = new DoublePointer(BLOCK);
    private final INDArray averageArray;
    private final INDArray paramsArray;

    /**
     * @param average the average, updated in place
     * @param params  the parameters; in write-back mode set to the new average
     */
    PreviousKernel(INDArray average, INDArray params) {
        this.averageArray = average;
        this.paramsArray = params;
    }

    /**
     * The check, then the blend, as the listener ran them.
     *
     * @param decay     the decay
     * @param writeBack whether to copy the average back into the parameters block by block
     * @return the check's dot product (finite when every parameter is)
     */
    double update(double decay, boolean writeBack) {
        long n = averageArray.length();
        long a = address(averageArray);
        long p = address(paramsArray);
        double weight = 1.0 - decay;
        long half = n / 2;
        double sum = 0;
        if (averageArray.dataType() == DataType.FLOAT) {
            FloatPointer lo = low.floats(p, n);
            FloatPointer hi = high.floats(p, n);
            for (long from = 0; from < half; from += BLOCK) {
                lo.position(from);
                hi.position(half + from);
                sum += cblas_sdot((int) Math.min(BLOCK, half - from), lo, 1, hi, 1);
            }
            FloatPointer av = average.floats(a, n);
            FloatPointer pv = params.floats(p, n);
            for (long from = 0; from < n; from += BLOCK) {
                int len = (int) Math.min(BLOCK, n - from);
                av.position(from);
                pv.position(from);
                cblas_scopy(len, pv, 1, floatScratch, 1);
                cblas_saxpy(len, -1f, av, 1, floatScratch, 1);
                cblas_saxpy(len, (float) weight, floatScratch, 1, av, 1);
                if (writeBack) {
                    cblas_scopy(len, av, 1, pv, 1);
                }
            }
        } else {
            DoublePointer lo = low.doubles(p, n);
            DoublePointer hi = high.doubles(p, n);
            for (long from = 0; from < half; from += BLOCK) {
                lo.position(from);
                hi.position(half + from);
                sum += cblas_ddot((int) Math.min(BLOCK, half - from), lo, 1, hi, 1);
            }
            DoublePointer av = average.doubles(a, n);
            DoublePointer pv = params.doubles(p, n);
            for (long from = 0; from < n; from += BLOCK) {
                int len = (int) Math.min(BLOCK, n - from);
                av.position(from);
                pv.position(from);
                cblas_dcopy(len, pv, 1, doubleScratch, 1);
                cblas_daxpy(len, -1.0, av, 1, doubleScratch, 1);
                cblas_daxpy(len, weight, doubleScratch, 1, av, 1);
                if (writeBack) {
                    cblas_dcopy(len, av, 1, pv, 1);
                }
            }
        }
        return sum;
    }

    private static long address(INDArray array) {
        return array.data().address() + array.offset() * array.data().getElementSize();
    }

    /** Re-aimable pointers of both types over memory they do not own. */
    private static final class Span {
        private final FloatSpan floatSpan = new FloatSpan();
        private final DoubleSpan doubleSpan = new DoubleSpan();

        FloatPointer floats(long start, long count) {
            return floatSpan.at(start, count);
        }

        DoublePointer doubles(long start, long count) {
            return doubleSpan.at(start, count);
        }
    }

    /** A {@code FloatPointer} that can be re-aimed. */
    private static final class FloatSpan extends FloatPointer {
        FloatPointer at(long start, long count) {
            address = start;
            capacity = count;
            limit = count;
            position = 0;
            return this;
        }
    }

    /** A {@code DoublePointer} that can be re-aimed. */
    private static final class DoubleSpan extends DoublePointer {
        DoublePointer at(long start, long count) {
            address = start;
            capacity = count;
            limit = count;
            position = 0;
            return this;
        }
    }
}
