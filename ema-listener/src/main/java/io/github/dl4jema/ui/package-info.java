/**
 * The average in DL4J's training UI: {@link io.github.dl4jema.ui.AverageStatsListener} reports how a weight average
 * scores, beside the training weights, into the {@code StatsStorage} that DL4J's {@code UIServer} shows. Needs
 * {@code org.deeplearning4j:deeplearning4j-ui-model} (or {@code deeplearning4j-ui}) on the classpath, which every
 * user of {@code StatsListener} has.
 */
package io.github.dl4jema.ui;
