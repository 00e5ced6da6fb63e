package io.github.dl4jema.benchmarks;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.reflect.Method;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The benchmarks' access to the library's package-private blend kernel, to measure the listener's update in its parts:
 * the non-finite check and the blend. It reaches the kernel through method handles instead of sitting in the
 * library's package, so that no package is split across modules and the library's API stays as it is.
 */
public final class BlendKernelProbe {

    private static final MethodHandle BLEND;
    private static final MethodHandle COUNT_NON_FINITE;

    static {
        try {
            Class<?> kernel = Class.forName("io.github.dl4jema.BlendKernel");
            Method blend = kernel.getDeclaredMethod("blend", INDArray.class, INDArray.class, INDArray.class,
                    double.class, INDArray.class);
            Method count = kernel.getDeclaredMethod("countNonFinite", INDArray.class);
            blend.setAccessible(true);
            count.setAccessible(true);
            BLEND = MethodHandles.lookup().unreflect(blend);
            COUNT_NON_FINITE = MethodHandles.lookup().unreflect(count);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private BlendKernelProbe() {
    }

    /**
     * The blend alone, without the non-finite check or the listener around it (the CPU path, which needs no
     * scratch vector).
     *
     * @param average   the average, updated in place
     * @param params    the parameters; in write-back mode set to the new average
     * @param decay     the decay
     * @param writeBack whether to write the average back into {@code params}
     */
    public static void blend(INDArray average, INDArray params, double decay, boolean writeBack) {
        try {
            // a local, not a conditional expression: in invokeExact's argument list that would be typed Object
            INDArray target = writeBack ? params : null;
            BLEND.invokeExact(average, params, (INDArray) null, 1.0 - decay, target);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The non-finite check the listener runs before every update.
     *
     * @param values the parameters
     * @return the number of NaN or infinite values
     */
    public static long countNonFinite(INDArray values) {
        try {
            return (long) COUNT_NON_FINITE.invokeExact(values);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }
}
