package io.github.dl4jema.arbiter;

import io.github.dl4jema.AverageMode;
import io.github.dl4jema.AveragingRule;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.arbiter.optimize.api.Candidate;
import org.deeplearning4j.arbiter.optimize.api.ParameterSpace;
import org.deeplearning4j.arbiter.optimize.parameter.FixedValue;
import org.deeplearning4j.arbiter.optimize.parameter.discrete.DiscreteParameterSpace;
import org.deeplearning4j.arbiter.optimize.parameter.integer.IntegerParameterSpace;

/**
 * An Arbiter search space over the averaging settings (rule, decay, start epoch, mode), searched alongside a
 * network's own hyperparameters:
 *
 * <pre>{@code
 * AveragingSpace averaging = AveragingSpace.builder()
 *         .decay(0.9, 0.9999)                       // log-uniform in 1 - decay (see DecaySpace)
 *         .rules(AveragingRuleKind.EXPONENTIAL, AveragingRuleKind.SIMPLE)
 *         .startEpoch(0, 2)
 *         .build();
 * OptimizationConfiguration conf = new OptimizationConfiguration.Builder()
 *         .candidateGenerator(new RandomSearchGenerator(averaging.alongside(multiLayerSpace), null))
 *         ...;
 * TaskCreator tasks = new MultiLayerNetworkTaskCreator(null, AveragingTaskListener.searching(averaging).build());
 * }</pre>
 *
 * <p>Arbiter's candidate value stays the network's configuration (its task creators accept nothing else); the
 * averaging settings live in the same flat hyperparameter vector, at the indices Arbiter assigned to this space's
 * leaves. So each result records the settings it used: {@link #settingsOf(Candidate)} reads them back from any
 * candidate of the search, also after it ended.
 *
 * <p>Defaults (each a fixed value, not searched): rule {@link AveragingRuleKind#EXPONENTIAL}, decay
 * {@link AveragingSettings#DEFAULT_DECAY}, start epoch 0, {@link AverageMode#SHADOW}. A setting given one value is a
 * {@code FixedValue} and takes no place in the search, so grid searches do not multiply by it.
 */
public final class AveragingSpace implements ParameterSpace<AveragingSettings> {

    private final ParameterSpace<AveragingRuleKind> rules;
    private final ParameterSpace<Double> decay;
    private final ParameterSpace<Integer> startEpoch;
    private final ParameterSpace<AverageMode> modes;

    private AveragingSpace(Builder builder) {
        this.rules = builder.rules;
        this.decay = builder.decay;
        this.startEpoch = builder.startEpoch;
        this.modes = builder.modes;
    }

    /**
     * A builder with every setting at its default.
     *
     * @return a builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The joint space of a network space and this one, to hand to Arbiter's candidate generator. Its values are the
     * network's configurations ({@code DL4JConfiguration} from a {@code MultiLayerSpace}, {@code GraphConfiguration}
     * from a {@code ComputationGraphSpace}), so the stock task creators run them; this space's leaves take their
     * place in the same flat vector.
     *
     * @param networkSpace the network's search space
     * @param <T>          the network configuration type
     * @return the joint space
     * @throws IllegalArgumentException if {@code networkSpace} is null
     */
    public <T> ParameterSpace<T> alongside(ParameterSpace<T> networkSpace) {
        if (networkSpace == null) {
            throw new IllegalArgumentException("networkSpace should be a MultiLayerSpace or ComputationGraphSpace "
                    + "(got: null)");
        }
        return new JointSpace<>(networkSpace, this);
    }

    /**
     * The settings a candidate of the search used, read from its flat hyperparameters.
     *
     * @param candidate a candidate generated from {@link #alongside(ParameterSpace)} of this space
     * @return its settings
     * @throws IllegalArgumentException if {@code candidate} is null
     * @throws IllegalStateException    if this space was not part of the searched space
     */
    public AveragingSettings settingsOf(Candidate<?> candidate) {
        if (candidate == null) {
            throw new IllegalArgumentException("candidate should be an Arbiter Candidate (got: null)");
        }
        return getValue(candidate.getFlatParameters());
    }

    /**
     * The settings for Arbiter's flat values.
     *
     * @param parameterValues the flat values, each in {@code [0, 1]}
     * @return the settings
     * @throws IllegalStateException if a searched leaf has no index (this space was not part of the searched space)
     */
    @Override
    public AveragingSettings getValue(double[] parameterValues) {
        return new AveragingSettings(rules.getValue(parameterValues), decay.getValue(parameterValues),
                startEpoch.getValue(parameterValues), modes.getValue(parameterValues));
    }

    /** @return the number of searched (non-fixed) hyperparameters */
    @Override
    public int numParameters() {
        int n = 0;
        for (ParameterSpace<?> leaf : collectLeaves()) {
            n += leaf.numParameters();
        }
        return n;
    }

    /** @return the searched leaves: rule, decay, start epoch, mode, those not fixed */
    @Override
    public List<ParameterSpace> collectLeaves() {
        List<ParameterSpace> leaves = new ArrayList<>();
        for (ParameterSpace<?> space : getNestedSpaces().values()) {
            leaves.addAll(space.collectLeaves());
        }
        return leaves;
    }

    /** @return the four nested spaces by name: rule, decay, startEpoch, mode */
    @Override
    public Map<String, ParameterSpace> getNestedSpaces() {
        Map<String, ParameterSpace> nested = new LinkedHashMap<>();
        nested.put("rule", rules);
        nested.put("decay", decay);
        nested.put("startEpoch", startEpoch);
        nested.put("mode", modes);
        return nested;
    }

    /** @return false: the settings are made of nested spaces */
    @Override
    public boolean isLeaf() {
        return false;
    }

