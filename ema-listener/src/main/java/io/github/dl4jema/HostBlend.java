package io.github.dl4jema;

import static org.bytedeco.openblas.global.openblas_nolapack.cblas_dasum;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_daxpy;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_dcopy;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_ddot;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_sasum;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_saxpy;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_scopy;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_sdot;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The CPU fast path of {@link BlendKernel}: the blend run as cache-sized blocks of OpenBLAS level 1 calls on the host
 * memory of ND4J's CPU backend, through the JavaCPP binding ({@code openblas_nolapack}) that the backend itself
 * loads.
 *
 * <p>Why blocks: the blend is pure memory traffic. Run over the whole vector, the lerp's {@code copy}, two
 * {@code axpy} (and a copy back for write-back) would stream it from memory several times. Run over blocks of
 * {@link #BLOCK} elements, the later calls find the block in cache (the difference {@code θ − θ̄} lives in a
 * per-thread scratch block that never leaves L1/L2), so the whole update streams each array once: 12N bytes in
 * shadow mode, 16N in write-back mode, the floors of a one-pass loop. OpenBLAS does not thread {@code axpy} below
 * 10,000 elements, so a block never pays for a thread fork (a threaded call stalls whenever another process holds a
 * core). The passes over a block in cache still cost (docs/PERFORMANCE.md measures the update against one-pass
 * floors).
 *
 * <p>Only this class refers to OpenBLAS and JavaCPP's typed pointers; {@link BlendKernel} reaches it through
 * {@link #available()}, so the library loads and runs on a backend without OpenBLAS (CUDA) on ND4J operations. The
 * arrays must be contiguous ({@code elementWiseStride() == 1}) and on the host. Every call is allocation-free: the
 * pointers handed to OpenBLAS are per-thread objects re-aimed at each array's address.
 */
final class HostBlend {

    /**
     * Elements per block: 8,192 floats are 32 KB per array, so a block of both arrays stays in any x86 or ARM L2 cache,
     * and stays under OpenBLAS's 10,000-element threading threshold of {@code axpy}.
     */
    static final int BLOCK = 8192;

    private static final ThreadLocal<Spans> SPANS = ThreadLocal.withInitial(Spans::new);

    private HostBlend() {
    }

    /** @return true if OpenBLAS' binding is on the classpath and loads; the caller checks that ND4J runs on the CPU */
    static boolean available() {
        try {
            Class.forName("org.bytedeco.openblas.global.openblas_nolapack", true, HostBlend.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /**
     * {@code average ← average + weight·(params − average)}, then, if {@code writeBack} is not null,
     * {@code writeBack ← average}, block by block: {@code copy} the block of {@code params} into a per-thread scratch
     * block that stays in L1/L2, {@code axpy(−1)} the average from it, {@code axpy(weight)} it into the average, and
     * copy the block back. Each array streams from memory once; the copy makes the network's weights bitwise equal to
     * the average.
     */
    static void lerp(INDArray average, INDArray params, double weight, INDArray writeBack) {
        long n = average.length();
        Spans spans = SPANS.get();
        if (average.dataType() == DataType.FLOAT) {
            FloatPointer a = spans.floatAverage.at(address(average), n);
            FloatPointer p = spans.floatParams.at(address(params), n);
            FloatPointer w = writeBack == null ? null : spans.floatTarget.at(address(writeBack), n);
            FloatPointer s = spans.floatScratch;
            float take = (float) weight;
            for (long from = 0; from < n; from += BLOCK) {
                int len = (int) Math.min(BLOCK, n - from);
                a.position(from);
                p.position(from);
                cblas_scopy(len, p, 1, s, 1);
                cblas_saxpy(len, -1f, a, 1, s, 1);
                cblas_saxpy(len, take, s, 1, a, 1);
                if (w != null) {
                    w.position(from);
                    cblas_scopy(len, a, 1, w, 1);
                }
            }
        } else {
            DoublePointer a = spans.doubleAverage.at(address(average), n);
            DoublePointer p = spans.doubleParams.at(address(params), n);
            DoublePointer w = writeBack == null ? null : spans.doubleTarget.at(address(writeBack), n);
            DoublePointer s = spans.doubleScratch;
            for (long from = 0; from < n; from += BLOCK) {
                int len = (int) Math.min(BLOCK, n - from);
                a.position(from);
                p.position(from);
                cblas_dcopy(len, p, 1, s, 1);
                cblas_daxpy(len, -1.0, a, 1, s, 1);
                cblas_daxpy(len, weight, s, 1, a, 1);
                if (w != null) {
                    w.position(from);
                    cblas_dcopy(len, a, 1, w, 1);
                }
            }
        }
    }

    /**
     * A number that is finite exactly when every element is finite: the dot product of the first half of the array
     * with the second half (a NaN or an infinity makes its product NaN or infinite, and no finite term can bring a sum
     * back from there). It may also overflow for absurdly large finite parameters; the caller then counts exactly.
     * One read-only pass, block by block and unthreaded like the blend; a dot product of the two halves keeps two
     * memory streams in flight at once, which read about a quarter faster on one core than a single stream
     * ({@code asum}) did.
     */
    static double finiteUnlessNonFinite(INDArray values) {
        long n = values.length();
        long half = n / 2;
        Spans spans = SPANS.get();
        double sum = 0.0;
        if (values.dataType() == DataType.FLOAT) {
            FloatPointer low = spans.floatAverage.at(address(values), n);
            FloatPointer high = spans.floatParams.at(address(values), n);
            for (long from = 0; from < half; from += BLOCK) {
                low.position(from);
                high.position(half + from);
                sum += cblas_sdot((int) Math.min(BLOCK, half - from), low, 1, high, 1);
            }
            if (n % 2 == 1) {
                low.position(n - 1);
                sum += cblas_sasum(1, low, 1);
            }
        } else {
            DoublePointer low = spans.doubleAverage.at(address(values), n);
            DoublePointer high = spans.doubleParams.at(address(values), n);
            for (long from = 0; from < half; from += BLOCK) {
                low.position(from);
                high.position(half + from);
                sum += cblas_ddot((int) Math.min(BLOCK, half - from), low, 1, high, 1);
            }
            if (n % 2 == 1) {
                low.position(n - 1);
                sum += cblas_dasum(1, low, 1);
            }
        }
        return sum;
    }

    /** The address of element 0 of a contiguous array: its buffer's base address plus the view's offset. */
    private static long address(INDArray array) {
        return array.data().address() + array.offset() * array.data().getElementSize();
    }

    /** Reusable typed pointers, one set per thread, so that no call creates a pointer object. */
    private static final class Spans {
        final FloatSpan floatAverage = new FloatSpan();
        final FloatSpan floatParams = new FloatSpan();
        final FloatSpan floatTarget = new FloatSpan();
        final DoubleSpan doubleAverage = new DoubleSpan();
        final DoubleSpan doubleParams = new DoubleSpan();
        final DoubleSpan doubleTarget = new DoubleSpan();
        /** One block of scratch per thread, allocated once: the block of {@code θ − θ̄} stays in cache. */
        final FloatPointer floatScratch = new FloatPointer(BLOCK);
        final DoublePointer doubleScratch = new DoublePointer(BLOCK);
    }

    /** A {@code FloatPointer} that can be re-aimed; it never owns memory, so it needs no deallocator. */
    private static final class FloatSpan extends FloatPointer {
        FloatPointer at(long start, long count) {
            address = start;
            capacity = count;
            limit = count;
            position = 0;
            return this;
        }
    }

    /** A {@code DoublePointer} that can be re-aimed; it never owns memory, so it needs no deallocator. */
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
