package io.github.dl4jema.arbiter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.github.dl4jema.AverageMode;
import io.github.dl4jema.AveragingRule;
import io.github.dl4jema.EmaListener;
import io.github.dl4jema.UpdateSchedule;
import java.util.List;
import org.deeplearning4j.arbiter.optimize.api.Candidate;
import org.deeplearning4j.arbiter.optimize.api.ParameterSpace;
import org.deeplearning4j.arbiter.optimize.parameter.continuous.ContinuousParameterSpace;
import org.junit.jupiter.api.Test;

class AveragingSpaceTest {

    /** Assigns indices the way Arbiter's candidate generators do: unique leaves in order. */
    private static void assignIndices(ParameterSpace<?> space) {
        int i = 0;
        for (ParameterSpace<?> leaf : space.collectLeaves()) {
            leaf.setIndices(i++);
        }
    }

    @Test
    void defaultsAreFixedAndTakeNoPlaceInTheSearch() {
        AveragingSpace space = AveragingSpace.builder().build();
        assertEquals(0, space.numParameters());
        assertEquals(new AveragingSettings(AveragingRuleKind.EXPONENTIAL, 0.99, 0, AverageMode.SHADOW),
                space.getValue(new double[0]));
    }

    @Test
    void searchedSettingsAreReadFromTheirLeaves() {
        AveragingSpace space = AveragingSpace.builder()
                .rules(AveragingRuleKind.EXPONENTIAL, AveragingRuleKind.SIMPLE)
                .decay(0.9, 0.9999)
                .startEpoch(0, 3)
                .modes(AverageMode.SHADOW, AverageMode.WRITE_BACK)
                .build();
        assertEquals(4, space.numParameters());
        assignIndices(space);
        // rule: 0.75 -> second of two; decay: 2/3 -> 0.999; start: 0.9 of uniform {0..3} -> 3; mode: 0.1 -> first
        AveragingSettings settings = space.getValue(new double[] {0.75, 2.0 / 3, 0.9, 0.1});
        assertEquals(AveragingRuleKind.SIMPLE, settings.rule());
        assertEquals(0.999, settings.decay(), 1e-12);
        assertEquals(3, settings.startEpoch());
        assertEquals(AverageMode.SHADOW, settings.mode());
    }

    @Test
    void jointSpaceYieldsTheNetworkValueAndCountsAllLeaves() {
        ContinuousParameterSpace learningRate = new ContinuousParameterSpace(0.001, 0.1);
        ParameterSpace<Double> network = learningRate;
        AveragingSpace averaging = AveragingSpace.builder().decay(0.9, 0.9999).build();
        ParameterSpace<Double> joint = averaging.alongside(network);
        assertEquals(2, joint.numParameters());
        List<ParameterSpace> leaves = joint.collectLeaves();
        assertSame(learningRate, leaves.get(0));
        assignIndices(joint);
        double[] flat = {0.5, 1.0};
        assertEquals(0.0505, joint.getValue(flat), 1e-12);
        Candidate<Double> candidate = new Candidate<>(joint.getValue(flat), 7, flat);
        assertEquals(0.9999, averaging.settingsOf(candidate).decay(), 1e-12);
    }

    @Test
    void aLeafSharedByBothSpacesIsCountedOnce() {
        DecaySpace shared = DecaySpace.logUniform();
        AveragingSpace averaging = AveragingSpace.builder().decay(shared).build();
        ParameterSpace<Double> joint = averaging.alongside(shared);
        assertEquals(1, joint.numParameters());
        assertEquals(1, joint.collectLeaves().size());
    }

    @Test
    void settingsMakeAFreshListenerPerCall() {
        AveragingSettings settings = new AveragingSettings(AveragingRuleKind.SEED, 0.5, 1, AverageMode.WRITE_BACK);
        EmaListener first = settings.newListener();
        EmaListener second = settings.newListener();
        assertNotSame(first, second);
        assertEquals(UpdateSchedule.everyEpoch(), first.config().schedule());
        assertSame(AveragingRule.seed(), first.config().rule());
        assertEquals(AverageMode.WRITE_BACK, first.config().mode());
    }

    @Test
    void exponentialSettingsUpdateEveryIterationWithTheirDecay() {
        EmaListener listener = AveragingSettings.exponential(0.9).newListener();
        assertEquals(UpdateSchedule.everyIteration(), listener.config().schedule());
        // rho is the decay for every update after the first
        assertEquals(0.9, listener.config().rule().decay(5, 17), 0.0);
    }

    @Test
    void repeatedRuleShouldFail() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AveragingSpace.builder().rules(AveragingRuleKind.SIMPLE, AveragingRuleKind.SIMPLE));
        assertEquals("rules should not repeat a value (got: [SIMPLE, SIMPLE])", e.getMessage());
    }

    @Test
    void noModeShouldFail() {
        assertThrows(IllegalArgumentException.class, () -> AveragingSpace.builder().modes());
    }

    @Test
    void negativeStartShouldFail() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AveragingSpace.builder().startEpoch(-1, 2));
        assertEquals("min startEpoch should be >= 0 (got: -1)", e.getMessage());
    }

    @Test
    void decayOutsideTheUnitIntervalShouldFail() {
        assertThrows(IllegalArgumentException.class, () -> AveragingSpace.builder().decay(1.5));
        assertThrows(IllegalArgumentException.class,
                () -> new AveragingSettings(AveragingRuleKind.EXPONENTIAL, Double.NaN, 0, AverageMode.SHADOW));
    }

    @Test
    void nullNetworkSpaceShouldFail() {
        assertThrows(IllegalArgumentException.class, () -> AveragingSpace.builder().build().alongside(null));
    }
}
