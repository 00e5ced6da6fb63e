package io.github.dl4jema.examples;

import java.awt.Color;

/** The methods the {@link RotatedDigitsBenchmark} compares, in the order of its tables. */
public enum Method {
    /** Plain training: the network's own weights (empirical risk minimisation). */
    ERM("ERM", "plain training, the network's own weights", new Color(0x333333)),
    /** The seed rule written back into the network at every epoch end ({@code EmaListener.seedRule()}). */
    SEED_WRITE_BACK("Seed rule (write-back)", "EmaListener.seedRule(): e/(e+1) every epoch, written back",
            new Color(0xE69F00)),
    /** The paper's simple moving average as a shadow ({@code EmaListener.simpleMovingAverage()}). */
    SMA("SMA (shadow)", "EmaListener.simpleMovingAverage(): every iteration after 100, shadow",
            new Color(0x0072B2)),
    /**
     * The simple moving average started at mid-run instead of after 100 iterations
     * ({@code EmaListener.builder(AveragingRule.simple()).everyIteration().startingAtFraction(0.5, total)}).
     */
    SMA_MID_RUN("SMA from mid-run (shadow)",
            "simple average, every iteration from the middle of training (startingAtFraction(0.5, total)), shadow",
            new Color(0x56B4E9)),
    /** An exponential moving average as a shadow ({@code EmaListener.exponential(decay)}). */
    EMA("EMA (shadow)", "EmaListener.exponential(decay): every iteration, shadow", new Color(0x009E73)),
    /**
     * A plain ensemble of the seeds' training weights, logits averaged: the control that tells how much of the
     * ensemble's gain comes from ensembling rather than from averaging weights.
     */
    ENSEMBLE_OF_ERM("Ensemble of ERM",
            "EnsembleOfAverages of the seeds' plain (ERM) networks, logits averaged; a control",
            new Color(0x999999)),
    /** The Ensemble of Averages: the SMA models of all seeds, logits averaged. */
    ENSEMBLE_OF_SMA("Ensemble of SMA", "EnsembleOfAverages of the seeds' SMA models, logits averaged",
            new Color(0xD55E00));

    private final String label;
    private final String description;
    private final Color color;

    Method(String label, String description, Color color) {
        this.label = label;
        this.description = description;
        this.color = color;
    }

    /** @return the colour of this method in the plots (Okabe-Ito palette, which colour-blind readers tell apart) */
    public Color color() {
        return color;
    }

    /** @return true for the ensembles, which are one model per held-out domain (their members are the seeds) */
    public boolean isEnsemble() {
        return this == ENSEMBLE_OF_ERM || this == ENSEMBLE_OF_SMA;
    }

    /** @return the name shown in tables, CSV files and plots */
    public String label() {
        return label;
    }

    /** @return what the method is, in one line */
    public String description() {
        return description;
    }
}
