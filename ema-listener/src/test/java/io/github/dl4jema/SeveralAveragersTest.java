package io.github.dl4jema;

import static io.github.dl4jema.Snapshots.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

/** Several averagers on one network: a swap from any of them blocks all, and swaps close in any order. */
class SeveralAveragersTest {

    private static MultiLayerNetwork withTwoAverages(EmaListener first, EmaListener second) {
        MultiLayerNetwork net = Networks.mlp(DataType.DOUBLE, false, 5);
        net.addListeners(first, second);
        Snapshots.load(net, 1);
        first.update(net);
        second.update(net);
        Snapshots.load(net, 2);
        first.update(net);
        second.update(net);
        Snapshots.load(net, 3);
        return net;
    }

    @Test
    void fitInsideOneAveragersSwapIsRefusedBeforeAnyAveragerWrites() {
        EmaListener listedFirst = EmaListener.exponential(0.5).build();
        EmaListener listedSecond = EmaListener.builder(AveragingRule.simple()).everyIteration().build();
        MultiLayerNetwork net = withTwoAverages(listedFirst, listedSecond);
        double[] training = values(net.params());
        double[] firstAverage = values(listedFirst.averagedParams(net));
        double[] secondAverage = values(listedSecond.averagedParams(net));

        try (AverageSwap swap = listedSecond.swapIn(net)) {
            double[] swapped = values(net.params());
            DataSetIterator data = Networks.data(DataType.DOUBLE);
            BadInputTest.assertMessage(assertThrows(IllegalStateException.class, () -> net.fit(data)),
                    "is swapped into the network");
            DataSet batch = data.next();
            assertThrows(IllegalStateException.class, () -> net.fit(batch), "fit(DataSet) has no epoch start");
            assertArrayEquals(swapped, values(net.params()), "nothing trained on the swapped-in average");
            assertArrayEquals(firstAverage, values(listedFirst.averagedParams(net)), "first average untouched");
            assertArrayEquals(secondAverage, values(listedSecond.averagedParams(net)), "second average untouched");
        }
        assertArrayEquals(training, values(net.params()));
        assertEquals(2, listedFirst.snapshotCount());
        assertEquals(2, listedSecond.snapshotCount());
    }

    @Test
    void swapsClosedOutOfOrderEndWithTheTrainingWeights() {
        EmaListener a = EmaListener.exponential(0.5).build();
        EmaListener b = EmaListener.exponential(0.75).build();
        MultiLayerNetwork net = withTwoAverages(a, b);
        double[] training = values(net.params());
        double[] averageA = values(a.averagedParams(net));
        double[] averageB = values(b.averagedParams(net));

        AverageSwap swapA = a.swapIn(net);
        assertArrayEquals(averageA, values(net.params()));
        AverageSwap swapB = b.swapIn(net);
        assertArrayEquals(averageB, values(net.params()));
        swapA.close();
        assertArrayEquals(averageB, values(net.params()), "the latest swap still open stays in");
        assertThrows(IllegalStateException.class, () -> a.update(net), "still blocked while b's swap is open");
        swapB.close();
        assertArrayEquals(training, values(net.params()), "training weights, bit for bit");
        swapB.close();
        swapA.close();
        assertArrayEquals(training, values(net.params()), "closing again does nothing");
        a.update(net);
        assertEquals(3, a.snapshotCount());
    }

    @Test
    void swapsClosedInOrderAlsoEndWithTheTrainingWeights() {
        EmaListener a = EmaListener.exponential(0.5).build();
        EmaListener b = EmaListener.exponential(0.75).build();
        MultiLayerNetwork net = withTwoAverages(a, b);
        double[] training = values(net.params());
        double[] averageA = values(a.averagedParams(net));
        try (AverageSwap outer = a.swapIn(net)) {
            try (AverageSwap inner = b.swapIn(net)) {
                assertEquals(false, java.util.Arrays.equals(averageA, values(net.params())));
            }
            assertArrayEquals(averageA, values(net.params()), "the outer swap's average is back");
        }
        assertArrayEquals(training, values(net.params()));
    }

    @Test
    void twoAveragersWithTheSameNameOnOneNetworkAreRefusedAtTheFirstUpdate() {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 5);
        EmaListener a = EmaListener.exponential(0.9).build();
        EmaListener b = EmaListener.exponential(0.9).everyEpoch().build();
        a.update(net);
        BadInputTest.assertMessage(assertThrows(IllegalStateException.class, () -> b.update(net)),
                "both named 'exponential-0.9'", "Builder.name(...)");
        assertEquals(0, b.snapshotCount());
        EmaListener c = EmaListener.exponential(0.9).name("slow").build();
        c.update(net);
        assertEquals(1, c.snapshotCount());
    }
}
