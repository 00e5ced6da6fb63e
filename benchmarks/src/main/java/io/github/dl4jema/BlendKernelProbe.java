package io.github.dl4jema;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The benchmarks' access to the package-private {@link BlendKernel}, to measure the listener's update in its parts:
 * the non-finite check and the blend. It lives in the benchmarks module, in the library's package, so that the
 * library's API stays as it is.
 */
public final class BlendKernelProbe {

    private BlendKernelProbe() {
    }

    /**
     * The blend alone, without the non-finite check or the listener around it.
     *
     * @param average   the average, updated in place
     * @param params    the parameters; in write-back mode set to the new average
     * @param decay     the decay
     * @param writeBack whether to write the average back into {@code params}
     */
    public static void blend(INDArray average, INDArray params, double decay, boolean writeBack) {
        if (writeBack) {
            BlendKernel.blendWriteBack(average, params, decay);
        } else {
            BlendKernel.blend(average, params, decay);
        }
    }

    /**
     * The non-finite check the listener runs before every update.
     *
     * @param values the parameters
     * @return the number of NaN or infinite values
     */
    public static long countNonFinite(INDArray values) {
        return BlendKernel.countNonFinite(values);
    }
}
