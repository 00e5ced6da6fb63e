package io.github.dl4jema;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One averager's live state and the update on it, independent of where the parameters live: the stored average, the
 * snapshot and step counts, the rule that gives each update's decay, the NaN/infinity guard and the placement
 * (write-back or shadow). It sees the parameters only as the vectors of a selection ({@code params[i]} is the range
 * {@code [ranges[2i], ranges[2i+1])} of a flat layout of {@code length} values): the flat {@code params()} buffer of a
 * DL4J network, or the variables of a graph laid end to end. Owned by one averager, which serialises calls.
 *
 * <p>Precision: for FLOAT and DOUBLE parameters the average has the parameters' type. For HALF and BFLOAT16 it is a
 * FLOAT master copy, as mixed-precision trainers keep master weights: in the parameters' own type the decay itself
 * would be rounded (0.9999 is 1.0 in HALF) and every change smaller than half an ulp lost. Each update then converts
 * the selected parameters into a FLOAT scratch vector, checks and blends in FLOAT, and write-back or a swap writes the
 * average back rounded to the parameters' type.
 *
 * <p>Memory: the average ({@code length} values of its type, zero outside the selection), plus a scratch vector of
 * {@code length} for half-precision parameters and on the portable (CUDA) path, all allocated once at the first
 * snapshot, outside any workspace.
 */
final class RunningAverage {

    private static final Logger log = LoggerFactory.getLogger(EmaListener.class);

    /** Consecutive skipped updates between two WARN summaries once training has diverged. */
    static final int SKIP_SUMMARY_EVERY = 100;

    private final EmaConfig config;
    private final long[] ranges;
    private final long length;
    private final DataType paramType;
    private final DataType type;
    private INDArray average;
    private INDArray[] averageViews;
    private INDArray scratch;
    private INDArray[] scratchViews;

    private long snapshots;
    private long lastStep;
    private long skippedUpdates;
    private long consecutiveSkips;
    private long skipStreakStart;
    /** WARN lines logged for skipped updates (the rate limit's count, read by tests). */
    private long skipWarnings;

    /**
     * @param config    the averager's configuration: rule, placement, NaN policy, name (for log lines)
     * @param ranges    the selection's coalesced {@code [from, to)} ranges of the flat layout
     * @param length    the length of the flat layout
     * @param paramType the data type of the parameters
     */
    RunningAverage(EmaConfig config, long[] ranges, long length, DataType paramType) {
        this.config = config;
        this.ranges = ranges;
        this.length = length;
        this.paramType = paramType;
        this.type = averageType(paramType);
    }

    /** @return the type an average of parameters of {@code paramType} is kept in: FLOAT for the half types */
    static DataType averageType(DataType paramType) {
        return paramType == DataType.HALF || paramType == DataType.BFLOAT16 ? DataType.FLOAT : paramType;
    }

    /**
     * Continues a saved state: its average (in the flat layout, of {@link #averageType(DataType)}; null before the
     * first snapshot) and counts. The average is used as it is, not copied.
     */
    void resume(INDArray savedAverage, long savedSnapshots, long savedLastStep, long savedSkippedUpdates) {
        if (savedAverage != null) {
            average = savedAverage;
            averageViews = ModelSlot.slice(average, ranges);
        }
        snapshots = savedSnapshots;
        lastStep = savedLastStep;
        skippedUpdates = savedSkippedUpdates;
    }

    // ---------------------------------------------------------------- the update

    /**
     * Takes a snapshot of {@code params} as 1-based step {@code step}: the first one initialises the average, every
     * later one is blended in with the weight {@code 1 − ρ} the rule gives; in write-back mode {@code params} then
     * equal the average, rounded to their type. Every check runs before the first write: a rejected update leaves
     * the parameters and the average exactly as they were.
     *
     * @param params  the selected parameters, one vector per range
     * @param step    the step number the rule sees
     * @param subject what is averaged, for the log line when averaging starts
     * @return true if the snapshot was taken, false if it was skipped for NaN/infinite parameters
     * @throws IllegalStateException        if the rule returned a decay outside {@code [0, 1]}
     * @throws NonFiniteParametersException under {@link NonFinitePolicy#FAIL} if the parameters hold NaN/infinity
     */
    boolean update(INDArray[] params, long step, String subject) {
        double decay = snapshots == 0 ? 0.0 : checkedDecay(step);
        INDArray[] snapshot = snapshotOf(params);
        long nonFinite = countNonFinite(snapshot);
        if (nonFinite > 0) {
            skip(nonFinite, step);
            return false;
        }
        if (consecutiveSkips > 0) {
            log.info("Averaging '{}' resumed at step {} after {} skipped update(s)", config.name(), step,
                    consecutiveSkips);
        }
        add(snapshot, config.mode().placeInto(params), decay);
        lastStep = step;
        if (snapshots == 1) {
            log.info("Started averaging {} parameters of {} at step {}: {}", selectedLength(), subject, step, config);
        }
        return true;
    }

