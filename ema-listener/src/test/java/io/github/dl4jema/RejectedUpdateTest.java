package io.github.dl4jema;

import static io.github.dl4jema.OnePassKernelTest.bits;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * A rejected update leaves the stored average and the parameters exactly as they were, bit for bit, under both
 * kernels ({@link NonFinitePolicy#SKIP}: one pass into a second vector; {@link NonFinitePolicy#SKIP_LOW_MEMORY}: a
 * check before the blend; {@link NonFinitePolicy#FAIL} throws), in both placements, for FLOAT, DOUBLE and HALF
 * parameters, wherever the NaN or infinity sits: in the first block, in the middle, or at the very end of the last,
 * partial block. The next accepted update then gives the bits an averager that never saw the rejected one gives.
 * {@link PortablePathTest} runs it again on the portable (CUDA) path.
 */
class RejectedUpdateTest {

    /** Three of the check's blocks and a partial one, in a selection with an offset and a gap. */
    private static final int LENGTH = 3 * HostBlend.BLOCK + 45;
    private static final long[] RANGES = {7, 20_000, 20_011, LENGTH - 3};

    @AfterEach
    void threadsFollowNd4j() {
        HostBlend.threadsOverride = 0;
    }

    static Stream<Arguments> cases() {
        return Stream.of(NonFinitePolicy.values()).flatMap(policy -> Stream.of(AverageMode.values()).flatMap(mode ->
                Stream.of(DataType.FLOAT, DataType.DOUBLE, DataType.HALF).flatMap(type ->
                        Stream.of("first block", "middle", "last partial block").flatMap(where ->
                                Stream.of(Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY)
                                        .map(value -> Arguments.of(policy, mode, type, where, value))))));
    }

    @ParameterizedTest(name = "{0}, {1}, {2}, {3}, {4}")
    @MethodSource("cases")
    void aRejectedUpdateChangesNothingAndTheNextOneContinuesAsIfItHadNotHappened(NonFinitePolicy policy,
            AverageMode mode, DataType type, String where, double value) {
        INDArray params = Nd4j.zeros(type, LENGTH);
        INDArray[] views = ModelSlot.slice(params, RANGES);
        EmaConfig config = EmaListener.exponential(0.9).mode(mode).nonFinite(policy).config();
        RunningAverage average = new RunningAverage(config, RANGES, LENGTH, type);
        RunningAverage reference = new RunningAverage(config, RANGES, LENGTH, type);
        INDArray referenceParams = Nd4j.zeros(type, LENGTH);
        INDArray[] referenceViews = ModelSlot.slice(referenceParams, RANGES);
        for (int k = 1; k <= 3; k++) {
            load(params, k);
            load(referenceParams, k);
            assertTrue(average.update(views, k, "a vector"));
            assertTrue(reference.update(referenceViews, k, "a vector"));
        }
        load(params, 4);
        int at = switch (where) {
            case "first block" -> (int) RANGES[0];
            case "middle" -> LENGTH / 2;
            default -> (int) RANGES[3] - 1;
        };
        double held = params.getDouble(at);
        params.putScalar(at, value);
        long[] averageBefore = bits(average.average());
        long[] paramsBefore = bits(params);

        if (policy == NonFinitePolicy.FAIL) {
            assertThrows(NonFiniteParametersException.class, () -> average.update(views, 4, "a vector"));
        } else {
            assertFalse(average.update(views, 4, "a vector"));
            assertEquals(1, average.skippedUpdates());
        }
        assertArrayEquals(averageBefore, bits(average.average()), "the average, bit for bit");
        assertArrayEquals(paramsBefore, bits(params), "the parameters, bit for bit");
        assertEquals(3, average.snapshots());

        params.putScalar(at, held);
        load(referenceParams, 4);
        assertTrue(average.update(views, 5, "a vector"));
        assertTrue(reference.update(referenceViews, 5, "a vector"));
        assertArrayEquals(bits(reference.average()), bits(average.average()), "the average after the next update");
        assertArrayEquals(bits(referenceParams), bits(params), "the parameters after the next update");
        assertZeroOutsideTheSelection(average.average());
    }

    static Stream<Arguments> threadedCases() {
        return Stream.of(NonFinitePolicy.SKIP, NonFinitePolicy.SKIP_LOW_MEMORY).flatMap(policy ->
                Stream.of(AverageMode.values()).map(mode -> Arguments.of(policy, mode)));
    }

    /** The same on two threads, with the NaN in the second thread's part. */
    @ParameterizedTest(name = "{0}, {1}")
    @MethodSource("threadedCases")
    void aRejectedUpdateOnTwoThreadsChangesNothing(NonFinitePolicy policy, AverageMode mode) {
        HostBlend.threadsOverride = 2;
        int n = (int) (2 * HostBlend.MIN_PER_THREAD + 1001);
        INDArray params = Nd4j.rand(DataType.FLOAT, n);
        INDArray[] views = {params};
        RunningAverage average = new RunningAverage(EmaListener.exponential(0.9).mode(mode).nonFinite(policy)
                .config(), new long[] {0, n}, n, DataType.FLOAT);
        assertTrue(average.update(views, 1, "a vector"));
        params.addi(0.5);
        assertTrue(average.update(views, 2, "a vector"));
        params.addi(0.25);
        params.putScalar(n - 2, Double.NaN);
        long[] averageBefore = bits(average.average());
        long[] paramsBefore = bits(params);
        assertFalse(average.update(views, 3, "a vector"));
        assertArrayEquals(averageBefore, bits(average.average()), "the average, bit for bit");
        assertArrayEquals(paramsBefore, bits(params), "the parameters, bit for bit");
    }

    /** Snapshot k: {@code θₖ[j] = sin(0.7k + 0.3j)·(1 + 0.1k)} inside the selection, {@code 100 + k} outside. */
    private static void load(INDArray params, int k) {
        double[] values = Snapshots.theta(k, LENGTH);
        for (int j = 0; j < LENGTH; j++) {
            if (!inside(j)) {
                values[j] = 100 + k;
            }
        }
        params.assign(Nd4j.createFromArray(values).castTo(params.dataType()));
    }

    private static boolean inside(int j) {
        return j >= RANGES[0] && j < RANGES[1] || j >= RANGES[2] && j < RANGES[3];
    }

    private static void assertZeroOutsideTheSelection(INDArray average) {
        double[] values = average.toDoubleVector();
        for (int j = 0; j < LENGTH; j++) {
            if (!inside(j)) {
                assertEquals(0.0, values[j], "average[" + j + "] outside the selection");
            }
        }
    }
}
