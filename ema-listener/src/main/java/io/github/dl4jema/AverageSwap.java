package io.github.dl4jema;

/**
 * The average swapped into a network, for evaluation in shadow mode; closing it puts the training weights back,
 * bit for bit.
 *
 * <pre>{@code
 * try (AverageSwap swap = ema.swapIn(net)) {
 *     Evaluation eval = net.evaluate(testIterator);   // scored on the averaged weights
 * }                                                  // training weights restored here
 * }</pre>
 *
 * <p>Do not train while a swap is open: the listener refuses to update until it is closed. Before the first
 * snapshot the average follows the weights, so the swap changes nothing.
 */
public interface AverageSwap extends AutoCloseable {

    /** Restores the training weights. Closing twice does nothing the second time. */
    @Override
    void close();
}
