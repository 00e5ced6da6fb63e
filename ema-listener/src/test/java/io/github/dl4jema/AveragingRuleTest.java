package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class AveragingRuleTest {

    @Test
    void seedDecayIsSnapshotOverSnapshotPlusOneCountedFromTheAveragersFirstSnapshot() {
        AveragingRule seed = AveragingRule.seed();
        assertEquals(2.0 / 3.0, seed.decay(1, 2), 0.0);
        assertEquals(3.0 / 4.0, seed.decay(2, 3), 0.0);
        assertEquals(8.0 / 9.0, seed.decay(7, 10), 0.0, "the 8th snapshot, whatever the step");
        assertEquals(2.0 / 3.0, seed.decay(1, 51), 0.0, "a pretrained network at epoch 50 starts like a fresh one");
    }

    @Test
    void simpleDecayIsCountOverCountPlusOne() {
        AveragingRule simple = AveragingRule.simple();
        assertEquals(0.5, simple.decay(1, 99), 0.0);
        assertEquals(4.0 / 5.0, simple.decay(4, 1), 0.0);
    }

    @Test
    void exponentialDecayIsFixed() {
        AveragingRule ema = AveragingRule.exponential(0.9);
        assertEquals(0.9, ema.decay(1, 1), 0.0);
        assertEquals(0.9, ema.decay(1000, 5000), 0.0);
    }

    @Test
    void warmupFollowsTensorFlowFormulaThenCapsAtDecay() {
        AveragingRule rule = AveragingRule.exponentialWithWarmup(0.9);
        assertEquals(2.0 / 11.0, rule.decay(1, 1), 1e-15);
        assertEquals(11.0 / 20.0, rule.decay(10, 1), 1e-15);
        // (1+t)/(10+t) reaches 0.9 at t = 80
        assertEquals(81.0 / 90.0, rule.decay(80, 1), 1e-15);
        assertEquals(0.9, rule.decay(81, 1), 0.0);
        assertEquals(0.9, rule.decay(100_000, 1), 0.0);
    }

    @Test
    void decayAtTheBoundsCanDoNothingAndShouldFail() {
        for (double decay : new double[] {0.0, 1.0}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> AveragingRule.exponential(decay));
            assertTrue(e.getMessage().contains("decay should be in (0, 1) (got: " + decay + ")"), e.getMessage());
            assertTrue(e.getMessage().contains("a decay of 1 never moves the average"), e.getMessage());
        }
        assertEquals(Math.nextDown(1.0), AveragingRule.exponential(Math.nextDown(1.0)).decay(1, 1), 0.0);
    }

    @Test
    void decayAboveOneShouldFail() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AveragingRule.exponential(1.5));
        assertTrue(e.getMessage().contains("decay should be in (0, 1) (got: 1.5)"), e.getMessage());
    }

    @Test
    void negativeDecayShouldFail() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AveragingRule.exponentialWithWarmup(-0.1));
        assertTrue(e.getMessage().contains("(got: -0.1)"), e.getMessage());
    }

    @Test
    void nanDecayShouldFail() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AveragingRule.exponential(Double.NaN));
        assertTrue(e.getMessage().contains("(got: NaN)"), e.getMessage());
    }

    @Test
    void namedRulesPrintWhatTheyAre() {
        assertEquals("seed(k/(k+1))", AveragingRule.seed().toString());
        assertEquals("simple(n/(n+1))", AveragingRule.simple().toString());
        assertEquals("exponential(decay=0.99)", AveragingRule.exponential(0.99).toString());
        assertEquals("exponentialWithWarmup(decay=0.999)", AveragingRule.exponentialWithWarmup(0.999).toString());
    }
}
