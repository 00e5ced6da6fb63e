package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class UpdateScheduleTest {

    private static List<Long> dueSteps(UpdateSchedule schedule, long upTo) {
        List<Long> due = new ArrayList<>();
        for (long s = 1; s <= upTo; s++) {
            if (schedule.isDue(s)) {
                due.add(s);
            }
        }
        return due;
    }

    @Test
    void everyEpochIsDueAtEveryStep() {
        assertEquals(List.of(1L, 2L, 3L, 4L), dueSteps(UpdateSchedule.everyEpoch(), 4));
    }

    @Test
    void frequencyAndStartCountFromTheStart() {
        assertEquals(List.of(5L, 8L, 11L), dueSteps(UpdateSchedule.everyNIterations(3).startingAfter(2), 12));
        assertEquals(List.of(3L, 4L), dueSteps(UpdateSchedule.everyEpoch().startingAfter(2), 4));
    }

    @Test
    void fractionOfTrainingSetsTheStart() {
        UpdateSchedule schedule = UpdateSchedule.everyEpoch().startingAtFraction(0.5, 41);
        assertEquals(20, schedule.start());
        assertFalse(schedule.isDue(20));
        assertTrue(schedule.isDue(21));
    }

    @Test
    void zeroFrequencyShouldFail() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> UpdateSchedule.everyNIterations(0));
        assertTrue(e.getMessage().contains("frequency should be >= 1") && e.getMessage().contains("(got: 0)"),
                e.getMessage());
    }

    @Test
    void negativeFrequencyShouldFail() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> UpdateSchedule.everyNEpochs(-2));
        assertTrue(e.getMessage().contains("(got: -2)"), e.getMessage());
    }

    @Test
    void negativeStartShouldFail() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> UpdateSchedule.everyEpoch().startingAfter(-1));
        assertTrue(e.getMessage().contains("start should be >= 0") && e.getMessage().contains("(got: -1)"),
                e.getMessage());
    }

    @Test
    void fractionOutsideUnitIntervalShouldFail() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> UpdateSchedule.everyEpoch().startingAtFraction(1.0, 10));
        assertTrue(e.getMessage().contains("[0, 1) (got: 1.0)"), e.getMessage());
    }

    @Test
    void printsItsConfiguration() {
        assertEquals("every epoch", UpdateSchedule.everyEpoch().toString());
        assertEquals("every 10 iterations after 100 iterations",
                UpdateSchedule.everyNIterations(10).startingAfter(100).toString());
    }
}
