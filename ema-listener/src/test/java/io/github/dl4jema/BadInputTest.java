package io.github.dl4jema;

import static io.github.dl4jema.Snapshots.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Path;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Every bad input gets a message saying what was wrong and what is allowed; nothing is changed by a rejection. */
class BadInputTest {

    @TempDir
    Path dir;

    static void assertMessage(Throwable e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "message should contain '" + part + "': " + e.getMessage());
        }
    }

    /** A network with two snapshots in the average, ready to be tampered with. */
    private static MultiLayerNetwork averagedTwice(EmaListener ema) {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 1);
        Snapshots.load(net, 1);
        ema.update(net);
        Snapshots.load(net, 2);
        ema.update(net);
        return net;
    }

    @Test
    void nullRuleShouldFail() {
        assertMessage(assertThrows(IllegalArgumentException.class, () -> EmaListener.builder(null)),
                "rule should be an AveragingRule", "(got: null)");
    }

    @Test
    void nullOptionsShouldFail() {
        EmaListener.Builder builder = EmaListener.builder(AveragingRule.simple());
        assertMessage(assertThrows(IllegalArgumentException.class, () -> builder.mode(null)), "(got: null)");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> builder.schedule(null)), "(got: null)");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> builder.parameters(null)), "(got: null)");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> builder.nonFinite(null)), "(got: null)");
    }

    @Test
    void negativeStartOrFrequencyInTheBuilderShouldFail() {
        EmaListener.Builder builder = EmaListener.builder(AveragingRule.simple());
        assertMessage(assertThrows(IllegalArgumentException.class, () -> builder.startingAfter(-5)),
                "start should be >= 0", "(got: -5)");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> builder.everyNIterations(-1)),
                "frequency should be >= 1", "(got: -1)");
    }

    @Test
    void nullNetworkShouldFail() {
        EmaListener ema = EmaListener.seedRule().build();
        assertMessage(assertThrows(IllegalArgumentException.class, () -> ema.update(null)),
                "MultiLayerNetwork or ComputationGraph", "(got: null)");
    }

    @Test
    void uninitialisedNetworkShouldFail() {
        MultiLayerNetwork net = new MultiLayerNetwork(Networks.mlp(DataType.FLOAT, false, 1)
                .getLayerWiseConfigurations());
        EmaListener ema = EmaListener.seedRule().build();
        assertMessage(assertThrows(IllegalStateException.class, () -> ema.update(net)),
                "has no parameters", "call init()");
        assertEquals(0, ema.snapshotCount());
    }

    @Test
    void stepBelowOneShouldFail() {
        EmaListener ema = EmaListener.seedRule().build();
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 1);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> ema.update(net, 0)),
                "step should be >= 1", "(got: 0)");
    }

    @Test
    void secondNetworkShouldFailAndLeaveTheFirstAverageIntact() {
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).build();
        MultiLayerNetwork first = averagedTwice(ema);
        double[] average = values(ema.averagedParams(first));
        MultiLayerNetwork second = Networks.mlp(DataType.FLOAT, false, 1);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ema.update(second));
        assertMessage(e, "One listener averages one network", "call ema.update(net) on the master");
        second.addListeners(ema);
        assertThrows(IllegalStateException.class, () -> second.fit(Networks.data(DataType.FLOAT)));
        assertArrayEquals(average, values(ema.averagedParams(first)));
        assertEquals(2, ema.snapshotCount());
    }

    @Test
    void readingTheAverageDoesNotBindTheListener() {
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).build();
        MultiLayerNetwork other = Networks.mlp(DataType.FLOAT, true, 2);
        try (AverageSwap ignored = ema.swapIn(other)) {
            assertArrayEquals(values(other.params()), values(ema.averagedParams(other)));
        }
        averagedTwice(ema);
        assertEquals(2, ema.snapshotCount());
        assertMessage(assertThrows(IllegalStateException.class, () -> ema.averagedParams(other)),
                "One listener averages one network");
    }

    @Test
    void nonFiniteParametersAreSkippedAndCountedByDefault() {
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).writeBack().build();
        MultiLayerNetwork net = averagedTwice(ema);
        double[] average = values(ema.averagedParams(net));
        net.params().putScalar(5, Double.NaN);
        net.params().putScalar(7, Double.POSITIVE_INFINITY);
        double[] weights = values(net.params());

        assertFalse(ema.update(net));
        assertEquals(1, ema.skippedUpdates());
        assertEquals(2, ema.snapshotCount());
        assertArrayEquals(weights, values(net.params()), "the network is exactly as before");
        net.setParams(Nd4j.create(Snapshots.theta(2, (int) net.numParams())).castTo(DataType.FLOAT));
        assertArrayEquals(average, values(ema.averagedParams(net)), "the average is exactly as before");
    }

    @Test
    void nonFiniteParametersFailWhenAskedTo() {
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).failOnNonFinite().build();
        MultiLayerNetwork net = averagedTwice(ema);
        double[] average = values(ema.state().average());
        net.params().putScalar(0, Double.NEGATIVE_INFINITY);
        assertMessage(assertThrows(NonFiniteParametersException.class, () -> ema.update(net)),
                "1 NaN or infinite parameter value(s)", "unchanged", "NonFinitePolicy.SKIP");
        assertArrayEquals(average, values(ema.state().average()));
        assertEquals(Double.NEGATIVE_INFINITY, net.params().getDouble(0));
    }

    @Test
    void nonFiniteValuesOutsideTheSelectionAreIgnored() {
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).parameters(ParameterSelection.keys("1_W"))
                .failOnNonFinite().build();
        MultiLayerNetwork net = averagedTwice(ema);
        net.getParam("0_b").putScalar(0, Double.NaN);
        assertTrue(ema.update(net));
    }

    @Test
    void nonFiniteValueAtTheEndOfAnOffsetRangeIsFound() {
        // 1_W holds elements 56..79 of the flat buffer: the check must look exactly there
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).parameters(ParameterSelection.keys("1_W"))
                .build();
        MultiLayerNetwork net = averagedTwice(ema);
        net.params().putScalar(55, Double.NaN);
        net.params().putScalar(80, Double.NaN);
        assertTrue(ema.update(net), "NaN just outside the range is not the selection's business");
        net.params().putScalar(79, Double.POSITIVE_INFINITY);
        assertFalse(ema.update(net));
        assertEquals(1, ema.skippedUpdates());
    }

    @Test
    void ruleReturningAnInvalidDecayShouldFailWithoutChangingAnything() {
        EmaListener ema = EmaListener.builder((averaged, step) -> averaged < 2 ? 0.5 : 1.5).writeBack().build();
        MultiLayerNetwork net = averagedTwice(ema);
        double[] average = values(ema.state().average());
        Snapshots.load(net, 3);
        double[] weights = values(net.params());
        assertMessage(assertThrows(IllegalStateException.class, () -> ema.update(net)),
                "returned decay 1.5", "should be in [0, 1]", "Nothing was changed");
        assertArrayEquals(average, values(ema.state().average()));
        assertArrayEquals(weights, values(net.params()));
        assertEquals(2, ema.snapshotCount());
    }

    @Test
    void updatingWhileSwappedInShouldFail() {
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).build();
        MultiLayerNetwork net = averagedTwice(ema);
        try (AverageSwap ignored = ema.swapIn(net)) {
            assertMessage(assertThrows(IllegalStateException.class, () -> ema.update(net)),
                    "is swapped into the network", "Close every AverageSwap");
        }
        assertTrue(ema.update(net));
    }

    @Test
    void unknownKeysShouldFailListingTheNetworksKeys() {
        EmaListener ema = EmaListener.builder(AveragingRule.simple())
                .parameters(ParameterSelection.keys("0_W", "9_W")).build();
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 1);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> ema.update(net)),
                "names [9_W]", "its parameter keys are [0_W, 0_b, 1_W, 1_b]");
        assertEquals(0, ema.snapshotCount());
    }

    @Test
    void emptyKeyListsShouldFail() {
        assertMessage(assertThrows(IllegalArgumentException.class, ParameterSelection::keys), "(got: none)");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> ParameterSelection.layers("0", " ")),
                "non-blank");
    }
}