    /**
     * Not supported: Arbiter assigns indices to the leaves.
     *
     * @throws UnsupportedOperationException always
     */
    @Override
    public void setIndices(int... indices) {
        throw new UnsupportedOperationException("AveragingSpace is not a leaf: Arbiter sets the indices of its "
                + "leaves");
    }

    @Override
    public String toString() {
        return "AveragingSpace(rule=" + rules + ", decay=" + decay + ", startEpoch=" + startEpoch + ", mode="
                + modes + ")";
    }

    /** Builds an {@link AveragingSpace}; every method validates its argument at once. */
    public static final class Builder {

        private ParameterSpace<AveragingRuleKind> rules = new FixedValue<>(AveragingRuleKind.EXPONENTIAL);
        private ParameterSpace<Double> decay = new FixedValue<>(AveragingSettings.DEFAULT_DECAY);
        private ParameterSpace<Integer> startEpoch = new FixedValue<>(0);
        private ParameterSpace<AverageMode> modes = new FixedValue<>(AverageMode.SHADOW);

        private Builder() {
        }

        /**
         * The rules to choose from; one rule fixes it. Default {@link AveragingRuleKind#EXPONENTIAL}.
         *
         * @param kinds one or more rules, without duplicates
         * @return this builder
         * @throws IllegalArgumentException if no rule is given, one is null, or one is repeated
         */
        public Builder rules(AveragingRuleKind... kinds) {
            this.rules = choice("rules", kinds);
            return this;
        }

        /**
         * Any Arbiter space over the rules.
         *
         * @param space the space
         * @return this builder
         * @throws IllegalArgumentException if {@code space} is null
         */
        public Builder rules(ParameterSpace<AveragingRuleKind> space) {
            this.rules = required("rule space", space);
            return this;
        }

        /**
         * A fixed decay. Default {@link AveragingSettings#DEFAULT_DECAY}.
         *
         * @param value the decay, in {@code (0, 1)} ({@link AveragingRule#checkDecay(double)})
         * @return this builder
         * @throws IllegalArgumentException if {@code value} is NaN or outside {@code (0, 1)}
         */
        public Builder decay(double value) {
            this.decay = new FixedValue<>(AveragingRule.checkDecay(value));
            return this;
        }

        /**
         * Decays searched log-uniformly in {@code 1 − decay} between {@code min} and {@code max}
         * ({@link DecaySpace#logUniform(double, double)}), e.g. {@code decay(0.9, 0.9999)}.
         *
         * @param min the smallest decay, in {@code [0, 1)}
         * @param max the largest decay, in {@code (min, 1)}
         * @return this builder
         * @throws IllegalArgumentException if a bound is out of range
         */
        public Builder decay(double min, double max) {
            this.decay = DecaySpace.logUniform(min, max);
            return this;
        }

        /**
         * Any Arbiter space over the decay, such as a {@code DiscreteParameterSpace} of chosen values.
         *
         * @param space the space; its values must lie in {@code [0, 1]}
         * @return this builder
         * @throws IllegalArgumentException if {@code space} is null
         */
        public Builder decay(ParameterSpace<Double> space) {
            this.decay = required("decay space", space);
            return this;
        }

        /**
         * A fixed start: epochs trained before averaging starts. Default 0.
         *
         * @param epochs {@code ≥ 0}
         * @return this builder
         * @throws IllegalArgumentException if {@code epochs < 0}
         */
        public Builder startEpoch(int epochs) {
            if (epochs < 0) {
                throw new IllegalArgumentException("startEpoch should be >= 0 (got: " + epochs + ")");
            }
            this.startEpoch = new FixedValue<>(epochs);
            return this;
        }

        /**
         * A start searched uniformly among the integers {@code min..max} (Arbiter's {@code IntegerParameterSpace}).
         *
         * @param min the earliest start, {@code ≥ 0}
         * @param max the latest start, {@code ≥ min}
         * @return this builder
         * @throws IllegalArgumentException if {@code min < 0} or {@code max < min}
         */
        public Builder startEpoch(int min, int max) {
            if (min < 0) {
                throw new IllegalArgumentException("min startEpoch should be >= 0 (got: " + min + ")");
            }
            if (max < min) {
                throw new IllegalArgumentException("max startEpoch should be >= min = " + min + " (got: " + max
                        + ")");
            }
            this.startEpoch = min == max ? new FixedValue<>(min) : new IntegerParameterSpace(min, max);
            return this;
        }

        /**
         * The modes to choose from; one mode fixes it. Default {@link AverageMode#SHADOW}.
         *
         * @param values one or more modes, without duplicates
         * @return this builder
         * @throws IllegalArgumentException if no mode is given, one is null, or one is repeated
         */
        public Builder modes(AverageMode... values) {
            this.modes = choice("modes", values);
            return this;
        }

        /** @return the space */
        public AveragingSpace build() {
            return new AveragingSpace(this);
        }

        @SafeVarargs
        private static <V> ParameterSpace<V> choice(String name, V... values) {
            if (values == null || values.length == 0) {
                throw new IllegalArgumentException(name + " should list at least one value (got: none)");
            }
            List<V> list = Arrays.asList(values);
            if (list.contains(null)) {
                throw new IllegalArgumentException(name + " should not contain null (got: " + list + ")");
            }
            if (list.stream().distinct().count() != list.size()) {
                throw new IllegalArgumentException(name + " should not repeat a value (got: " + list + ")");
            }
            return values.length == 1 ? new FixedValue<>(values[0]) : new DiscreteParameterSpace<>(values);
        }

        private static <V> ParameterSpace<V> required(String name, ParameterSpace<V> space) {
            if (space == null) {
                throw new IllegalArgumentException(name + " should be an Arbiter ParameterSpace (got: null)");
            }
            return space;
        }
    }
}
