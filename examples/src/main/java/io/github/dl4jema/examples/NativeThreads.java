package io.github.dl4jema.examples;

import org.nd4j.linalg.factory.Nd4j;

/**
 * Keeps ND4J's native thread pools small for the tiny networks of the examples.
 *
 * <p>With its default of one OpenMP thread per core, ND4J spends more time synchronising threads than computing on
 * matrices of a few thousand elements: on a two-core machine QuickStart took 41 s with the default and 5 s with one
 * thread. The runners therefore use one thread unless {@code OMP_NUM_THREADS} says otherwise.
 */
final class NativeThreads {

    private NativeThreads() {
    }

    /** Sets ND4J's OpenMP and BLAS threads to one, unless the environment variable {@code OMP_NUM_THREADS} is set. */
    static void useOneUnlessConfigured() {
        if (System.getenv("OMP_NUM_THREADS") != null) {
            return;
        }
        Nd4j.getEnvironment().setMaxThreads(1);
        Nd4j.getEnvironment().setMaxMasterThreads(1);
        Nd4j.factory().blas().setMaxThreads(1);
    }
}
