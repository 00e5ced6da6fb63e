package io.github.dl4jema;

import static io.github.dl4jema.AllocationTest.assertNothingAllocatedOffHeap;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.function.Supplier;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.autodiff.listeners.At;
import org.nd4j.autodiff.listeners.Operation;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * In steady state an update of a SameDiff graph allocates nothing off-heap, though its variables are separate arrays:
 * the average is allocated once, the variables' vector views are made once and reused while SameDiff keeps the
 * arrays. Counted as in {@link AllocationTest}, for both placements, several selections and data types, through the
 * manual update and through the callbacks {@code sd.fit} calls ({@code iterationStart} on the graph,
 * {@code iterationDone} on its gradient function). {@link PortablePathTest} runs it again on the portable (CUDA) path.
 */
class SameDiffAllocationTest {

    private static final int UPDATES = 200;

    static Stream<Arguments> graphsAndModes() {
        return Stream.of(AverageMode.values()).flatMap(mode -> Stream.of(
                Arguments.of(mode, "perceptron FLOAT, all", (Supplier<SameDiff>) () -> Graphs.mlp(DataType.FLOAT, 1),
                        ParameterSelection.all()),
                Arguments.of(mode, "perceptron DOUBLE, keys", (Supplier<SameDiff>) () -> Graphs.mlp(DataType.DOUBLE,
                        1), ParameterSelection.keys("w0", "b1")),
                Arguments.of(mode, "perceptron HALF, all but a variable", (Supplier<SameDiff>) () -> Graphs.mlp(
                        DataType.HALF, 1), ParameterSelection.allExcept("w1")),
                Arguments.of(mode, "convolutional FLOAT, all", (Supplier<SameDiff>) () -> Graphs.cnn(1),
                        ParameterSelection.all())));
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("graphsAndModes")
    void steadyStateManualUpdatesAllocateNothingOffHeap(AverageMode mode, String name, Supplier<SameDiff> graph,
                                                        ParameterSelection selection) throws Exception {
        SameDiff sd = graph.get();
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).mode(mode).variables(selection)
                .build();
        for (int k = 0; k < 3; k++) {   // warm-up: the average, its views and the variables' views are made here
            sma.update(sd);
        }
        assertNothingAllocatedOffHeap(() -> {
            for (int i = 0; i < UPDATES; i++) {
                sma.update(sd);
            }
        }, UPDATES + " updates");
        assertEquals(UPDATES + 3, sma.snapshotCount());
    }

    @ParameterizedTest(name = "{0}: {1}")
    @MethodSource("graphsAndModes")
    void steadyStateIterationCallbacksAllocateNothingOffHeap(AverageMode mode, String name, Supplier<SameDiff> graph,
                                                             ParameterSelection selection) throws Exception {
        SameDiff sd = graph.get();
        sd.createGradFunction();
        SameDiff gradient = sd.getFunction("grad");
        SameDiffAverager ema = SameDiffAverager.exponential(0.9).mode(mode).variables(selection).build();
        At at = At.defaultAt(Operation.TRAINING);
        for (int i = 0; i < 3; i++) {
            at.setIteration(i);
            ema.iterationStart(sd, at, null, 0);
            ema.iterationDone(gradient, at, null, null);
        }
        assertNothingAllocatedOffHeap(() -> {
            for (int i = 3; i < UPDATES + 3; i++) {
                at.setIteration(i);
                ema.iterationStart(sd, at, null, 0);
                ema.iterationDone(gradient, at, null, null);
            }
        }, UPDATES + " iterations");
        assertEquals(UPDATES + 3, ema.snapshotCount());
    }
}