    /** Records that step {@code step} passed without a snapshot (the schedule did not call for one). */
    void pass(long step) {
        lastStep = step;
    }

    private double checkedDecay(long step) {
        double decay = config.rule().decay(snapshots, step);
        if (!(decay >= 0.0 && decay <= 1.0)) {
            throw new IllegalStateException("averaging rule " + config.rule() + " returned decay " + decay
                    + " for snapshot " + (snapshots + 1) + " at step " + step
                    + "; a decay should be in [0, 1]. Nothing was changed.");
        }
        return decay;
    }

    /**
     * The vectors an update reads the snapshot from: the parameter views themselves, or, for half-precision
     * parameters, their FLOAT conversion in the scratch vector. Writes nothing of the state.
     */
    INDArray[] snapshotOf(INDArray[] params) {
        if (type == paramType) {
            return params;
        }
        ensureScratch();
        for (int i = 0; i < params.length; i++) {
            scratchViews[i].assign(params[i]);
        }
        return scratchViews;
    }

    /** @return the number of NaN or infinite values in {@code snapshot} */
    static long countNonFinite(INDArray[] snapshot) {
        long n = 0;
        for (INDArray range : snapshot) {
            n += BlendKernel.countNonFinite(range);
        }
        return n;
    }

    /**
     * Blends a checked snapshot in: the first one is copied, every later one blended with weight {@code 1 − decay};
     * then the views {@code placeInto} (the parameters in write-back mode, or null) equal the average, rounded to
     * their type.
     *
     * @param snapshot  what {@link #snapshotOf} returned
     * @param placeInto the parameter views the new average is written into, or null
     */
    void add(INDArray[] snapshot, INDArray[] placeInto, double decay) {
        if (average == null) {
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                average = Nd4j.create(type, Math.max(length, 1));
            }
            averageViews = ModelSlot.slice(average, ranges);
        }
        if (snapshots == 0) {
            for (int i = 0; i < averageViews.length; i++) {
                averageViews[i].assign(snapshot[i]);
            }
        } else {
            double weight = 1.0 - decay;
            boolean fused = placeInto != null && type == paramType;
            if (BlendKernel.needsScratch(type)) {
                ensureScratch();
            }
            for (int i = 0; i < averageViews.length; i++) {
                INDArray work = scratchViews == null ? null : scratchViews[i];
                BlendKernel.blend(averageViews[i], snapshot[i], work, weight, fused ? placeInto[i] : null);
            }
            if (placeInto != null && !fused) {
                writeInto(placeInto);
            }
        }
        snapshots++;
        consecutiveSkips = 0;
    }

    private void skip(long nonFinite, long step) {
        String what = nonFinite + " NaN or infinite parameter value(s) at step " + step
                + "; the network and the average are unchanged";
        if (config.nonFinite() == NonFinitePolicy.FAIL) {
            throw new NonFiniteParametersException(what + ". Lower the learning rate or clip gradients; "
                    + "NonFinitePolicy.SKIP skips such updates instead");
        }
        skippedUpdates++;
        consecutiveSkips++;
        lastStep = step;
        if (consecutiveSkips == 1) {
            skipStreakStart = step;
            skipWarnings++;
            log.warn("Skipped averaging update of '{}': {} ({} skipped so far; further skips in a row are "
                    + "summarised every {})", config.name(), what, skippedUpdates, SKIP_SUMMARY_EVERY);
        } else if (consecutiveSkips % SKIP_SUMMARY_EVERY == 0) {
            skipWarnings++;
            log.warn("Skipped averaging update of '{}': the last {} updates in a row were all skipped ({} in all): "
                    + "the parameters have held NaN or infinite values since step {}, so training has diverged. "
                    + "The average still holds the weights from before step {}. Lower the learning rate or clip "
                    + "gradients.", config.name(), consecutiveSkips, skippedUpdates, skipStreakStart,
                    skipStreakStart);
        }
    }

    // ---------------------------------------------------------------- reading

    /** {@code params ← average} over the selection, rounded to the parameters' type. */
    void writeInto(INDArray[] params) {
        for (int i = 0; i < params.length; i++) {
            params[i].assign(averageViews[i]);
        }
    }

    /** @return the stored average (the flat layout), or null before the first snapshot; not a copy */
    INDArray average() {
        return average;
    }

    long[] ranges() {
        return ranges;
    }

    long snapshots() {
        return snapshots;
    }

    long lastStep() {
        return lastStep;
    }

    long skippedUpdates() {
        return skippedUpdates;
    }

    long skipWarnings() {
        return skipWarnings;
    }

    /** @return the number of selected parameters */
    long selectedLength() {
        long n = 0;
        for (int i = 0; i < ranges.length; i += 2) {
            n += ranges[i + 1] - ranges[i];
        }
        return n;
    }

    private void ensureScratch() {
        if (scratch == null) {
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                scratch = Nd4j.createUninitialized(type, Math.max(length, 1));
            }
            scratchViews = ModelSlot.slice(scratch, ranges);
        }
    }
}
