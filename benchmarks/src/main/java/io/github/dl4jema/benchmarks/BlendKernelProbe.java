package io.github.dl4jema.benchmarks;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.reflect.Method;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The benchmarks' access to the library's package-private blend kernel, to measure the listener's update in its parts:
 * the non-finite check, the two-pass kernel's blend in place, and the one-pass kernel's checked blend into a second
 * vector. It reaches the kernel through method handles instead of sitting in the library's package, so that no
 * package is split across modules and the library's API stays as it is. Each probe holds its arrays wrapped once, so
 * that a call allocates nothing.
 */
public final class BlendKernelProbe {

    private static final MethodHandle BLEND;
    private static final MethodHandle BLEND_INTO;
    private static final MethodHandle COUNT_NON_FINITE;

    static {
        try {
            Class<?> kernel = Class.forName("io.github.dl4jema.BlendKernel");
            Method blend = kernel.getDeclaredMethod("blend", INDArray[].class, INDArray[].class, INDArray[].class,
                    double.class, INDArray[].class);
            Method blendInto = kernel.getDeclaredMethod("blendInto", INDArray[].class, INDArray[].class,
                    INDArray[].class, double.class);
            Method count = kernel.getDeclaredMethod("countNonFinite", INDArray[].class);
            blend.setAccessible(true);
            blendInto.setAccessible(true);
            count.setAccessible(true);
            BLEND = MethodHandles.lookup().unreflect(blend);
            BLEND_INTO = MethodHandles.lookup().unreflect(blendInto);
            COUNT_NON_FINITE = MethodHandles.lookup().unreflect(count);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final INDArray[] average;
    private final INDArray[] params;
    private final INDArray[] next;

    /**
     * @param average the average, updated in place by {@link #blend} and read by {@link #blendInto}
     * @param params  the parameters
     * @param next    the vector {@link #blendInto} writes
     */
    public BlendKernelProbe(INDArray average, INDArray params, INDArray next) {
        this.average = new INDArray[] {average};
        this.params = new INDArray[] {params};
        this.next = new INDArray[] {next};
    }

    /**
     * The two-pass kernel's blend alone, in place, without the check or the listener around it (the CPU path, which
     * needs no scratch vector).
     *
     * @param decay     the decay
     * @param writeBack whether to write the average back into the parameters in the same pass
     */
    public void blend(double decay, boolean writeBack) {
        INDArray[] scratch = null;
        INDArray[] into = writeBack ? params : null;
        try {
            BLEND.invokeExact(average, params, scratch, 1.0 - decay, into);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The one-pass kernel alone: the checked blend into the second vector, without the listener's swap around it.
     *
     * @param decay the decay
     * @return whether every value was finite
     */
    public boolean blendInto(double decay) {
        try {
            return (boolean) BLEND_INTO.invokeExact(average, params, next, 1.0 - decay);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The two-pass kernel's non-finite check of the parameters.
     *
     * @return the number of NaN or infinite values
     */
    public long countNonFinite() {
        try {
            return (long) COUNT_NON_FINITE.invokeExact(params);
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }
}
