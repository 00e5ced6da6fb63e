package io.github.dl4jema.spark;

import io.github.dl4jema.EmaListener;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;
import java.util.function.Supplier;
import org.apache.spark.api.java.JavaRDD;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.spark.api.TrainingMaster;
import org.deeplearning4j.spark.impl.graph.SparkComputationGraph;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * Weight averaging for DL4J's Spark training: fits an RDD for a number of epochs and updates each averager on the
 * driver's network after every epoch.
 *
 * <pre>{@code
 * EmaListener sma = EmaListener.builder(AveragingRule.simple()).shadow().build();   // no setListeners
 * SparkDl4jMultiLayer sparkNet = new SparkDl4jMultiLayer(sc, net, new ParameterAveragingTrainingMaster.Builder(1)
 *         .batchSizePerWorker(32).averagingFrequency(5).build());
 * SparkAveraging.fit(sparkNet, trainingData, 20, sma);
 * try (AverageSwap swap = sma.swapIn(sparkNet.getNetwork())) {
 *     System.out.println(sparkNet.getNetwork().evaluate(testIterator).stats());
 * }
 * }</pre>
 *
 * <p>Spark fires no epoch events on the driver, and a listener given to {@code sparkNet.setListeners} is shipped to
 * the workers as a Java-serialized copy, every {@code fit}: an {@link EmaListener} there becomes a stand-in that fails
 * the job with this recipe. The average therefore lives on the driver. With a
 * {@link ParameterAveragingTrainingMaster}, after {@code sparkNet.fit(rdd)} the driver's network holds the workers'
 * mean of the last averaging round, and its parameters are what the workers of the next {@code fit} start from. So
 * after each epoch this class calls {@link EmaListener#update(Model)} on {@code sparkNet.getNetwork()}: in
 * {@linkplain io.github.dl4jema.AverageMode#SHADOW shadow} mode the average waits on the driver; in
 * {@linkplain io.github.dl4jema.AverageMode#WRITE_BACK write-back} mode it replaces the driver's parameters and so
 * reaches every worker with the next epoch. Each epoch is one snapshot, whatever the averager's schedule says (the
 * schedule counts DL4J events, which Spark does not fire on the driver); a custom rule sees the averager's own 1-based
 * step.
 *
 * <p>Verified on Spark 3.1.2 ({@code local[2]}) with {@code dl4j-spark_2.12} 1.0.0-M2 and DL4J 1.0.0-M2.1, for
 * {@code SparkDl4jMultiLayer} and {@code SparkComputationGraph}: the tests of this module record what every worker
 * starts from and ends with. Only {@link ParameterAveragingTrainingMaster} is accepted: other training masters
 * ({@code SharedTrainingMaster} of {@code dl4j-spark-parameterserver}) keep the parameters elsewhere.
 */
public final class SparkAveraging {

    private SparkAveraging() {
    }

    /**
     * Fits {@code data} for {@code epochs} epochs ({@code sparkNet.fit(data)} once per epoch) and, after each, updates
     * every averager on the driver's network, in the order given.
     *
     * @param sparkNet  the Spark network, with a {@link ParameterAveragingTrainingMaster}
     * @param data      the training data, read once per epoch; leave persisting it to DL4J (its {@code Direct}
     *                  training approach persists it, and fails on an RDD persisted at another storage level)
     * @param epochs    the number of epochs, {@code ≥ 1}
     * @param averagers one or more distinct averagers, not among {@code sparkNet}'s listeners
     * @return the driver's network ({@code sparkNet.getNetwork()})
     * @throws IllegalArgumentException if an argument is null, {@code epochs < 1}, no averager is given or one is
     *                                  given twice, or the training master is not a
     *                                  {@link ParameterAveragingTrainingMaster}; nothing was trained
     * @throws IllegalStateException    from {@link EmaListener#update(Model)} (the averager belongs to another network,
     *                                  an average is swapped in, ...), after the epoch that preceded it
     */
    public static MultiLayerNetwork fit(SparkDl4jMultiLayer sparkNet, JavaRDD<DataSet> data, int epochs,
            EmaListener... averagers) {
        require(sparkNet, "sparkNet", "a SparkDl4jMultiLayer");
        check(sparkNet.getTrainingMaster(), data, epochs, averagers);
        return train(() -> sparkNet.fit(data), epochs, averagers);
    }

    /**
     * Fits {@code data} for {@code epochs} epochs ({@code sparkGraph.fit(data)} once per epoch) and, after each,
     * updates every averager on the driver's network, in the order given.
     *
     * @param sparkGraph the Spark computation graph, with a {@link ParameterAveragingTrainingMaster}
     * @param data       the training data, read once per epoch; leave persisting it to DL4J
     * @param epochs     the number of epochs, {@code ≥ 1}
     * @param averagers  one or more distinct averagers, not among {@code sparkGraph}'s listeners
     * @return the driver's network ({@code sparkGraph.getNetwork()})
     * @throws IllegalArgumentException as {@link #fit(SparkDl4jMultiLayer, JavaRDD, int, EmaListener...)}
     * @throws IllegalStateException    as {@link #fit(SparkDl4jMultiLayer, JavaRDD, int, EmaListener...)}
     */
    public static ComputationGraph fit(SparkComputationGraph sparkGraph, JavaRDD<DataSet> data, int epochs,
            EmaListener... averagers) {
        require(sparkGraph, "sparkGraph", "a SparkComputationGraph");
        check(sparkGraph.getTrainingMaster(), data, epochs, averagers);
        return train(() -> sparkGraph.fit(data), epochs, averagers);
    }

    /**
     * Fits {@code data} for {@code epochs} epochs ({@code sparkGraph.fitMultiDataSet(data)} once per epoch) and, after
     * each, updates every averager on the driver's network, in the order given.
     *
     * @param sparkGraph the Spark computation graph, with a {@link ParameterAveragingTrainingMaster}
     * @param data       the training data as {@code MultiDataSet}s, read once per epoch; leave persisting it to DL4J
     * @param epochs     the number of epochs, {@code ≥ 1}
     * @param averagers  one or more distinct averagers, not among {@code sparkGraph}'s listeners
     * @return the driver's network ({@code sparkGraph.getNetwork()})
     * @throws IllegalArgumentException as {@link #fit(SparkDl4jMultiLayer, JavaRDD, int, EmaListener...)}
     * @throws IllegalStateException    as {@link #fit(SparkDl4jMultiLayer, JavaRDD, int, EmaListener...)}
     */
    public static ComputationGraph fitMultiDataSet(SparkComputationGraph sparkGraph, JavaRDD<MultiDataSet> data,
            int epochs, EmaListener... averagers) {
        require(sparkGraph, "sparkGraph", "a SparkComputationGraph");
        check(sparkGraph.getTrainingMaster(), data, epochs, averagers);
        return train(() -> sparkGraph.fitMultiDataSet(data), epochs, averagers);
    }

    private static <M extends Model> M train(Supplier<M> epoch, int epochs, EmaListener[] averagers) {
        M network = null;
        for (int e = 0; e < epochs; e++) {
            network = epoch.get();
            for (EmaListener averager : averagers) {
                averager.update(network);
            }
        }
        return network;
    }

    private static void check(TrainingMaster<?, ?> master, JavaRDD<?> data, int epochs, EmaListener[] averagers) {
        require(data, "data", "an RDD");
        if (epochs < 1) {
            throw new IllegalArgumentException("epochs should be >= 1 (got: " + epochs + ")");
        }
        if (averagers == null || averagers.length == 0) {
            throw new IllegalArgumentException("averagers should hold at least one EmaListener to update after each "
                    + "epoch (got: " + (averagers == null ? "null" : "none") + ")");
        }
        Set<EmaListener> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (EmaListener averager : averagers) {
            if (averager == null || !seen.add(averager)) {
                throw new IllegalArgumentException("averagers should be distinct EmaListeners: each is updated once "
                        + "per epoch (got: " + (averager == null ? "null" : "the same averager twice, " + averager)
                        + ")");
            }
        }
        if (!(master instanceof ParameterAveragingTrainingMaster)) {
            throw new IllegalArgumentException("the Spark network should train with a "
                    + "ParameterAveragingTrainingMaster, whose driver network holds the workers' mean after each fit: "
                    + "that is what the averagers are updated from (got: "
                    + (master == null ? "null" : master.getClass().getName()) + ")");
        }
    }

    private static void require(Object value, String name, String expected) {
        if (value == null) {
            throw new IllegalArgumentException(name + " should be " + expected + " (got: null)");
        }
    }
}
