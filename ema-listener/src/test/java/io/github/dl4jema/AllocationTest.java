package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.management.ManagementFactory;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.concurrent.atomic.AtomicLong;
import org.bytedeco.javacpp.Pointer;
import java.util.stream.Stream;
import org.deeplearning4j.nn.api.Model;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.buffer.factory.DataBufferFactory;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * In steady state an update allocates nothing off-heap: every ND4J data buffer is created through the backend's
 * {@link DataBufferFactory}, which this test wraps in a counting proxy (views of existing buffers, which allocate no
 * memory, are not counted), and JavaCPP's own allocations show in {@link Pointer#totalBytes()}. Zero of both, for
 * both network kinds, every kind of selection and both placements; {@link PortablePathTest} runs it again on the
 * portable (CUDA) path.
 */
class AllocationTest {

    private static final int UPDATES = 200;

    /** Counts factory calls that allocate a new buffer while {@code counting} is set. */
    private static final class CountingFactory {
        final AtomicLong allocations = new AtomicLong();
        volatile boolean counting;

        DataBufferFactory wrap(DataBufferFactory real) {
            return (DataBufferFactory) Proxy.newProxyInstance(DataBufferFactory.class.getClassLoader(),
                    new Class<?>[] {DataBufferFactory.class}, (proxy, method, args) -> {
                        boolean view = args != null && args.length > 0 && args[0] instanceof DataBuffer;
                        if (counting && DataBuffer.class.isAssignableFrom(method.getReturnType()) && !view) {
                            allocations.incrementAndGet();
                        }
                        try {
                            return method.invoke(real, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
        }
    }

    static Stream<Arguments> networksAndModes() {
        return Stream.of(AverageMode.values()).flatMap(mode -> Stream.of(
                Arguments.of(mode, "MultiLayerNetwork, all", Networks.mlp(DataType.FLOAT, true, 1),
                        ParameterSelection.all()),
                Arguments.of(mode, "MultiLayerNetwork, batch-norm statistics left out",
                        Networks.mlp(DataType.FLOAT, true, 1), ParameterSelection.allExceptBatchNormStatistics()),
                Arguments.of(mode, "MultiLayerNetwork, keys", Networks.mlp(DataType.DOUBLE, true, 1),
                        ParameterSelection.keys("0_W", "2_b")),
                Arguments.of(mode, "ComputationGraph, all", Networks.graph(DataType.DOUBLE, 1),
                        ParameterSelection.all()),
                Arguments.of(mode, "ComputationGraph, layers", Networks.graph(DataType.FLOAT, 1),
                        ParameterSelection.layers("a", "out")),
                Arguments.of(mode, "ComputationGraph, all except a key", Networks.graph(DataType.FLOAT, 1),
                        ParameterSelection.allExcept("b_W"))));
    }

    /**
     * Java heap bytes allocated by the calling thread and the kernel's helper threads while {@code work} runs, from
     * the JVM's per-thread allocation counters ({@code com.sun.management.ThreadMXBean}). Reading a counter allocates
     * nothing; the helpers are listed before the window opens.
     */
    static long heapBytesAllocatedBy(Runnable work) {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
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
                Stream.of(AverageMode.values()).flatMap(mode -> Stream.of(DataType.FLOAT, DataType.DOUBLE).map(type -> Arguments.of(policy, mode, type))));
    }

    /**
     * The whole update ({@link RunningAverage#update}: rule, check, blend, placement) allocates nothing on the Java
     * heap in steady state, on one thread and on two (a vector large enough for the kernel's helper pool), for both
     * kernels, both placements and every precision. A window that shows exactly zero is proof (the counters only
     * grow); up to three are tried, so that a class loaded or a method compiled by the JIT on the way does not
     * count.
     */
    @ParameterizedTest(name = "{0}, {1}, {2}")
    @MethodSource("policiesAndModes")
    void steadyStateUpdatesAllocateNothingOnTheHeap(NonFinitePolicy policy, AverageMode mode, DataType type) {
        for (int threads : new int[] {1, 2}) {
            int n = threads == 1 ? 5_000 : (int) (2 * HostBlend.MIN_PER_THREAD + 4_099);
            INDArray params = Nd4j.rand(type, n);
            INDArray[] views = NetworkSlot.slice(params, new long[] {0, 17, 40, n - 3});
            RunningAverage average = new RunningAverage(EmaListener.exponential(0.9).mode(mode).nonFinite(policy)
                    .config(), new long[] {0, 17, 40, n - 3}, n, type);
            HostBlend.threadsOverride = threads;
            try {
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
            } finally {
                HostBlend.threadsOverride = 0;
            }
        }
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("networksAndModes")
    void steadyStateUpdatesAllocateNothingOffHeap(AverageMode mode, String name, Model net,
                                                  ParameterSelection selection) throws Exception {
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).mode(mode).parameters(selection).build();
        for (int k = 1; k <= 3; k++) {   // warm-up: the average and views are allocated here
            Snapshots.load(net, k);
            ema.update(net);
        }
        Field field = Nd4j.class.getDeclaredField("DATA_BUFFER_FACTORY_INSTANCE");
        field.setAccessible(true);
        DataBufferFactory real = (DataBufferFactory) field.get(null);
        CountingFactory counter = new CountingFactory();
        field.set(null, counter.wrap(real));
        try {
            long pointerBytes = Pointer.totalBytes();
            counter.counting = true;
            for (int i = 0; i < UPDATES; i++) {
                ema.update(net);
            }
            counter.counting = false;
            assertEquals(0, counter.allocations.get(), "ND4J buffers allocated in " + UPDATES + " updates");
            assertEquals(0, Pointer.totalBytes() - pointerBytes, "JavaCPP bytes allocated in " + UPDATES
                    + " updates");
        } finally {
            field.set(null, real);
        }
        assertEquals(UPDATES + 3, ema.snapshotCount());
    }
}
