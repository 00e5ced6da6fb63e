package io.github.dl4jema.examples;

import java.awt.Color;
import java.util.Locale;

/**
 * The methods the {@link RotatedDigitsBenchmark} compares, in the order of its tables. Iterations are numbered from 1
 * ({@code iterationDone}'s 0-based count plus one), over the whole run; "the weights after iteration i" are the
 * network's parameters once the optimizer has taken its i-th step.
 */
public enum Method {
    /** Plain training: the network's own weights (empirical risk minimisation). */
    ERM("ERM", null, new Color(0x333333)),
    /**
     * The seed rule written back into the network at every epoch end:
     * {@code builder(AveragingRule.seed()).everyEpoch().writeBack()}, the settings of {@code EmaListener.seedRule()}.
     */
    SEED_WRITE_BACK("Seed rule (write-back)", null, new Color(0xE69F00)),
    /**
     * The paper's simple moving average as a shadow, from iteration {@value RotatedDigitsBenchmark#EARLY_SMA_START}
     * + 1 = 99 as the reference {@code MovingAvg} (sma_start_iter = 100 with a 1-based counter): built explicitly as
     * {@code builder(AveragingRule.simple()).everyIteration().startingAfter(98).shadow()}.
     */
    SMA("SMA from iteration 99 (shadow)", null, new Color(0x0072B2)),
    /** The simple moving average started at mid-run: {@code startingAfter(N / 2)} for a run of N iterations. */
    SMA_MID_RUN("SMA from mid-run (shadow)", null, new Color(0x56B4E9)),
    /**
     * An exponential moving average as a shadow, every iteration from the first:
     * {@code builder(AveragingRule.exponential(decay)).everyIteration().shadow()}, the settings of
     * {@code EmaListener.exponential(decay)}.
     */
    EMA("EMA (shadow)", null, new Color(0x009E73)),
    /**
     * A plain ensemble of the seeds' training weights, logits averaged: the control that tells how much of an
     * Ensemble of Averages' gain comes from ensembling rather than from averaging weights.
     */
    ENSEMBLE_OF_ERM("Ensemble of ERM", ERM, new Color(0x999999)),
    /** The Ensemble of Averages over the seeds' {@link #SMA} models (from iteration 99), logits averaged. */
    ENSEMBLE_OF_SMA("Ensemble of SMA from 99", SMA, new Color(0xD55E00)),
    /** The Ensemble of Averages over the seeds' {@link #SMA_MID_RUN} models, logits averaged. */
    ENSEMBLE_OF_SMA_MID_RUN("Ensemble of mid-run SMA", SMA_MID_RUN, new Color(0xCC79A7)),
    /** The Ensemble of Averages over the seeds' {@link #EMA} models, logits averaged. */
    ENSEMBLE_OF_EMA("Ensemble of EMA", EMA, new Color(0x882255));

    private final String label;
    private final Method member;
    private final Color color;

    Method(String label, Method member, Color color) {
        this.label = label;
        this.member = member;
        this.color = color;
    }

    /** @return the colour of this method in the plots (Okabe-Ito palette and Tol's wine) */
    public Color color() {
        return color;
    }

    /** @return true for the ensembles, which are one model per held-out domain (their members are the seeds) */
    public boolean isEnsemble() {
        return member != null;
    }

    /** @return for an ensemble, the method of its members (one per seed); {@code null} for a single model */
    public Method member() {
        return member;
    }

    /** @return the name shown in tables, CSV files and plots */
    public String label() {
        return label;
    }

    /**
     * What the method is and which iterations it averages, in one line, for a run with the given schedule.
     *
     * @param plan the run's epochs, iterations per epoch and EMA decay
     * @return the description
     */
    public String description(RotatedDigitsBenchmark.Plan plan) {
        long n = plan.totalIterations();
        long perEpoch = plan.iterationsPerEpoch();
        return switch (this) {
            case ERM -> String.format(Locale.ROOT, "plain training: the network's own weights, after iteration "
                    + "%d·e at the end of epoch e", perEpoch);
            case SEED_WRITE_BACK -> String.format(Locale.ROOT, "`builder(AveragingRule.seed()).everyEpoch()"
                    + ".writeBack()` (as `EmaListener.seedRule()`): at the end of epoch e, "
                    + "θ̄ ← e/(e+1)·θ̄ + θ/(e+1) (epoch 1 copied), written back into the network, which trains on "
                    + "from the average: a weighted average of the weights at epoch ends (iterations %d, %d, …, %d), "
                    + "each epoch starting from the previous average", perEpoch, 2 * perEpoch, n);
            case SMA -> String.format(Locale.ROOT, "equal-weight average of the weights after iterations %d..t, "
                    + "t = %d·e at epoch e (iterations %d..%d at the end), updated every iteration, shadow; "
                    + "`builder(AveragingRule.simple()).everyIteration().startingAfter(%d).shadow()`, the paper's "
                    + "reference `MovingAvg`; before iteration %d it is the training weights",
                    plan.smaStart() + 1, perEpoch, plan.smaStart() + 1, n, plan.smaStart(), plan.smaStart() + 1);
            case SMA_MID_RUN -> String.format(Locale.ROOT, "equal-weight average of the weights after iterations "
                    + "%d..t (%d..%d at the end), updated every iteration, shadow; `startingAfter(%d)`, half of the "
                    + "run's %d iterations; before iteration %d it is the training weights",
                    plan.midRunStart() + 1, plan.midRunStart() + 1, n, plan.midRunStart(), n,
                    plan.midRunStart() + 1);
            case EMA -> String.format(Locale.ROOT, "`builder(AveragingRule.exponential(%s)).everyIteration().shadow()`"
                    + " (as `EmaListener.exponential(d)`): θ̄ ← d·θ̄ + (1−d)·θ after every "
                    + "iteration from 1 (iteration 1 copied), shadow: the weights after iteration i count with "
                    + "weight (1−d)·d^(t−i) for i ≥ 2, iteration 1 with d^(t−1); %.0f iterations halve a snapshot's "
                    + "weight", plan.emaDecay(), Math.log(2) / -Math.log(plan.emaDecay()));
            default -> String.format(Locale.ROOT, "`EnsembleOfAverages` (logits averaged) of the seeds' %s models "
                    + "at the same epoch%s", member.label, this == ENSEMBLE_OF_ERM ? "; a control" : "");
        };
    }
}
