package io.github.dl4jema;

/**
 * What an update does when the network's parameters hold NaN or infinite values. Under every policy a rejected
 * update leaves the network and the average exactly as they were, bit for bit.
 *
 * <p>The policies also choose how the check is made on the CPU. {@link #SKIP} and {@link #FAIL} fold it into the
 * blend's single pass: in shadow mode the new average is written into a second vector, which replaces the average
 * only when every value was finite, so an averager holds N more values (4 bytes each for FLOAT parameters, 8 for
 * DOUBLE) and the update reads and writes the least memory it can. {@link #SKIP_LOW_MEMORY} reads every parameter
 * once more before the blend instead, and needs no second vector. Write-back mode, half-precision networks and the
 * CUDA backend need no second vector under any policy (docs/PERFORMANCE.md gives the numbers).
 */
public enum NonFinitePolicy {
    /** The default: the update is skipped with a WARN log and counted ({@link EmaListener#skippedUpdates()}). */
    SKIP,
    /**
     * As {@link #SKIP}, without the second vector of the one-pass check: a separate read of every parameter before
     * the blend. For networks whose average and a second copy of it do not both fit in memory; in shadow mode each
     * update then moves 16N bytes instead of 12N.
     */
    SKIP_LOW_MEMORY,
    /** The update throws {@link NonFiniteParametersException}. */
    FAIL
}
