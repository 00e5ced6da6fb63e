package io.github.dl4jema;

import static org.bytedeco.openblas.global.openblas_nolapack.cblas_dasum;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_ddot;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_sasum;
import static org.bytedeco.openblas.global.openblas_nolapack.cblas_sdot;

import java.lang.reflect.Field;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceFieldUpdater;
import java.util.concurrent.locks.LockSupport;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Environment;
import org.nd4j.linalg.factory.Nd4j;
import sun.misc.Unsafe;

/**
 * The CPU fast path of {@link BlendKernel}: the blend as one fused loop over the host memory of ND4J's CPU backend,
 * and the non-finite check of the two-pass kernel as blocked OpenBLAS dot products, both split over a small fixed
 * pool of threads for large vectors.
 *
 * <p>Why a loop in Java over the arrays' memory: one pass that reads each array and writes the result once moves the
 * least memory. OpenBLAS level 1 can only run it as several calls per cache-sized block ({@code copy}, {@code axpy},
 * {@code axpy}; the JavaCPP binding of DL4J's OpenBLAS has no {@code ?axpby}), which read each block's arrays one
 * after the other; the JDK's Vector API would vectorise the loop, but on Java 17 it needs
 * {@code --add-modules jdk.incubator.vector} from every user. The loop here goes through {@code sun.misc.Unsafe}
 * (module {@code jdk.unsupported}, readable without flags). The JIT vectorises loops over Java arrays only, so it is
 * scalar and bound by instructions more than by memory, yet it measured faster than OpenBLAS blocks and than blocks
 * copied onto the heap for a vectorised loop (docs/PERFORMANCE.md). It computes {@code a + w·(p − a)} in Java's
 * strict float arithmetic (no fused multiply-add: {@code Math.fma} would fall back to {@code BigDecimal} on a CPU
 * without FMA), so every path that uses it, on any thread, gives the same bits.
 *
 * <p>The one-pass checked blend ({@link #lerpInto}) writes the new average into a second vector and folds a
 * finiteness test into the same loop: the sum of each group of four results is finite exactly when all four are
 * (NaN and infinity propagate through sums; a sum of huge finite values can overflow, and the caller then counts
 * exactly), and {@code t − t} is {@code +0} for a finite {@code t} and NaN otherwise, so OR-ing its bits flags a
 * non-finite value without a branch or a floating-point dependency chain.
 *
 * <p>Threads: from {@link #MIN_PER_THREAD} elements per thread on, the index space of all ranges is cut into chunks
 * of {@link #CHUNK} elements, which the caller and helpers of one process-wide pool of daemon threads take one by one
 * until none is left, never more threads in all than ND4J's own setting ({@code Environment.maxThreads()} and
 * {@code maxMasterThreads()}, which follow {@code OMP_NUM_THREADS}) and the processors available. Each element's
 * result depends only on its own inputs, so the split does not change a bit. Chunks handed out one at a time keep a
 * helper that another process holds off its core from stalling the update: the others take its share. The pool is
 * created once, grows to the largest count asked for, and hands work over through fields and {@code LockSupport}:
 * nothing is allocated per update. If another averager holds the pool, an update runs on its own thread.
 *
 * <p>Only this class refers to OpenBLAS, JavaCPP's typed pointers and {@code Unsafe}; {@link BlendKernel} reaches it
 * through {@link #available()}, so the library loads and runs on a backend without them (CUDA) on ND4J operations.
 * The arrays must be contiguous ({@code elementWiseStride() == 1}), on the host, FLOAT or DOUBLE.
 */
final class HostBlend {

    /**
     * Elements per OpenBLAS call of the check: 8,192 floats are 32 KB, under OpenBLAS's threshold for threading a
     * level 1 call, so a call never forks threads of its own (a threaded call stalls whenever another process holds
     * a core).
     */
    static final int BLOCK = 8192;

    /**
     * Elements per thread below which an update stays on one thread: waking a parked helper costs tens of
     * microseconds, and below this size a second thread did not pay for it (docs/PERFORMANCE.md).
     */
    static final long MIN_PER_THREAD = 1L << 18;

    /**
     * Elements per chunk of work handed to a thread: 65,536 floats take a few tens of microseconds, so a thread that
     * another process keeps off its core holds an update up by that much at most.
     */
    static final long CHUNK = 1L << 16;

