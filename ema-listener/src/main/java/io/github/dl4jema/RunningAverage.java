package io.github.dl4jema;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The live state of one averager: the stored average in the network's flat parameter layout, the snapshot and step
 * counts, and the arithmetic on it. Owned by one {@link EmaListener}, which serialises calls.
 *
 * <p>Precision: for FLOAT and DOUBLE networks the average has the parameters' type. For HALF and BFLOAT16 networks it
 * is a FLOAT master copy, as mixed-precision trainers keep master weights: in the network's own type the decay itself
 * would be rounded (0.9999 is 1.0 in HALF) and every change smaller than half an ulp lost. Each update then converts
 * the selected parameters into a FLOAT scratch vector, checks and blends in FLOAT, and write-back or a swap writes the
 * average back rounded to the network's type.
 *
 * <p>Memory: the average (N values of its type), plus a scratch vector of N for half-precision networks and on the
 * portable (CUDA) path, all allocated once at the first snapshot, outside any workspace.
 */
final class RunningAverage {

    private final long[] ranges;
    private final DataType paramType;
    private final DataType type;
    private INDArray average;
    private INDArray[] averageViews;
    private INDArray scratch;
    private INDArray[] scratchViews;

    long snapshots;
    long lastStep;
    long skippedUpdates;
    long consecutiveSkips;
    /** WARN lines logged for skipped updates (the rate limit's count, read by tests). */
    long skipWarnings;

    /**
     * @param ranges    the selection's coalesced {@code [from, to)} ranges of the flat buffer
     * @param paramType the data type of the network's parameters
     * @param average   a restored average in the flat layout (of {@link #averageType(DataType)}), or null
     */
    RunningAverage(long[] ranges, DataType paramType, INDArray average) {
        this.ranges = ranges;
        this.paramType = paramType;
        this.type = averageType(paramType);
        if (average != null) {
            this.average = average;
            this.averageViews = NetworkSlot.slice(average, ranges);
        }
    }

    /** @return the type an average of parameters of {@code paramType} is kept in: FLOAT for the half types */
    static DataType averageType(DataType paramType) {
        return paramType == DataType.HALF || paramType == DataType.BFLOAT16 ? DataType.FLOAT : paramType;
    }

    long[] ranges() {
        return ranges;
    }

    /** @return the stored average (the flat layout), or null before the first snapshot; not a copy */
    INDArray average() {
        return average;
    }

    /**
     * The vectors an update reads the snapshot from: the parameter views themselves, or, for a half-precision
     * network, their FLOAT conversion in the scratch vector. Writes nothing of the state.
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
     * then the views {@code placeInto} (the network's parameters in write-back mode, or null) equal the average,
     * rounded to their type.
     *
     * @param snapshot  what {@link #snapshotOf} returned
     * @param placeInto the parameter views the new average is written into, or null
     * @param flat      the network's whole parameter buffer (read at the first snapshot only)
     */
    void add(INDArray[] snapshot, INDArray[] placeInto, INDArray flat, double decay) {
        if (average == null) {
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                average = Nd4j.createUninitialized(type, flat.length());
            }
            average.assign(flat);
            averageViews = NetworkSlot.slice(average, ranges);
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

    /** {@code params ← average} over the selection, rounded to the parameters' type. */
    void writeInto(INDArray[] params) {
        for (int i = 0; i < params.length; i++) {
            params[i].assign(averageViews[i]);
        }
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
            long length = ranges[ranges.length - 1];
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                scratch = Nd4j.createUninitialized(type, Math.max(length, 1));
            }
            scratchViews = NetworkSlot.slice(scratch, ranges);
        }
    }
}
