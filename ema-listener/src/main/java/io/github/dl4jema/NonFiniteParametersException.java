package io.github.dl4jema;

/**
 * Thrown by an update under {@link NonFinitePolicy#FAIL} when the network's parameters hold NaN or infinite
 * values. The network and the stored average are exactly as they were before the update.
 */
public class NonFiniteParametersException extends IllegalStateException {

    private static final long serialVersionUID = 1L;

    /**
     * @param message what was found and what the caller can do
     */
    public NonFiniteParametersException(String message) {
        super(message);
    }
}
