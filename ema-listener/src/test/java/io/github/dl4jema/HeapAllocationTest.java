package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.management.ThreadMXBean;
import java.lang.management.ManagementFactory;
import java.util.stream.Stream;
import org.deeplearning4j.nn.api.Model;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * In steady state an update allocates nothing on the Java heap either, on the host (CPU) path that FLOAT and DOUBLE
 * parameters take: no object per update in the rule, the check, the blend, the swap of the spare vector, the
 * placement or the helper pool. {@link AllocationTest} covers the memory off the heap, on both paths. (The portable
 * path and the FLOAT conversion of half-precision parameters run ND4J operations, and ND4J creates a few small Java
 * objects per operation.)
 */
class HeapAllocationTest {

    @AfterEach
    void threadsFollowNd4j() {
        HostBlend.threadsOverride = 0;
    }

    /**
     * Java heap bytes allocated by the calling thread and the kernel's helper threads while {@code work} runs, from
     * the JVM's per-thread allocation counters ({@code com.sun.management.ThreadMXBean}). Reading a counter allocates
     * nothing; the helpers are listed before the window opens.
     */
    private static long heapBytesAllocatedBy(Runnable work) {
        ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        Thread[] helpers = HostBlend.pool().threads();
        long[] ids = new long[helpers.length + 1];
        ids[0] = Thread.currentThread().getId();
        for (int k = 0; k < helpers.length; k++) {
            ids[k + 1] = helpers[k].getId();
        }
        long[] before = new long[ids.length];
        long[] after = new long[ids.length];
        for (int k = 0; k < ids.length; k++) {
            before[k] = threads.getThreadAllocatedBytes(ids[k]);
        }
        work.run();
        for (int k = 0; k < ids.length; k++) {
            after[k] = threads.getThreadAllocatedBytes(ids[k]);
        }
        long bytes = 0;
        for (int k = 0; k < ids.length; k++) {
            bytes += after[k] - before[k];
        }
        return bytes;
    }

    static Stream<Arguments> policiesAndModes() {
        return Stream.of(NonFinitePolicy.SKIP, NonFinitePolicy.SKIP_LOW_MEMORY).flatMap(policy ->
                Stream.of(AverageMode.values()).flatMap(mode ->
                        Stream.of(DataType.FLOAT, DataType.DOUBLE).map(type -> Arguments.of(policy, mode, type))));
    }

    /**
     * The whole update ({@link RunningAverage#update}: rule, check, blend, placement) allocates nothing on the Java
     * heap in steady state, on one thread and on two (a vector large enough for the kernel's helper pool), for both
     * kernels, both placements, FLOAT and DOUBLE. A window that shows exactly zero is proof (the counters only
     * grow); up to three are tried, so that a class loaded or a method compiled by the JIT on the way does not
     * count.
     */
    @ParameterizedTest(name = "{0}, {1}, {2}")
    @MethodSource("policiesAndModes")
    void steadyStateUpdatesAllocateNothingOnTheHeap(NonFinitePolicy policy, AverageMode mode, DataType type) {
        for (int threads : new int[] {1, 2}) {
            int n = threads == 1 ? 5_000 : (int) (2 * HostBlend.MIN_PER_THREAD + 4_099);
            INDArray params = Nd4j.rand(type, n);
            INDArray[] views = ModelSlot.slice(params, new long[] {0, 17, 40, n - 3});
            RunningAverage average = new RunningAverage(EmaListener.exponential(0.9).mode(mode).nonFinite(policy)
                    .config(), new long[] {0, 17, 40, n - 3}, n, type);
            HostBlend.threadsOverride = threads;
            long[] step = {0};
            Runnable updates = () -> {
                for (int i = 0; i < 20; i++) {
                    average.update(views, ++step[0], "a vector");
                }
            };
            updates.run();
            long bytes = -1;
            for (int attempt = 0; attempt < 3 && bytes != 0; attempt++) {
                bytes = heapBytesAllocatedBy(updates);
            }
            assertEquals(0, bytes, "heap bytes allocated in 20 updates on " + threads + " thread(s)");
            assertEquals(step[0], average.snapshots(), "every update was taken");
        }
    }

    static Stream<Arguments> networks() {
        return Stream.of(
                Arguments.of("MultiLayerNetwork, all", Networks.mlp(DataType.FLOAT, true, 1), ParameterSelection.all()),
                Arguments.of("MultiLayerNetwork, keys", Networks.mlp(DataType.DOUBLE, true, 1),
                        ParameterSelection.keys("0_W", "2_b")),
                Arguments.of("ComputationGraph, all", Networks.graph(DataType.FLOAT, 1), ParameterSelection.all()),
                Arguments.of("ComputationGraph, layers", Networks.graph(DataType.FLOAT, 1),
                        ParameterSelection.layers("a", "out")));
    }

    /**
     * The listener around the update allocates nothing either: {@link EmaListener#update(Model)} and the
     * {@code iterationDone} and {@code onGradientCalculation} callbacks DL4J makes at every iteration (binding check,
     * cached views, swap check, worker check), for networks and graphs, shadow and write-back.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("networks")
    void theListenersUpdateAndCallbacksAllocateNothingOnTheHeap(String name, Model net, ParameterSelection selection) {
        HostBlend.threadsOverride = 1;
        for (AverageMode mode : AverageMode.values()) {
            EmaListener manual = EmaListener.builder(AveragingRule.simple()).mode(mode).parameters(selection)
                    .name("manual-" + mode).build();
            EmaListener callbacks = EmaListener.exponential(0.9).mode(mode).parameters(selection)
                    .name("callbacks-" + mode).build();
            int[] iteration = {0};
            Runnable updates = () -> {
                for (int i = 0; i < 20; i++) {
                    manual.update(net);
                    callbacks.onGradientCalculation(net);
                    callbacks.iterationDone(net, iteration[0]++, 0);
                }
            };
            updates.run();
            long bytes = -1;
            for (int attempt = 0; attempt < 3 && bytes != 0; attempt++) {
                bytes = heapBytesAllocatedBy(updates);
            }
            assertEquals(0, bytes, "heap bytes allocated in 20 updates of two " + mode + " listeners");
        }
    }
}
