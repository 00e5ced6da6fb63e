package io.github.dl4jema;

/**
 * When the listener takes a snapshot: at epoch ends or after iterations, every {@code frequency} units, counted
 * from {@code start}.
 *
 * <p>Units are numbered from 1 and counted by the averager itself: the first epoch end (or iteration) it sees is
 * unit 1, and a restored averager counts on from its saved count. DL4J's own epoch and iteration counters are not
 * read, because they are lifetime counters (already high on a loaded or pretrained network) and DL4J's
 * early-stopping trainer rewinds the epoch count at every {@code fit}. An update fires at unit {@code s} when
 * {@code s > start} and {@code (s − start)} is a multiple of {@code frequency}. Before the first update the average
 * follows the weights: {@link EmaListener#averagedParams(org.deeplearning4j.nn.api.Model)} returns the network's own
 * parameters.
 *
 * <p>Immutable; build one with the factories and {@link #startingAfter(long)}.
 *
 * @param unit      epochs or iterations
 * @param frequency take a snapshot every this many units, {@code ≥ 1}
 * @param start     the number of units to train before averaging starts, {@code ≥ 0}
 */
public record UpdateSchedule(Unit unit, long frequency, long start) {

    /** The unit an update schedule counts in. */
    public enum Unit {
        /** Updates in {@code onEpochEnd}, as the seed (DomainLab's {@code TrainerMA}). */
        EPOCH,
        /** Updates in {@code iterationDone}, as the paper's reference code and timm. */
        ITERATION
    }

    /** The default schedule: one snapshot at the end of every epoch from the first. */
    public static final UpdateSchedule DEFAULT = new UpdateSchedule(Unit.EPOCH, 1, 0);

    /**
     * Validates the fields.
     *
     * @throws IllegalArgumentException if {@code unit} is null, {@code frequency < 1} or {@code start < 0}
     */
    public UpdateSchedule {
        if (unit == null) {
            throw new IllegalArgumentException("unit should be EPOCH or ITERATION (got: null)");
        }
        if (frequency < 1) {
            throw new IllegalArgumentException("frequency should be >= 1 " + unit.name().toLowerCase()
                    + "(s) between snapshots (got: " + frequency + ")");
        }
        if (start < 0) {
            throw new IllegalArgumentException("start should be >= 0 " + unit.name().toLowerCase()
                    + "s trained before averaging starts (got: " + start + ")");
        }
    }

    /**
     * A snapshot at the end of every epoch; the default.
     *
     * @return the schedule
     */
    public static UpdateSchedule everyEpoch() {
        return DEFAULT;
    }

    /**
     * A snapshot at the end of every {@code n}-th epoch.
     *
     * @param n epochs between snapshots, {@code ≥ 1}
     * @return the schedule
     * @throws IllegalArgumentException if {@code n < 1}
     */
    public static UpdateSchedule everyNEpochs(long n) {
        return new UpdateSchedule(Unit.EPOCH, n, 0);
    }

    /**
     * A snapshot after every iteration (minibatch update).
     *
     * @return the schedule
     */
    public static UpdateSchedule everyIteration() {
        return everyNIterations(1);
    }

    /**
     * A snapshot after every {@code n}-th iteration.
     *
     * @param n iterations between snapshots, {@code ≥ 1}
     * @return the schedule
     * @throws IllegalArgumentException if {@code n < 1}
     */
    public static UpdateSchedule everyNIterations(long n) {
        return new UpdateSchedule(Unit.ITERATION, n, 0);
    }

    /**
     * This schedule, starting after {@code units} epochs or iterations of training (the paper's reference code
     * starts its simple moving average after 100 iterations). Default 0.
     *
     * @param units epochs or iterations (this schedule's unit) to train before the first snapshot, {@code ≥ 0}
     * @return a new schedule
     * @throws IllegalArgumentException if {@code units < 0}
     */
    public UpdateSchedule startingAfter(long units) {
        return new UpdateSchedule(unit, frequency, units);
    }

    /**
     * This schedule, starting after a fraction of a training run of {@code totalUnits} epochs or iterations:
     * {@code start = floor(fraction · totalUnits)}. Started at mid-run (0.5), a simple average was level with plain
     * training in our benchmark (docs/BENCHMARK.md), where one started after 99 iterations lost 1.2 points on a model
     * that was still improving.
     *
     * @param fraction   the fraction of training before averaging starts, in {@code [0, 1)}
     * @param totalUnits the planned length of training in this schedule's unit, {@code ≥ 1}
     * @return a new schedule
     * @throws IllegalArgumentException if {@code fraction} is outside {@code [0, 1)} or {@code totalUnits < 1}
     */
    public UpdateSchedule startingAtFraction(double fraction, long totalUnits) {
        if (!(fraction >= 0.0 && fraction < 1.0)) {
            throw new IllegalArgumentException("fraction of training before averaging should be in [0, 1) (got: "
                    + fraction + ")");
        }
        if (totalUnits < 1) {
            throw new IllegalArgumentException("totalUnits should be >= 1 " + unit.name().toLowerCase()
                    + "s of planned training (got: " + totalUnits + ")");
        }
        return startingAfter((long) Math.floor(fraction * totalUnits));
    }

    /**
     * Whether a snapshot is due at the end of 1-based unit {@code step}.
     *
     * @param step the 1-based number of the epoch or iteration that just ended
     * @return true if {@code step > start} and {@code step − start} is a multiple of {@code frequency}
     */
    public boolean isDue(long step) {
        return step > start && (step - start) % frequency == 0;
    }

    @Override
    public String toString() {
        String every = frequency == 1 ? "every " + unit.name().toLowerCase()
                : "every " + frequency + " " + unit.name().toLowerCase() + "s";
        return start == 0 ? every : every + " after " + start + " " + unit.name().toLowerCase() + "s";
    }
}
