package io.github.dl4jema;

/** What an update does when the network's parameters hold NaN or infinite values. */
public enum NonFinitePolicy {
    /** The default: the update is skipped with a WARN log and counted ({@link EmaListener#skippedUpdates()}). */
    SKIP,
    /** The update throws {@link NonFiniteParametersException}. */
    FAIL
}