    /**
     * Threads to use whatever ND4J's setting says, 0 to follow ND4J. Package-private: a test switch (the test JVMs
     * run with {@code OMP_NUM_THREADS=1}), not an option.
     */
    static volatile int threadsOverride;

    private static final ThreadLocal<Job> JOBS = ThreadLocal.withInitial(Job::new);
    private static final Pool POOL = new Pool();

    private HostBlend() {
    }

    /**
     * @return true if OpenBLAS' binding is on the classpath and loads and {@code sun.misc.Unsafe} is readable; the
     *         caller checks that ND4J runs on the CPU
     */
    static boolean available() {
        try {
            Class.forName("org.bytedeco.openblas.global.openblas_nolapack", true, HostBlend.class.getClassLoader());
            return Memory.UNSAFE != null;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /**
     * In place, range by range: {@code average[i] ← average[i] + weight·(params[i] − average[i])}, then, if
     * {@code writeBack} is not null, {@code writeBack[i] ← average[i]} in the same loop, bitwise. {@code writeBack[i]}
     * may be {@code params[i]}.
     */
    static void lerp(INDArray[] average, INDArray[] params, double weight, INDArray[] writeBack) {
        Job job = JOBS.get();
        job.set(Job.BLEND, average, params, average, writeBack, weight);
        run(job);
    }

    /**
     * One pass, range by range: {@code next[i] ← average[i] + weight·(params[i] − average[i])}, {@code average} and
     * {@code params} untouched ({@code next[i]} may be {@code params[i]}, which is then overwritten).
     *
     * @return true if every value written is finite; false if one may not be (NaN or infinite parameters, or, for
     *         absurdly large finite values, an overflow of the test), and then {@code next} holds partial results
     */
    static boolean lerpInto(INDArray[] average, INDArray[] params, INDArray[] next, double weight) {
        Job job = JOBS.get();
        job.set(Job.BLEND, average, params, next, null, weight);
        return run(job);
    }

    /**
     * One read-only pass over the ranges, each cut in two halves whose dot product is finite exactly when every element
     * is finite (a NaN or an infinity makes its product NaN or infinite, and no finite term brings a sum back). It may
     * also overflow for absurdly large finite values; the caller then counts exactly. A dot product of two halves keeps
     * two memory streams in flight, which one core reads faster than the single stream of {@code asum}.
     *
     * @return true if every element is finite; false if one may not be
     */
    static boolean allFinite(INDArray[] values) {
        Job job = JOBS.get();
        job.set(Job.CHECK, null, values, null, null, 0.0);
        return run(job);
    }

    /** Runs a job on as many threads as its size and the limits allow; true if no chunk flagged a non-finite value. */
    private static boolean run(Job job) {
        int parties = (int) Math.min(job.total / MIN_PER_THREAD, job.flags.length);
        if (parties >= 2) {
            parties = Math.min(parties, threadLimit());
        }
        job.start(Math.max(1, parties));
        try {
            if (parties < 2 || !POOL.run(job, parties)) {
                job.work(0);
            }
            return job.finite();
        } finally {
            job.clear();
        }
    }

    /** @return the most threads an update may use: ND4J's setting, or the test override */
    static int threadLimit() {
        int override = threadsOverride;
        if (override > 0) {
            return override;
        }
        Environment environment = Nd4j.getEnvironment();
        int nd4j = Math.min(environment.maxThreads(), environment.maxMasterThreads());
        return Math.max(1, Math.min(nd4j, Runtime.getRuntime().availableProcessors()));
    }

    /** The address of element 0 of a contiguous array: its buffer's base address plus the view's offset. */
    private static long address(INDArray array) {
        return array.data().address() + array.offset() * array.data().getElementSize();
    }

    /**
     * One update's work, described by addresses so that any thread can run a part of it. One per calling thread,
     * reused: nothing in it is allocated after the first call with that many ranges.
     */
    private static final class Job {
        static final int BLEND = 0;
        static final int CHECK = 1;

        int op;
        boolean doubles;
        double weight;
        int ranges;
        long[] average = new long[0];
        long[] params = new long[0];
        long[] next = new long[0];
        long[] writeBack = new long[0];
        /** {@code starts[r]} is the global index of range r's first element; {@code starts[ranges]} the total. */
        long[] starts = new long[1];
        long total;
        int parties;
        /** The next chunk to hand out: participants take chunks until none is left. */
        final AtomicLong nextChunk = new AtomicLong();
        /** Per participant: nonzero if a chunk it ran met a value that may be non-finite. */
        final long[] flags = new long[Math.max(1, Runtime.getRuntime().availableProcessors())];
        volatile Throwable failure;

        void set(int op, INDArray[] average, INDArray[] params, INDArray[] next, INDArray[] writeBack,
                 double weight) {
            this.op = op;
            this.weight = weight;
            this.doubles = params.length > 0 && params[0].dataType() == DataType.DOUBLE;
            ranges = params.length;
            if (starts.length < ranges + 1) {
                this.average = new long[ranges];
                this.params = new long[ranges];
                this.next = new long[ranges];
                this.writeBack = new long[ranges];
                starts = new long[ranges + 1];
            }
            total = 0;
            for (int r = 0; r < ranges; r++) {
                starts[r] = total;
                total += params[r].length();
                this.params[r] = address(params[r]);
                this.average[r] = average == null ? 0 : address(average[r]);
                this.next[r] = next == null ? 0 : address(next[r]);
                this.writeBack[r] = writeBack == null ? 0 : address(writeBack[r]);
            }
            starts[ranges] = total;
        }

        void start(int parties) {
            this.parties = parties;
            nextChunk.set(0);
        }

        void clear() {
            failure = null;
            for (int k = 0; k < parties; k++) {
                flags[k] = 0;
            }
        }

        boolean finite() {
            for (int k = 0; k < parties; k++) {
                if (flags[k] != 0) {
                    return false;
                }
            }
            return true;
        }

        /**
         * Runs chunks of {@link #CHUNK} elements of the global index space as participant {@code k} until none is
         * left. Chunks are handed out one by one, so a thread that another process keeps off its core delays the
         * update by one chunk at most: the others run the rest.
         */
        void work(int k) {
            long flag = 0;
            for (long c = nextChunk.getAndIncrement(); c * CHUNK < total; c = nextChunk.getAndIncrement()) {
                flag |= span(c * CHUNK, Math.min(total, (c + 1) * CHUNK));
            }
            flags[k] |= flag;
        }

        /** Runs the elements {@code [from, to)} of the global index space, range by range. */
        private long span(long from, long to) {
            int low = 0;
            int high = ranges - 1;
            while (low < high) {
                int middle = (low + high) >>> 1;
                if (starts[middle + 1] <= from) {
                    low = middle + 1;
                } else {
                    high = middle;
                }
            }
            long flag = 0;
            for (int r = low; r < ranges && starts[r] < to; r++) {
                long lo = Math.max(from, starts[r]);
                long hi = Math.min(to, starts[r + 1]);
                if (lo >= hi) {
                    continue;
                }
                long at = lo - starts[r];
                long n = hi - lo;
                if (op == CHECK) {
                    double sum = doubles ? Check.doubles(params[r], at, n) : Check.floats(params[r], at, n);
                    flag |= Double.isFinite(sum) ? 0 : 1;
                } else if (doubles) {
                    flag |= Memory.lerpDoubles(average[r] + 8 * at, params[r] + 8 * at, next[r] + 8 * at,
                            writeBack[r] == 0 ? 0 : writeBack[r] + 8 * at, n, weight);
                } else {
                    flag |= Memory.lerpFloats(average[r] + 4 * at, params[r] + 4 * at, next[r] + 4 * at,
                            writeBack[r] == 0 ? 0 : writeBack[r] + 4 * at, n, (float) weight);
                }
            }
            return flag;
        }
    }

    /** The fused loops over host memory. */
    private static final class Memory {
        static final Unsafe UNSAFE = unsafe();

        private static Unsafe unsafe() {
            try {
                Field field = Unsafe.class.getDeclaredField("theUnsafe");
                field.setAccessible(true);
                return (Unsafe) field.get(null);
            } catch (ReflectiveOperationException | RuntimeException e) {
                return null;
            }
        }

        /**
         * {@code b[i] ← a[i] + w·(p[i] − a[i])} and, if {@code wb} is not 0, {@code wb[i] ← b[i]}, for {@code n}
         * floats at the given addresses; each group of four is read before it is written, so {@code b} may be
         * {@code a} or {@code p}, and {@code wb} may be {@code p}.
         *
         * @return nonzero if a value written may be non-finite
         */
        static long lerpFloats(long a, long p, long b, long wb, long n, float w) {
            Unsafe u = UNSAFE;
            int flag = 0;
            long end = 4 * (n & ~3L);
            long o = 0;
            for (; o < end; o += 16) {
                float x0 = u.getFloat(a + o);
                float x1 = u.getFloat(a + o + 4);
                float x2 = u.getFloat(a + o + 8);
                float x3 = u.getFloat(a + o + 12);
                float v0 = x0 + w * (u.getFloat(p + o) - x0);
                float v1 = x1 + w * (u.getFloat(p + o + 4) - x1);
                float v2 = x2 + w * (u.getFloat(p + o + 8) - x2);
                float v3 = x3 + w * (u.getFloat(p + o + 12) - x3);
                u.putFloat(b + o, v0);
                u.putFloat(b + o + 4, v1);
                u.putFloat(b + o + 8, v2);
                u.putFloat(b + o + 12, v3);
                if (wb != 0) {
                    u.putFloat(wb + o, v0);
                    u.putFloat(wb + o + 4, v1);
                    u.putFloat(wb + o + 8, v2);
                    u.putFloat(wb + o + 12, v3);
                }
                float t = (v0 + v1) + (v2 + v3);
                flag |= Float.floatToRawIntBits(t - t);
            }
            for (end = 4 * n; o < end; o += 4) {
                float x = u.getFloat(a + o);
                float v = x + w * (u.getFloat(p + o) - x);
                u.putFloat(b + o, v);
                if (wb != 0) {
                    u.putFloat(wb + o, v);
                }
                flag |= Float.floatToRawIntBits(v - v);
            }
            return flag;
        }

        /** {@link #lerpFloats} for doubles. */
        static long lerpDoubles(long a, long p, long b, long wb, long n, double w) {
            Unsafe u = UNSAFE;
            long flag = 0;
            long end = 8 * (n & ~3L);
            long o = 0;
            for (; o < end; o += 32) {
                double x0 = u.getDouble(a + o);
                double x1 = u.getDouble(a + o + 8);
                double x2 = u.getDouble(a + o + 16);
                double x3 = u.getDouble(a + o + 24);
                double v0 = x0 + w * (u.getDouble(p + o) - x0);
                double v1 = x1 + w * (u.getDouble(p + o + 8) - x1);
                double v2 = x2 + w * (u.getDouble(p + o + 16) - x2);
                double v3 = x3 + w * (u.getDouble(p + o + 24) - x3);
                u.putDouble(b + o, v0);
                u.putDouble(b + o + 8, v1);
                u.putDouble(b + o + 16, v2);
                u.putDouble(b + o + 24, v3);
                if (wb != 0) {
                    u.putDouble(wb + o, v0);
                    u.putDouble(wb + o + 8, v1);
                    u.putDouble(wb + o + 16, v2);
                    u.putDouble(wb + o + 24, v3);
                }
                double t = (v0 + v1) + (v2 + v3);
                flag |= Double.doubleToRawLongBits(t - t);
            }
            for (end = 8 * n; o < end; o += 8) {
                double x = u.getDouble(a + o);
                double v = x + w * (u.getDouble(p + o) - x);
                u.putDouble(b + o, v);
                if (wb != 0) {
                    u.putDouble(wb + o, v);
                }
                flag |= Double.doubleToRawLongBits(v - v);
            }
            return flag;
        }
    }

    /** The two-pass kernel's check: blocked OpenBLAS dot products of two halves, on per-thread pointers. */
    private static final class Check {
        private static final ThreadLocal<Check> SPANS = ThreadLocal.withInitial(Check::new);

        final FloatSpan floatLow = new FloatSpan();
        final FloatSpan floatHigh = new FloatSpan();
        final DoubleSpan doubleLow = new DoubleSpan();
        final DoubleSpan doubleHigh = new DoubleSpan();

        /** The dot product of the first half of {@code n} floats from {@code start + 4·at} with the second half. */
        static double floats(long start, long at, long n) {
            Check spans = SPANS.get();
            long half = n / 2;
            FloatPointer low = spans.floatLow.at(start + 4 * at, n);
            FloatPointer high = spans.floatHigh.at(start + 4 * at, n);
            double sum = 0.0;
            for (long from = 0; from < half; from += BLOCK) {
                low.position(from);
                high.position(half + from);
                sum += cblas_sdot((int) Math.min(BLOCK, half - from), low, 1, high, 1);
            }
            if (n % 2 == 1) {
                low.position(n - 1);
                sum += cblas_sasum(1, low, 1);
            }
            return sum;
        }

        /** {@link #floats} for doubles. */
        static double doubles(long start, long at, long n) {
            Check spans = SPANS.get();
            long half = n / 2;
            DoublePointer low = spans.doubleLow.at(start + 8 * at, n);
            DoublePointer high = spans.doubleHigh.at(start + 8 * at, n);
            double sum = 0.0;
            for (long from = 0; from < half; from += BLOCK) {
                low.position(from);
                high.position(half + from);
                sum += cblas_ddot((int) Math.min(BLOCK, half - from), low, 1, high, 1);
            }
            if (n % 2 == 1) {
                low.position(n - 1);
                sum += cblas_dasum(1, low, 1);
            }
            return sum;
        }
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

    /**
     * The process-wide helper threads. A run assigns the job to helpers {@code 1 .. parties − 1} through their
     * {@code assigned} field, takes chunks itself, and then revokes every assignment a helper has not taken yet; it
     * waits only for helpers that took theirs, and at most for the chunk each is running. A helper parks while it has
     * nothing assigned. One run at a time: a caller that finds the pool busy runs its job alone.
     */
    static final class Pool {
        /** What a helper's {@code assigned} holds while it works on a job. */
        private static final Job TAKEN = new Job();

        private final AtomicBoolean busy = new AtomicBoolean();
        private volatile Helper[] helpers = new Helper[0];

        /** @return false if the pool is busy (the caller then runs the job alone) */
        boolean run(Job job, int parties) {
            if (!busy.compareAndSet(false, true)) {
                return false;
            }
            try {
                ensureHelpers(parties - 1);
                Helper[] started = helpers;
                Thread caller = Thread.currentThread();
                for (int k = 1; k < parties; k++) {
                    started[k - 1].caller = caller;
                    started[k - 1].assigned = job;
                    LockSupport.unpark(started[k - 1]);
                }
                try {
                    job.work(0);
                } finally {
                    for (int k = 1; k < parties; k++) {
                        Helper helper = started[k - 1];
                        if (!Helper.ASSIGNED.compareAndSet(helper, job, null)) {
                            while (helper.assigned != null) {
                                LockSupport.park(this);
                            }
                        }
                    }
                }
                Throwable failure = job.failure;
                if (failure != null) {
                    throw new IllegalStateException("a blend thread failed: " + failure, failure);
                }
                return true;
            } finally {
                busy.set(false);
            }
        }

        /** @return the helper threads started so far (a copy) */
        Thread[] threads() {
            return helpers.clone();
        }

        private void ensureHelpers(int count) {
            Helper[] current = helpers;
            if (current.length >= count) {
                return;
            }
            Helper[] grown = Arrays.copyOf(current, count);
            for (int k = current.length; k < count; k++) {
                grown[k] = new Helper(k + 1);
                grown[k].start();
            }
            helpers = grown;
        }
    }

    /** @return the pool (for tests that look at its threads) */
    static Pool pool() {
        return POOL;
    }

    /** A daemon thread that takes chunks of whatever job it is assigned, as participant {@code index}. */
    private static final class Helper extends Thread {
        static final AtomicReferenceFieldUpdater<Helper, Job> ASSIGNED =
                AtomicReferenceFieldUpdater.newUpdater(Helper.class, Job.class, "assigned");

        private final int index;
        volatile Job assigned;
        volatile Thread caller;

        Helper(int index) {
            super("dl4j-ema-blend-" + index);
            this.index = index;
            setDaemon(true);
        }

        @Override
        public void run() {
            while (true) {
                Job job = assigned;
                if (job == null || job == Pool.TAKEN || !ASSIGNED.compareAndSet(this, job, Pool.TAKEN)) {
                    LockSupport.park(this);
                    continue;
                }
                try {
                    job.work(index);
                } catch (Throwable e) {
                    job.failure = e;
                } finally {
                    assigned = null;
                    LockSupport.unpark(caller);
                }
            }
        }
    }
}
