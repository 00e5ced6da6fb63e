package io.github.dl4jema;

import java.util.Properties;
import java.util.regex.Pattern;

/**
 * The immutable configuration of an averager ({@link EmaListener} or {@link SameDiffAverager}): its name, what is
 * averaged, when, by which rule, and where the average lives. Built by {@link EmaListener.Builder} or
 * {@link SameDiffAverager.Builder}; saved with the state.
 *
 * @param name      the averager's name: the key its state is saved under in a model zip, unique per network;
 *                  default {@link #defaultName(AveragingRule)}
 * @param rule      the averaging rule (no default: choose one by name)
 * @param schedule  when snapshots are taken; default {@link UpdateSchedule#DEFAULT}, every epoch
 * @param mode      write-back or shadow; default {@link AverageMode#SHADOW}
 * @param selection which parameters; default {@link ParameterSelection#all()}
 * @param nonFinite what an update does with NaN/infinite parameters; default {@link NonFinitePolicy#SKIP}
 * @param scoreOnAverage whether the network holds the average between an epoch's end and the next epoch's start, so
 *                  that whatever scores the epoch sees the average; default false (see
 *                  {@link EmaListener.Builder#scoreOnAverage()})
 */
public record EmaConfig(String name, AveragingRule rule, UpdateSchedule schedule, AverageMode mode,
                        ParameterSelection selection, NonFinitePolicy nonFinite, boolean scoreOnAverage) {

    /** The default schedule: every epoch. */
    public static final UpdateSchedule DEFAULT_SCHEDULE = UpdateSchedule.DEFAULT;
    /** The default mode: shadow, the network is never touched. */
    public static final AverageMode DEFAULT_MODE = AverageMode.SHADOW;
    /** The default selection: all parameters. */
    public static final ParameterSelection DEFAULT_SELECTION = ParameterSelection.all();
    /** The default policy for NaN/infinite parameters: skip the update, log a warning and count it. */
    public static final NonFinitePolicy DEFAULT_NON_FINITE = NonFinitePolicy.SKIP;
    /** By default the network holds its training weights between epochs: scoring sees the training weights. */
    public static final boolean DEFAULT_SCORE_ON_AVERAGE = false;

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

    /**
     * Validates the fields.
     *
     * @throws IllegalArgumentException naming the field that is null, or a name that is not a valid key
     */
    public EmaConfig {
        checkName(name);
        requireSet("rule", rule);
        requireSet("schedule", schedule);
        requireSet("mode", mode);
        requireSet("selection", selection);
        requireSet("nonFinite", nonFinite);
    }

    /**
     * The name an averager gets unless one is given: its rule, as {@code seed}, {@code simple},
     * {@code exponential-0.99}, {@code exponentialWithWarmup-0.999}, or {@code custom} for a custom rule. Two
     * averagers on one network need distinct names; the first update of the second refuses a clash.
     *
     * @param rule the rule
     * @return the default name
     */
    public static String defaultName(AveragingRule rule) {
        String saved = Rules.savedName(rule);
        return saved == null ? "custom" : saved.replace(':', '-');
    }

    static String checkName(String name) {
        if (name == null || !NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("name should be 1 to 64 letters, digits, '.', '_' or '-', starting "
                    + "with a letter or digit (got: " + (name == null ? "null" : "'" + name + "'") + ")");
        }
        return name;
    }

    private static void requireSet(String name, Object value) {
        if (value == null) {
            throw new IllegalArgumentException(name + " should be set (got: null)");
        }
    }

    void writeTo(Properties p) {
        p.setProperty("name", name);
        String ruleName = Rules.savedName(rule);
        p.setProperty("rule", ruleName != null ? ruleName : "custom");
        p.setProperty("rule.description", rule.toString());
        p.setProperty("schedule.unit", schedule.unit().name());
        p.setProperty("schedule.frequency", Long.toString(schedule.frequency()));
        p.setProperty("schedule.start", Long.toString(schedule.start()));
        p.setProperty("mode", mode.name());
        p.setProperty("selection", selection.encode());
        p.setProperty("nonFinite", nonFinite.name());
        p.setProperty("scoreOnAverage", Boolean.toString(scoreOnAverage));
    }

    static EmaConfig readFrom(Properties p, AveragingRule customRule, String where) {
        String name = p.getProperty("name");
        String ruleName = p.getProperty("rule");
        AveragingRule rule;
        if ("custom".equals(ruleName)) {
            if (customRule == null) {
                throw new IllegalArgumentException("averaging state '" + name + "' in " + where + " was saved with "
                        + "the custom rule " + p.getProperty("rule.description") + ", which cannot be saved as "
                        + "data: pass it again with restore(file, model, RestoreOptions.named(\"" + name
                        + "\").rule(yourRule)) of EmaListener or SameDiffAverager");
            }
            rule = customRule;
        } else {
            rule = Rules.fromSavedName(ruleName);
            if (rule == null) {
                throw new IllegalArgumentException("averaging state '" + name + "' in " + where + " names an "
                        + "unknown rule (got: " + ruleName + ")");
            }
        }
        try {
            UpdateSchedule schedule = new UpdateSchedule(UpdateSchedule.Unit.valueOf(p.getProperty("schedule.unit")),
                    Long.parseLong(p.getProperty("schedule.frequency")),
                    Long.parseLong(p.getProperty("schedule.start")));
            return new EmaConfig(name, rule, schedule, AverageMode.valueOf(p.getProperty("mode")),
                    ParameterSelection.decode(p.getProperty("selection")),
                    NonFinitePolicy.valueOf(p.getProperty("nonFinite")),
                    Boolean.parseBoolean(p.getProperty("scoreOnAverage", "false")));
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("averaging state '" + name + "' in " + where + " has a malformed "
                    + "configuration: " + e.getMessage(), e);
        }
    }

    @Override
    public String toString() {
        return "name=" + name + ", rule=" + rule + ", schedule=" + schedule + ", mode=" + mode + ", parameters="
                + selection + ", nonFinite=" + nonFinite + (scoreOnAverage ? ", scoreOnAverage" : "");
    }
}
