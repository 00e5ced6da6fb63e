/**
 * Weight averaging for networks trained by DL4J's {@code ParallelWrapper} (module
 * {@code deeplearning4j-parallel-wrapper}, an optional dependency: add it to your project to use this package). Entry
 * point: {@link io.github.dl4jema.parallel.ParallelAveraging#fit}.
 */
package io.github.dl4jema.parallel;
