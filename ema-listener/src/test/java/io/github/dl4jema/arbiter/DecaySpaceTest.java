package io.github.dl4jema.arbiter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class DecaySpaceTest {

    @Test
    void endsOfTheUnitIntervalGiveTheBounds() {
        DecaySpace space = DecaySpace.logUniform(0.9, 0.9999);
        assertEquals(0.9, space.decayAt(0.0), 1e-12);
        assertEquals(0.9999, space.decayAt(1.0), 1e-12);
    }

    @Test
    void aFourPointGridVisitsEachDecadeOfHorizon() {
        DecaySpace space = DecaySpace.logUniform();
        assertEquals(0.99, space.decayAt(1.0 / 3), 1e-12);
        assertEquals(0.999, space.decayAt(2.0 / 3), 1e-12);
    }

    @Test
    void midpointIsTheGeometricMeanOfTheHorizons() {
        DecaySpace space = DecaySpace.logUniform(0.9, 0.999);
        // 1 - d = sqrt(0.1 * 0.001) = 0.01
        assertEquals(0.99, space.decayAt(0.5), 1e-12);
    }

    @Test
    void readsItsOwnIndexOfTheFlatValues() {
        DecaySpace space = DecaySpace.logUniform(0.9, 0.9999);
        space.setIndices(2);
        assertEquals(0.99, space.getValue(new double[] {0.7, 0.1, 1.0 / 3}), 1e-12);
    }

    @Test
    void valueWithoutIndexShouldFail() {
        DecaySpace space = DecaySpace.logUniform();
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> space.getValue(new double[] {0.5}));
        assertEquals(true, e.getMessage().contains("alongside"));
    }

    @Test
    void decayOfOneAsMaxShouldFail() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DecaySpace.logUniform(0.9, 1.0));
        assertEquals(true, e.getMessage().startsWith("decay should be in (0, 1) (got: 1.0)"), e.getMessage());
    }

    @Test
    void maxBelowMinShouldFail() {
        assertThrows(IllegalArgumentException.class, () -> DecaySpace.logUniform(0.99, 0.9));
    }

    @Test
    void uniformValueOutsideTheUnitIntervalShouldFail() {
        assertThrows(IllegalArgumentException.class, () -> DecaySpace.logUniform().decayAt(1.5));
    }
}
