package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Random;
import java.util.concurrent.locks.LockSupport;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The host path's two kernels against each other, against a recomputation in the test, and on one thread against
 * two: the one-pass checked blend into a second vector ({@link BlendKernel#blendInto}) and the two-pass kernel's
 * in-place blend ({@link BlendKernel#blend}) and check ({@link BlendKernel#countNonFinite}). The vectors are ranges
 * with offsets into flat buffers, as a parameter selection gives them.
 */
class OnePassKernelTest {

    /** Large enough for two threads ({@link HostBlend#MIN_PER_THREAD} each), ending in a group of fewer than four. */
    private static final int LARGE = (int) (2 * HostBlend.MIN_PER_THREAD + 4_099);
    private static final int SMALL = 3 * HostBlend.BLOCK + 17;
    private static final int OFFSET = 13;
    private static final int GAP = 9;
    private static final double WEIGHT = 0.07;

    @BeforeEach
    void hostPath() {
        assertTrue(BlendKernel.onHost(DataType.FLOAT) && BlendKernel.onHost(DataType.DOUBLE),
                "the unit tests run on ND4J's CPU backend, where the host path applies");
    }

    @AfterEach
    void threadsFollowNd4j() {
        HostBlend.threadsOverride = 0;
    }

    /** Two ranges of a flat buffer: {@code [OFFSET, OFFSET + a)} and {@code [OFFSET + a + GAP, length - 5)}. */
    private static final class Ranges {
        final INDArray average;
        final INDArray params;
        final INDArray next;
        final long[] ranges;

        Ranges(DataType type, int length, long seed) {
            Random random = new Random(seed);
            average = Nd4j.createFromArray(gaussian(random, length)).castTo(type);
            params = Nd4j.createFromArray(gaussian(random, length)).castTo(type);
            next = Nd4j.zeros(type, length);
            int split = OFFSET + length / 3;
            ranges = new long[] {OFFSET, split, split + GAP, length - 5};
        }

        INDArray[] views(INDArray flat) {
            return ModelSlot.slice(flat, ranges);
        }

        boolean inside(int i) {
            return i >= ranges[0] && i < ranges[1] || i >= ranges[2] && i < ranges[3];
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"FLOAT", "DOUBLE"})
    void onePassWritesTheLerpIntoTheSecondVectorAndLeavesTheAverageAndTheParametersAlone(DataType type) {
        Ranges r = new Ranges(type, SMALL, 1);
        double[] a = r.average.toDoubleVector();
        double[] p = r.params.toDoubleVector();

        assertTrue(BlendKernel.blendInto(r.views(r.average), r.views(r.params), r.views(r.next), WEIGHT));

        double[] next = r.next.toDoubleVector();
        double tolerance = type == DataType.FLOAT ? 1e-6 : 1e-14;
        for (int i = 0; i < SMALL; i++) {
            double expected = r.inside(i) ? a[i] + WEIGHT * (p[i] - a[i]) : 0.0;
            assertEquals(expected, next[i], tolerance, "next[" + i + "]");
        }
        assertArrayEquals(a, r.average.toDoubleVector(), "the average is untouched");
        assertArrayEquals(p, r.params.toDoubleVector(), "the parameters are untouched");
    }

    @ParameterizedTest
    @EnumSource(names = {"FLOAT", "DOUBLE"})
    void onePassAndTwoPassGiveTheSameBitsAsTheLerpComputedInTheParametersType(DataType type) {
        for (double weight : new double[] {1e-4, 0.07, 0.5, 0.999}) {
            Ranges r = new Ranges(type, SMALL, 2);
            double[] a = r.average.toDoubleVector();
            double[] p = r.params.toDoubleVector();
            assertTrue(BlendKernel.blendInto(r.views(r.average), r.views(r.params), r.views(r.next), weight));
            BlendKernel.blend(r.views(r.average), r.views(r.params), null, weight, null);
            long[] onePass = bits(r.next);
            long[] twoPass = bits(r.average);
            for (int i = 0; i < SMALL; i++) {
                if (!r.inside(i)) {
                    continue;
                }
                long expected = type == DataType.FLOAT
                        ? Float.floatToRawIntBits((float) a[i] + (float) weight * ((float) p[i] - (float) a[i]))
                        : Double.doubleToRawLongBits(a[i] + weight * (p[i] - a[i]));
                assertEquals(expected, twoPass[i], "two-pass element " + i + " at weight " + weight);
                assertEquals(twoPass[i], onePass[i], "one-pass element " + i + " at weight " + weight);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(names = {"FLOAT", "DOUBLE"})
    void twoThreadsGiveTheBitsOfOne(DataType type) {
        long[][] results = new long[2][];
        long[][] writtenBack = new long[2][];
        long[][] onePass = new long[2][];
        ThreadMXBean bean = ManagementFactory.getThreadMXBean();
        long helperCpuBefore = 0;
        for (int threads = 1; threads <= 2; threads++) {
            HostBlend.threadsOverride = threads;
            Ranges r = new Ranges(type, LARGE, 3);
            if (threads == 2) {
                helperCpuBefore = helperCpuTime(bean);
            }
            assertTrue(BlendKernel.blendInto(r.views(r.average), r.views(r.params), r.views(r.next), WEIGHT));
            BlendKernel.blend(r.views(r.average), r.views(r.params), null, WEIGHT, r.views(r.params));
            onePass[threads - 1] = bits(r.next);
            results[threads - 1] = bits(r.average);
            writtenBack[threads - 1] = bits(r.params);
            assertEquals(0, BlendKernel.countNonFinite(r.views(r.params)));
            r.params.putScalar(LARGE - 6, Double.NaN);
            assertEquals(1, BlendKernel.countNonFinite(r.views(r.params)), "a NaN in the last thread's part");
        }
        assertTrue(HostBlend.pool().threads().length >= 1, "a helper thread was started");
        // a helper that another process keeps off its core runs (and counts its CPU time) when it gets one back
        for (long deadline = System.nanoTime() + 5_000_000_000L;
             helperCpuTime(bean) <= helperCpuBefore && System.nanoTime() < deadline; ) {
            LockSupport.parkNanos(10_000_000L);
        }
        assertTrue(helperCpuTime(bean) > helperCpuBefore, "the helper threads worked");
        assertArrayEquals(onePass[0], onePass[1], "one-pass kernel");
        assertArrayEquals(results[0], results[1], "two-pass kernel");
        assertArrayEquals(writtenBack[0], writtenBack[1], "write-back");
    }

    static Stream<Arguments> badValues() {
        return Stream.of(DataType.FLOAT, DataType.DOUBLE).flatMap(type -> Stream.of(1, 2).flatMap(threads ->
                Stream.of("first", "middle", "last").flatMap(where -> Stream.of(Double.NaN,
                        Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY).map(value ->
                        Arguments.of(type, threads, where, value)))));
    }

    /**
     * Wherever the one pass meets a NaN or an infinity (the first element of the first range, the middle, where two
     * threads split the work, or the last element of the last range, in the scalar tail after the groups of four), it
     * reports it, and the average is untouched.
     */
    @ParameterizedTest(name = "{0}, {1} thread(s), {2}, {3}")
    @MethodSource("badValues")
    void onePassFlagsANonFiniteValueWhereverItIs(DataType type, int threads, String where, double value) {
        HostBlend.threadsOverride = threads;
        Ranges r = new Ranges(type, LARGE, 4);
        long[] average = bits(r.average);
        int at = switch (where) {
            case "first" -> (int) r.ranges[0];
            case "middle" -> (int) (r.ranges[2] + (r.ranges[3] - r.ranges[2]) / 2);
            default -> (int) r.ranges[3] - 1;
        };
        r.params.putScalar(at, value);
        assertFalse(BlendKernel.blendInto(r.views(r.average), r.views(r.params), r.views(r.next), WEIGHT));
        assertArrayEquals(average, bits(r.average), "the average is untouched");
        assertEquals(1, BlendKernel.countNonFinite(r.views(r.params)));
    }

    @Test
    void hugeFiniteValuesRaiseAFalseAlarmThatTheExactCountClears() {
        INDArray average = Nd4j.valueArrayOf(new long[] {64}, 3e38f, DataType.FLOAT);
        INDArray params = Nd4j.valueArrayOf(new long[] {64}, 2.9e38f, DataType.FLOAT);
        INDArray next = Nd4j.zeros(DataType.FLOAT, 64);
        assertFalse(BlendKernel.blendInto(new INDArray[] {average}, new INDArray[] {params}, new INDArray[] {next},
                0.5), "sums of values near the largest float overflow");
        assertEquals(0, BlendKernel.countNonFinite(new INDArray[] {params}));
    }

    @ParameterizedTest
    @EnumSource(names = {"SKIP", "SKIP_LOW_MEMORY"})
    void anUpdateOfHugeFiniteValuesIsTakenByEitherKernel(NonFinitePolicy policy) {
        int n = 64;
        INDArray params = Nd4j.valueArrayOf(new long[] {n}, 3e38f, DataType.FLOAT);
        INDArray[] views = {params};
        RunningAverage average = new RunningAverage(EmaListener.exponential(0.5).nonFinite(policy).config(),
                new long[] {0, n}, n, DataType.FLOAT);
        assertTrue(average.update(views, 1, "a vector"));
        params.assign(2e38f);
        assertTrue(average.update(views, 2, "a vector"));
        assertEquals(2, average.snapshots());
        assertEquals(0, average.skippedUpdates());
        float expected = 3e38f + 0.5f * (2e38f - 3e38f);
        assertEquals(expected, average.average().getFloat(n - 1), 0.0f);
    }

    private static long helperCpuTime(ThreadMXBean bean) {
        long total = 0;
        for (Thread helper : HostBlend.pool().threads()) {
            total += Math.max(0, bean.getThreadCpuTime(helper.getId()));
        }
        return total;
    }

    static long[] bits(INDArray array) {
        if (array.dataType() == DataType.DOUBLE) {
            double[] values = array.toDoubleVector();
            long[] bits = new long[values.length];
            for (int i = 0; i < values.length; i++) {
                bits[i] = Double.doubleToRawLongBits(values[i]);
            }
            return bits;
        }
        float[] values = array.castTo(DataType.FLOAT).toFloatVector();
        long[] bits = new long[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = Float.floatToRawIntBits(values[i]);
        }
        return bits;
    }

    private static double[] gaussian(Random random, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = random.nextGaussian();
        }
        return v;
    }
}
