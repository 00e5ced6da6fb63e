package io.github.dl4jema.examples;

/**
 * The accuracies of one model over the epochs of one training run: in-domain validation and out-of-domain (OOD)
 * test, as fractions in {@code [0, 1]}; index {@code e - 1} holds epoch {@code e}.
 *
 * @param validation in-domain validation accuracy after each epoch
 * @param ood        accuracy on the held-out domain after each epoch
 */
public record Curve(double[] validation, double[] ood) {

    /**
     * Checks that both arrays cover the same epochs.
     *
     * @throws IllegalArgumentException if the lengths differ or are 0
     */
    public Curve {
        if (validation.length != ood.length || ood.length == 0) {
            throw new IllegalArgumentException("validation and OOD accuracies should cover the same epochs, at least "
                    + "one (got: " + validation.length + " and " + ood.length + ")");
        }
    }

    /** @return the number of epochs */
    public int epochs() {
        return ood.length;
    }

    /**
     * The epoch selected on in-domain validation, as DomainBed's training-domain validation: the highest validation
     * accuracy, ties going to the later epoch (averaged models change little late in training, and the later
     * epoch has seen more data).
     *
     * @return the 1-based selected epoch
     */
    public int selectedEpoch() {
        int best = 0;
        for (int e = 1; e < validation.length; e++) {
            if (validation[e] >= validation[best]) {
                best = e;
            }
        }
        return best + 1;
    }

    /** @return the OOD accuracy at the {@link #selectedEpoch()} */
    public double selectedOod() {
        return ood[selectedEpoch() - 1];
    }

    /**
     * The first epoch of the window the instability measures use: the last half of training, epochs
     * {@code floor(E/2) + 1} to {@code E} (21 to 40 of 40).
     *
     * @return the 1-based first epoch of the window
     */
    public int lastHalfFirstEpoch() {
        return ood.length / 2 + 1;
    }

    /**
     * The spread of OOD accuracy over the last half of training: the population standard deviation over epochs
     * {@link #lastHalfFirstEpoch()} to {@code E}. It counts a curve that still rises steadily as unstable, as much as
     * one that jumps up and down; {@link #lastHalfOodMeanAbsChange()} tells the two apart.
     *
     * @return the standard deviation, in accuracy units (fractions)
     */
    public double lastHalfOodStd() {
        int from = lastHalfFirstEpoch() - 1;
        int n = ood.length - from;
        double mean = 0;
        for (int e = from; e < ood.length; e++) {
            mean += ood[e];
        }
        mean /= n;
        double sum = 0;
        for (int e = from; e < ood.length; e++) {
            sum += (ood[e] - mean) * (ood[e] - mean);
        }
        return Math.sqrt(sum / n);
    }

    /**
     * The epoch-to-epoch jitter the paper's plots show: the mean absolute change of OOD accuracy from one epoch to
     * the next within the last half of training, {@code mean |ood(e) − ood(e−1)|} over the epochs {@code e} from
     * {@link #lastHalfFirstEpoch()} + 1 to {@code E} (the 19 changes between epochs 21 and 40 of 40). A steady
     * rise of r per epoch scores r; a curve that alternates by ±a scores 2a.
     *
     * @return the mean absolute change, in accuracy units (fractions); 0 if the window holds one epoch
     */
    public double lastHalfOodMeanAbsChange() {
        int from = lastHalfFirstEpoch() - 1;
        if (ood.length - from < 2) {
            return 0.0;
        }
        double sum = 0;
        for (int e = from + 1; e < ood.length; e++) {
            sum += Math.abs(ood[e] - ood[e - 1]);
        }
        return sum / (ood.length - from - 1);
    }
}
