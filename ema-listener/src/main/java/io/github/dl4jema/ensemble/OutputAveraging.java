package io.github.dl4jema.ensemble;

/** What an {@link EnsembleOfAverages} averages over its members. */
public enum OutputAveraging {
    /**
     * The pre-activation outputs of the members' output layers ({@code z = x·W + b}, the logits before softmax),
     * averaged, then put through the output layer's activation. This is what the reference code of
     * <i>Ensemble of Averages</i> (Arpit et al., NeurIPS 2022) does, and the default. Needs a dense
     * {@code OutputLayer} as the last layer of every member.
     */
    LOGITS,
    /** The members' outputs as they are (probabilities after softmax), averaged. Works for any output layer. */
    PROBABILITIES
}
