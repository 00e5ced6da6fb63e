package io.github.dl4jema.arbiter;

import io.github.dl4jema.AveragingRule;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.arbiter.optimize.api.ParameterSpace;

/**
 * A search space for an averaging decay, log-uniform in the horizon {@code 1 − decay}: the decay is
 * {@code 1 − exp(ln(1 − min) + u·(ln(1 − max) − ln(1 − min)))} for Arbiter's uniform value {@code u ∈ [0, 1]}.
 *
 * <p>Why the horizon and not the decay itself: a snapshot's weight halves after about {@code ln 2 / (1 − decay)}
 * updates, so 0.9, 0.99, 0.999 and 0.9999 are equally far apart in what they do, while on a linear (or a plain
 * log) scale of the decay three of them crowd into the last tenth of {@code [0.9, 0.9999]}. Random search draws
 * each decade of horizon equally often, and a grid search with a discretization count of 4 over
 * {@link #logUniform(double, double) logUniform(0.9, 0.9999)} visits exactly 0.9, 0.99, 0.999 and 0.9999.
 *
 * <p>A leaf space with one hyperparameter, as Arbiter's {@code ContinuousParameterSpace}.
 */
public final class DecaySpace implements ParameterSpace<Double> {

    /** The default lower bound, 0.9. */
    public static final double DEFAULT_MIN = 0.9;
    /** The default upper bound, 0.9999. */
    public static final double DEFAULT_MAX = 0.9999;

    private final double min;
    private final double max;
    private int index = -1;

    private DecaySpace(double min, double max) {
        this.min = min;
        this.max = max;
    }

    /**
     * The default space, {@code logUniform(0.9, 0.9999)}.
     *
     * @return the space
     */
    public static DecaySpace logUniform() {
        return logUniform(DEFAULT_MIN, DEFAULT_MAX);
    }

    /**
     * Decays from {@code min} to {@code max}, log-uniform in {@code 1 − decay}.
     *
     * @param min the smallest decay, in {@code (0, 1)} ({@link AveragingRule#checkDecay(double)})
     * @param max the largest decay, in {@code (min, 1)}
     * @return the space
     * @throws IllegalArgumentException if a bound is out of range; a decay of 1 would never move the average
     */
    public static DecaySpace logUniform(double min, double max) {
        AveragingRule.checkDecay(min);
        AveragingRule.checkDecay(max);
        if (!(max > min)) {
            throw new IllegalArgumentException("max decay should be in (min, 1) = (" + min + ", 1) (got: " + max
                    + ")");
        }
        return new DecaySpace(min, max);
    }

    /** @return the smallest decay */
    public double min() {
        return min;
    }

    /** @return the largest decay */
    public double max() {
        return max;
    }

    /**
     * The decay for a uniform value {@code u}.
     *
     * @param u in {@code [0, 1]}: 0 gives {@link #min()}, 1 gives {@link #max()}
     * @return the decay
     * @throws IllegalArgumentException if {@code u} is NaN or outside {@code [0, 1]}
     */
    public double decayAt(double u) {
        if (!(u >= 0.0 && u <= 1.0)) {
            throw new IllegalArgumentException("uniform value should be in [0, 1] (got: " + u + ")");
        }
        double lo = Math.log1p(-min);
        double hi = Math.log1p(-max);
        return -Math.expm1(lo + u * (hi - lo));
    }

    /**
     * The decay this space gives for Arbiter's flat hyperparameter values.
     *
     * @param parameterValues the candidate's flat values
     * @return the decay
     * @throws IllegalStateException if the search has not assigned this space its index (it is not part of the
     *                               searched space)
     */
    @Override
    public Double getValue(double[] parameterValues) {
        if (index < 0) {
            throw new IllegalStateException("DecaySpace has no index: add it to the searched space, e.g. "
                    + "AveragingSpace.builder().decay(space).build().alongside(networkSpace)");
        }
        return decayAt(parameterValues[index]);
    }

    /** @return 1 */
    @Override
    public int numParameters() {
        return 1;
    }

    /** @return this leaf */
    @Override
    public List<ParameterSpace> collectLeaves() {
        return Collections.singletonList(this);
    }

    /** @return an empty map: a leaf has no nested spaces */
    @Override
    public Map<String, ParameterSpace> getNestedSpaces() {
        return Collections.emptyMap();
    }

    /** @return true */
    @Override
    public boolean isLeaf() {
        return true;
    }

    /**
     * Called by Arbiter's candidate generator with this leaf's position in the flat values.
     *
     * @param indices one index, {@code ≥ 0}
     * @throws IllegalArgumentException if not exactly one non-negative index is given
     */
    @Override
    public void setIndices(int... indices) {
        if (indices == null || indices.length != 1 || indices[0] < 0) {
            throw new IllegalArgumentException("indices should be one index >= 0 (got: "
                    + (indices == null ? "null" : Arrays.toString(indices)) + ")");
        }
        this.index = indices[0];
    }

    @Override
    public String toString() {
        return "DecaySpace(logUniform(1 - decay), " + min + " to " + max + ")";
    }
}
