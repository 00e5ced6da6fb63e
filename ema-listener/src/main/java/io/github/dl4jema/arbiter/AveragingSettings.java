package io.github.dl4jema.arbiter;

import io.github.dl4jema.AverageMode;
import io.github.dl4jema.AveragingRule;
import io.github.dl4jema.EmaListener;
import io.github.dl4jema.UpdateSchedule;
import java.io.Serial;
import java.io.Serializable;

/**
 * The averaging settings of one search candidate: which rule, its decay, from which epoch, and where the average
 * lives. The value an {@link AveragingSpace} yields for a candidate; {@link #newListener()} turns it into a fresh
 * {@link EmaListener}.
 *
 * <p>The rule fixes the schedule: {@link AveragingRuleKind#SEED} updates at every epoch end, the others after
 * every iteration. {@code startEpoch} counts whole epochs trained before the first snapshot, in either unit: the
 * {@link AveragingTaskListener} forwards no training event to the listener before epoch {@code startEpoch + 1}
 * (1-based) begins. Before its first snapshot an average follows the weights, so a candidate that trains for no
 * more than {@code startEpoch} epochs is scored on its training weights.
 *
 * @param rule       the averaging rule
 * @param decay      the decay of the exponential rules, in {@code (0, 1)}; recorded but unused by the seed and
 *                   simple rules
 * @param startEpoch epochs to train before averaging starts, {@code ≥ 0}
 * @param mode       shadow or write-back
 */
public record AveragingSettings(AveragingRuleKind rule, double decay, int startEpoch, AverageMode mode)
        implements Serializable {

    @Serial
    private static final long serialVersionUID = 1L;

    /** The default decay, 0.99: suits a few hundred per-iteration updates (see {@code AveragingRule}). */
    public static final double DEFAULT_DECAY = 0.99;

    /**
     * Validates the fields.
     *
     * @throws IllegalArgumentException if {@code rule} or {@code mode} is null, {@code decay} is NaN or outside
     *                                  {@code (0, 1)}, or {@code startEpoch < 0}
     */
    public AveragingSettings {
        if (rule == null) {
            throw new IllegalArgumentException("rule should be an AveragingRuleKind such as EXPONENTIAL (got: null)");
        }
        AveragingRule.checkDecay(decay);
        if (startEpoch < 0) {
            throw new IllegalArgumentException("startEpoch should be >= 0 epochs trained before averaging starts "
                    + "(got: " + startEpoch + ")");
        }
        if (mode == null) {
            throw new IllegalArgumentException("mode should be SHADOW or WRITE_BACK (got: null)");
        }
    }

    /**
     * An exponential average with the given decay, from the first epoch, kept as a shadow.
     *
     * @param decay the decay, in {@code (0, 1)}
     * @return the settings
     * @throws IllegalArgumentException if {@code decay} is NaN or outside {@code (0, 1)}
     */
    public static AveragingSettings exponential(double decay) {
        return new AveragingSettings(AveragingRuleKind.EXPONENTIAL, decay, 0, AverageMode.SHADOW);
    }

    /**
     * A fresh, unbound listener with these settings, scoring on its average (the start is applied by the
     * {@link AveragingTaskListener}, see the class comment).
     *
     * @return a new listener
     */
    public EmaListener newListener() {
        EmaListener.Builder builder = EmaListener.builder(rule.rule(decay)).mode(mode).scoreOnAverage();
        return rule.unit() == UpdateSchedule.Unit.EPOCH ? builder.everyEpoch().build()
                : builder.everyIteration().build();
    }

    @Override
    public String toString() {
        String what = rule.usesDecay() ? rule + "(decay=" + decay + ")" : rule.toString();
        return what + (startEpoch == 0 ? "" : " from epoch " + (startEpoch + 1)) + ", " + mode;
    }
}
