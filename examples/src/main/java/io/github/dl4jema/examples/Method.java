package io.github.dl4jema.examples;

/** The methods the {@link RotatedDigitsBenchmark} compares, in the order of its tables. */
public enum Method {
    /** Plain training: the network's own weights (empirical risk minimisation). */
    ERM("ERM", "plain training, the network's own weights"),
    /** The seed rule written back into the network at every epoch end ({@code EmaListener.seedRule()}). */
    SEED_WRITE_BACK("Seed rule (write-back)", "EmaListener.seedRule(): e/(e+1) every epoch, written back"),
    /** The paper's simple moving average as a shadow ({@code EmaListener.simpleMovingAverage()}). */
    SMA("SMA (shadow)", "EmaListener.simpleMovingAverage(): every iteration after 100, shadow"),
    /** An exponential moving average as a shadow ({@code EmaListener.exponential(decay)}). */
    EMA("EMA (shadow)", "EmaListener.exponential(decay): every iteration, shadow"),
    /** The Ensemble of Averages: the SMA models of all seeds, logits averaged. */
    ENSEMBLE_OF_SMA("Ensemble of SMA", "EnsembleOfAverages of the seeds' SMA models, logits averaged");

    private final String label;
    private final String description;

    Method(String label, String description) {
        this.label = label;
        this.description = description;
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
