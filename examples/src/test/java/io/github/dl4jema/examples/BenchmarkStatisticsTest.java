package io.github.dl4jema.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The benchmark's measures against numbers worked out by hand. */
class BenchmarkStatisticsTest {

    private static Curve curve(double... ood) {
        return new Curve(new double[ood.length], ood);
    }

    @Test
    void jitterIsTheMeanAbsoluteChangeOverTheLastHalf() {
        // 8 epochs: the window is epochs 5..8, changes 0.74-0.70, 0.70-0.74, 0.74-0.70 -> 0.04 each
        Curve alternating = curve(0.1, 0.2, 0.3, 0.4, 0.70, 0.74, 0.70, 0.74);
        assertEquals(5, alternating.lastHalfFirstEpoch());
        assertEquals(0.04, alternating.lastHalfOodMeanAbsChange(), 1e-12);
        // population std of 0.70, 0.74, 0.70, 0.74 is 0.02
        assertEquals(0.02, alternating.lastHalfOodStd(), 1e-12);
        // a steady rise of 0.01 per epoch: jitter 0.01; std of 0.5, 0.51, 0.52, 0.53 is sqrt(0.000125)
        Curve rising = curve(0.1, 0.2, 0.3, 0.4, 0.50, 0.51, 0.52, 0.53);
        assertEquals(0.01, rising.lastHalfOodMeanAbsChange(), 1e-12);
        assertEquals(Math.sqrt(0.000125), rising.lastHalfOodStd(), 1e-12);
        assertEquals(0.0, curve(0.5).lastHalfOodMeanAbsChange(), 0.0, "one epoch in the window: no change");
    }

    @Test
    void pairedDifferencesGiveMeanStandardErrorAndT() {
        // differences 1, 2, 3, 6: mean 3, sample sd sqrt(14/3), se sd/2, t = 3/se
        BenchmarkReport.Paired paired = BenchmarkReport.Paired.of(new double[] {2, 4, 6, 10},
                new double[] {1, 2, 3, 4});
        assertEquals(4, paired.n());
        assertEquals(3.0, paired.mean(), 1e-12);
        assertEquals(Math.sqrt(14.0 / 3), paired.sd(), 1e-12);
        assertEquals(Math.sqrt(14.0 / 3) / 2, paired.se(), 1e-12);
        assertEquals(3.0 / (Math.sqrt(14.0 / 3) / 2), paired.t(), 1e-12);
        // differences 1, 1.1, 0.9, 1: t = 1 / (sqrt(0.02 / 3) / 2) = 24.5 > 3.182 with 3 degrees of freedom
        assertTrue(BenchmarkReport.Paired.of(new double[] {1, 1.1, 0.9, 1}, new double[4]).significant());
    }

    @Test
    void significanceUsesStudentsTwoSidedFivePercentValue() {
        assertEquals(12.706, BenchmarkReport.tCritical(1), 0.0);
        assertEquals(2.262, BenchmarkReport.tCritical(9), 0.0);
        assertEquals(2.021, BenchmarkReport.tCritical(40), 0.003, "Cornish-Fisher beyond the table; exact 2.021");
        assertEquals(1.984, BenchmarkReport.tCritical(100), 0.003, "exact 1.984");
        // differences 1, 2, 3, 6 give t = 2.777 against 3.182 for 3 degrees of freedom: not beyond the spread
        assertFalse(BenchmarkReport.Paired.of(new double[] {1, 2, 3, 6}, new double[4]).significant());
        assertNull(BenchmarkReport.Paired.of(new double[] {1}, new double[] {0}).significant(), "one pair: no spread");
    }
}
