package io.github.dl4jema;

import java.io.Serializable;

/**
 * The immutable configuration of an {@link EmaListener}: what is averaged, when, by which rule, and where the
 * average lives. Built by {@link EmaListener.Builder}; saved with the state.
 *
 * @param rule      the averaging rule (no default: choose one by name)
 * @param schedule  when snapshots are taken; default {@link UpdateSchedule#DEFAULT}, every epoch
 * @param mode      write-back or shadow; default {@link AverageMode#SHADOW}
 * @param selection which parameters; default {@link ParameterSelection#all()}
 * @param nonFinite what an update does with NaN/infinite parameters; default {@link NonFinitePolicy#SKIP}
 */
public record EmaConfig(AveragingRule rule, UpdateSchedule schedule, AverageMode mode, ParameterSelection selection,
                        NonFinitePolicy nonFinite) implements Serializable {

    /** The default schedule: every epoch. */
    public static final UpdateSchedule DEFAULT_SCHEDULE = UpdateSchedule.DEFAULT;
    /** The default mode: shadow, the network is never touched. */
    public static final AverageMode DEFAULT_MODE = AverageMode.SHADOW;
    /** The default selection: all parameters. */
    public static final ParameterSelection DEFAULT_SELECTION = ParameterSelection.all();
    /** The default policy for NaN/infinite parameters: skip the update, log a warning and count it. */
    public static final NonFinitePolicy DEFAULT_NON_FINITE = NonFinitePolicy.SKIP;

    /**
     * Validates that no field is null.
     *
     * @throws IllegalArgumentException naming the null field
     */
    public EmaConfig {
        requireSet("rule", rule);
        requireSet("schedule", schedule);
        requireSet("mode", mode);
        requireSet("selection", selection);
        requireSet("nonFinite", nonFinite);
    }

    private static void requireSet(String name, Object value) {
        if (value == null) {
            throw new IllegalArgumentException(name + " should be set (got: null)");
        }
    }

    @Override
    public String toString() {
        return "rule=" + rule + ", schedule=" + schedule + ", mode=" + mode + ", parameters=" + selection
                + ", nonFinite=" + nonFinite;
    }
}
