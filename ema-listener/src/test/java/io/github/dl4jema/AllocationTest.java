package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertEquals;

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
