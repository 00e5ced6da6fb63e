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
     * The epoch-to-epoch instability the paper targets: the population standard deviation of the OOD accuracy over
     * the last half of training, epochs {@code floor(E/2) + 1} to {@code E}.
     *
     * @return the standard deviation, in accuracy units (fractions)
     */
    public double lastHalfOodStd() {
        int from = ood.length / 2;
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
}
