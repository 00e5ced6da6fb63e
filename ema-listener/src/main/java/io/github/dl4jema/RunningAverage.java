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
 * <p>Memory: the average ({@code length} values of its type, zero outside the selection); on the CPU, in shadow mode
 * with FLOAT or DOUBLE parameters, a spare vector of as many values that the one-pass kernel writes the next average
 * into (not with {@link NonFinitePolicy#SKIP_LOW_MEMORY}); a scratch vector of {@code length} FLOAT values for
 * half-precision parameters, and of the average's type on the portable (CUDA) path. All are allocated once, at the
 * first snapshot or the first blend, outside any workspace.
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
    private INDArray spare;
    private INDArray[] spareViews;

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
     * equal the average, rounded to their type. A rejected update leaves the parameters and the average exactly as
     * they were: the one-pass kernel writes the new average into the spare vector and keeps it only if every value
     * was finite; the two-pass kernel checks every parameter before its first write.
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
        double weight = 1.0 - decay;
        INDArray[] placeInto = config.mode().placeInto(params);
        INDArray[] snapshot = snapshotOf(params);
        if (snapshots > 0 && onePass(snapshot, weight, placeInto)) {
            boolean half = type != paramType;
            INDArray[] next = half ? snapshot : spareViews();
            if (BlendKernel.blendInto(averageViews, snapshot, next, weight)) {
                if (half) {
                    INDArray held = average;
                    average = scratch;
                    scratch = held;
                    scratchViews = averageViews;
                } else {
                    INDArray held = average;
                    average = spare;
                    spare = held;
                    spareViews = averageViews;
                }
                averageViews = next;
                if (placeInto != null) {
                    writeInto(placeInto);
                }
                snapshots++;
                accepted(step, subject);
                return true;
            }
            // the exact count decides, on the snapshot taken again (the one pass overwrote a half-precision one);
            // none found means a false alarm of the folded test (finite values so large that a sum overflowed), and
            // the two-pass kernel's blend then takes the update, as it always did
            snapshot = snapshotOf(params);
            long nonFinite = BlendKernel.countNonFinite(snapshot);
            if (nonFinite > 0) {
                skip(nonFinite, step);
                return false;
            }
        } else {
            long nonFinite = BlendKernel.countNonFinite(snapshot);
            if (nonFinite > 0) {
                skip(nonFinite, step);
                return false;
            }
        }
        add(snapshot, placeInto, decay);
        accepted(step, subject);
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
     * Whether this update takes the one-pass kernel: where {@link BlendKernel#canBlendInto} allows it, always for
     * half-precision parameters (their FLOAT snapshot in the scratch vector takes the new average, so the one pass
     * costs no memory), and in shadow mode for FLOAT and DOUBLE unless the policy is
     * {@link NonFinitePolicy#SKIP_LOW_MEMORY}. Write-back of FLOAT and DOUBLE stays two-pass: the check's read and
     * the fused in-place blend and copy move 20N bytes, while a one-pass blend into a spare vector followed by its
     * copy into the parameters would move 28N (a write-allocate cache reads every line written without being read)
     * and hold N values more.
     */
    private boolean onePass(INDArray[] snapshot, double weight, INDArray[] placeInto) {
        if (type != paramType) {
            return BlendKernel.canBlendInto(averageViews, snapshot, snapshot, weight);
        }
        return placeInto == null && config.nonFinite() != NonFinitePolicy.SKIP_LOW_MEMORY
                && BlendKernel.canBlendInto(averageViews, snapshot, averageViews, weight);
    }

    private void accepted(long step, String subject) {
        if (consecutiveSkips > 0) {
            log.info("Averaging '{}' resumed at step {} after {} skipped update(s)", config.name(), step,
                    consecutiveSkips);
        }
        consecutiveSkips = 0;
        lastStep = step;
        if (snapshots == 1) {
            log.info("Started averaging {} parameters of {} at step {}: {}", selectedLength(), subject, step, config);
        }
    }

    /**
     * The vectors an update reads the snapshot from: the parameter views themselves, or, for half-precision
     * parameters, their FLOAT conversion in the scratch vector. Writes nothing of the state.
     */
    private INDArray[] snapshotOf(INDArray[] params) {
        if (type == paramType) {
            return params;
        }
        ensureScratch();
        for (int i = 0; i < params.length; i++) {
            scratchViews[i].assign(params[i]);
        }
        return scratchViews;
    }

    /**
     * The two-pass kernel's blend of a checked snapshot: the first one is copied, every later one blended in place
     * with weight {@code 1 − decay}; then the views {@code placeInto} (the parameters in write-back mode, or null)
     * equal the average, rounded to their type.
     *
     * @param snapshot  what {@link #snapshotOf} returned
     * @param placeInto the parameter views the new average is written into, or null
     */
    private void add(INDArray[] snapshot, INDArray[] placeInto, double decay) {
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
            boolean fused = placeInto != null && type == paramType;
            if (BlendKernel.needsScratch(type)) {
                ensureScratch();
            }
            BlendKernel.blend(averageViews, snapshot, scratchViews, 1.0 - decay, fused ? placeInto : null);
            if (placeInto != null && !fused) {
                writeInto(placeInto);
            }
        }
        snapshots++;
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

    /**
     * @return the stored average (the flat layout), or null before the first snapshot; not a copy, and valid until the
     *         next update (an accepted one-pass update makes the spare vector the average)
     */
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

    /**
     * The scratch vector, allocated once: the FLOAT snapshot of half-precision parameters (which becomes the average
     * when a one-pass update succeeds, so it is zero outside the selection like the average), or the portable
     * kernel's work vector.
     */
    private void ensureScratch() {
        if (scratch == null) {
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                scratch = Nd4j.create(type, Math.max(length, 1));
            }
            scratchViews = ModelSlot.slice(scratch, ranges);
        }
    }

    /**
     * The spare vector of the one-pass kernel, allocated at its first use: the next average is written into it, and
     * it trades places with the average when the update is accepted. Zero outside the selection, like the average.
     */
    private INDArray[] spareViews() {
        if (spare == null) {
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                spare = Nd4j.create(type, Math.max(length, 1));
            }
            spareViews = ModelSlot.slice(spare, ranges);
        }
        return spareViews;
    }
}
