package io.github.dl4jema;

import static io.github.dl4jema.Snapshots.theta;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.ref.WeakReference;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

/** The presets, the builder's whole-configuration checks, memory held after training, and the NaN log. */
class LifecycleTest {

    @Test
    void paperPresetAveragesIterations99ToNLikeTheReferenceMovingAvg() {
        MultiLayerNetwork net = Networks.mlp(DataType.DOUBLE, false, 1);
        int n = (int) net.numParams();
        EmaListener sma = EmaListener.simpleMovingAverage().build();
        // hand-worked: MovingAvg with sma_start_iter = 100 and 1-based global_iter copies the weights while
        // global_iter < 100 and from 100 on averages with count 1, 2, ...: iterations 99, 100, ..., N equally
        double[] reference = null;
        int count = 0;
        for (int iteration = 1; iteration <= 104; iteration++) {
            Snapshots.load(net, iteration);
            sma.iterationDone(net, 1000 + iteration, 0);
            double[] weights = theta(iteration, n);
            if (iteration < 100) {
                reference = weights.clone();
            } else {
                count++;
                for (int j = 0; j < n; j++) {
                    reference[j] = (reference[j] * count + weights[j]) / (1.0 + count);
                }
            }
            if (iteration == 98 || iteration == 99 || iteration == 100 || iteration == 104) {
                Snapshots.assertClose(reference, sma.averagedParams(net), DataType.DOUBLE);
            }
        }
        assertEquals(6, sma.snapshotCount(), "iterations 99..104");
    }

    @Test
    void aStartGivenInEpochsIsNotSilentlyReadAsIterations() {
        EmaListener.Builder builder = EmaListener.builder(AveragingRule.simple()).startingAtFraction(0.5, 40);
        BadInputTest.assertMessage(assertThrows(IllegalArgumentException.class, builder::everyIteration),
                "given as 20 epochs", "counts iterations", "choose the unit first", "(got: start 20 epochs");
        EmaListener ok = EmaListener.builder(AveragingRule.simple()).everyIteration().startingAtFraction(0.5, 40)
                .build();
        assertEquals("every iteration after 20 iterations", ok.config().schedule().toString());
        BadInputTest.assertMessage(assertThrows(IllegalArgumentException.class,
                () -> EmaListener.simpleMovingAverage().everyEpoch()), "given as 98 iterations");
    }

    @Test
    void aWholeScheduleDoesNotSilentlyDropAStartGivenBefore() {
        BadInputTest.assertMessage(assertThrows(IllegalArgumentException.class,
                () -> EmaListener.simpleMovingAverage().schedule(UpdateSchedule.everyNIterations(10))),
                "replaces the whole schedule", "every iteration after 98 iterations", "would become every 10 "
                        + "iterations", "everyNIterations(n)", "(got: every 10 iterations)");
        BadInputTest.assertMessage(assertThrows(IllegalArgumentException.class,
                () -> EmaListener.builder(AveragingRule.simple()).startingAtFraction(0.5, 40)
                        .schedule(UpdateSchedule.everyIteration())), "(got: every iteration)");
        assertEquals("every 10 iterations after 98 iterations", EmaListener.simpleMovingAverage()
                .schedule(UpdateSchedule.everyNIterations(10).startingAfter(98)).config().schedule().toString());
        assertEquals("every 10 iterations after 98 iterations",
                EmaListener.simpleMovingAverage().everyNIterations(10).config().schedule().toString());
        assertEquals("every 2 epochs", EmaListener.builder(AveragingRule.simple())
                .schedule(UpdateSchedule.everyNEpochs(2)).config().schedule().toString());
    }

    @Test
    void aDecayOfOneThatWouldNeverMoveTheAverageIsRefused() {
        BadInputTest.assertMessage(assertThrows(IllegalArgumentException.class, () -> EmaListener.exponential(1.0)),
                "decay should be in (0, 1) (got: 1.0)", "never moves the average");
    }

    @Test
    void aListenerKeptAfterTrainingDoesNotKeepItsNetworkAlive() throws Exception {
        EmaListener ema = EmaListener.exponential(0.9).build();
        WeakReference<MultiLayerNetwork> ref = trainAndSwap(ema);
        for (int i = 0; i < 50 && ref.get() != null; i++) {
            System.gc();
            Thread.sleep(20);
        }
        assertNull(ref.get(), "the network should be collected while the listener is still referenced");
        assertEquals(8, ema.snapshotCount());
        BadInputTest.assertMessage(assertThrows(IllegalStateException.class,
                () -> ema.update(Networks.mlp(DataType.FLOAT, false, 1))), "garbage-collected");
    }

    private static WeakReference<MultiLayerNetwork> trainAndSwap(EmaListener ema) {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, true, 1);
        net.addListeners(ema);
        net.fit(Networks.data(DataType.FLOAT), 2);
        try (AverageSwap ignored = ema.swapIn(net)) {
            assertTrue(ModelSlot.of(net).holdsBackup());
        }
        assertFalse(ModelSlot.of(net).holdsBackup(), "the backup is released when the swap closes");
        return new WeakReference<>(net);
    }

    @Test
    void aDivergedNetworkLogsOneWarningThenASummaryEveryHundredSkips() {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 1);
        EmaListener ema = EmaListener.exponential(0.9).writeBack().build();
        ema.update(net);
        net.params().putScalar(3, Float.NaN);
        for (int i = 0; i < 250; i++) {
            assertFalse(ema.update(net));
        }
        assertEquals(3, ema.skipWarnings(), "the first skip, then after 100 and 200 in a row");
        assertEquals(250, ema.skippedUpdates());
        net.params().putScalar(3, 0.0f);
        for (int i = 0; i < 150; i++) {
            assertTrue(ema.update(net));
        }
        net.params().putScalar(3, Float.NaN);
        assertFalse(ema.update(net));
        assertEquals(4, ema.skipWarnings(), "a new streak warns again at once");
    }

    @Test
    void aBuilderFromAConfigurationKeepsEveryOption() {
        EmaConfig config = EmaListener.builder(AveragingRule.exponentialWithWarmup(0.95)).name("mine")
                .everyNIterations(3).startingAfter(7).writeBack()
                .parameters(ParameterSelection.keys("0_W")).failOnNonFinite().scoreOnAverage().config();
        assertEquals(config, EmaListener.from(config).config());
        EmaConfig changed = EmaListener.from(config).shadow().scoreOnAverage(false).config();
        assertEquals(new EmaConfig("mine", config.rule(), new UpdateSchedule(UpdateSchedule.Unit.ITERATION, 3, 7),
                AverageMode.SHADOW, ParameterSelection.keys("0_W"), NonFinitePolicy.FAIL, false), changed);
    }
}
