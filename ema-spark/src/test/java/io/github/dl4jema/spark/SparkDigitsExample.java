package io.github.dl4jema.spark;

import io.github.dl4jema.AverageSwap;
import io.github.dl4jema.AveragingRule;
import io.github.dl4jema.EmaListener;
import io.github.dl4jema.examples.Digits;
import java.io.File;
import java.io.IOException;
import java.util.List;
import org.apache.spark.SparkConf;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.deeplearning4j.spark.impl.multilayer.SparkDl4jMultiLayer;
import org.deeplearning4j.spark.impl.paramavg.ParameterAveragingTrainingMaster;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Weight averaging on Spark: a 64-64-10 perceptron trained on the shipped UCI digits by a {@code SparkDl4jMultiLayer}
 * with a {@code ParameterAveragingTrainingMaster} on a local Spark ({@code local[*]}), with two averages kept on the
 * driver: an exponential one (decay 0.5 per epoch) from the first epoch, and a simple average of the epochs from
 * mid-run on. {@link SparkAveraging#fit} runs one epoch at a time here, so that each epoch can be scored and the
 * simple average can join at mid-run. Afterwards the network and both averages are saved in one model zip and read
 * back.
 *
 * <pre>
 * mvn -q -pl ema-spark -am package -DskipTests -Dspark.example
 * mvn -q -pl ema-spark -am package -DskipTests -Dspark.example -Dspark.example.args="/tmp/spark-digits.zip"
 * </pre>
 *
 * <p>It runs in a JVM of its own, started with the {@code --add-opens} flags that Spark 3.1 needs on Java 17 (see the
 * README, "Scale-out"). The argument, if given, is the model file to write (default
 * {@code target/spark-digits.zip}).
 */
public final class SparkDigitsExample {

    private static final long SEED = 42;
    private static final int EPOCHS = 12;
    private static final int BATCH_PER_WORKER = 32;
    private static final int AVERAGING_FREQUENCY = 5;

    private SparkDigitsExample() {
    }

    /**
     * Runs the example.
     *
     * @param args optionally, the model file to write
     * @throws IOException if the model file cannot be written or read
     */
    public static void main(String[] args) throws IOException {
        long started = System.nanoTime();
        File modelFile = new File(args.length > 0 ? args[0] : "target/spark-digits.zip");
        Digits.Split split = Digits.load().split(SEED, 0.8);
        DataSet test = split.test();

        SparkConf conf = new SparkConf().setMaster("local[*]").setAppName("SparkDigitsExample")
                .set("spark.ui.enabled", "false");
        try (JavaSparkContext sc = new JavaSparkContext(conf)) {
            List<DataSet> examples = split.train().asList();
            JavaRDD<DataSet> train = sc.parallelize(examples);
            MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                    .seed(SEED)
                    .weightInit(WeightInit.XAVIER)
                    .updater(new Adam(0.01))
                    .list()
                    .layer(new DenseLayer.Builder().nIn(Digits.SIDE * Digits.SIDE).nOut(64)
                            .activation(Activation.RELU).build())
                    .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(64).nOut(Digits.CLASSES)
                            .activation(Activation.SOFTMAX).build())
                    .build());
            net.init();
            ParameterAveragingTrainingMaster master = new ParameterAveragingTrainingMaster.Builder(1)
                    .batchSizePerWorker(BATCH_PER_WORKER)
                    .averagingFrequency(AVERAGING_FREQUENCY)
                    .rngSeed(SEED)
                    .exportDirectory(new File("target/spark-export").toURI().toString())
                    .build();
            SparkDl4jMultiLayer sparkNet = new SparkDl4jMultiLayer(sc, net, master);
            System.out.printf("UCI digits: %d training images on Spark %s (%s, %d workers), %d held-out images%n",
                    examples.size(), sc.version(), sc.master(), sc.defaultParallelism(), test.numExamples());

            // kept on the driver, never handed to sparkNet.setListeners
            EmaListener exponential = EmaListener.builder(AveragingRule.exponential(0.5)).name("ema-0.5").build();
            EmaListener simple = EmaListener.builder(AveragingRule.simple()).name("sma-mid-run").build();

            System.out.printf("%n%5s  %16s  %18s  %22s%n", "epoch", "training weights", "exponential 0.5",
                    "simple, epochs " + (EPOCHS / 2 + 1) + "..");
            for (int epoch = 1; epoch <= EPOCHS; epoch++) {
                if (epoch <= EPOCHS / 2) {
                    SparkAveraging.fit(sparkNet, train, 1, exponential);
                } else {
                    SparkAveraging.fit(sparkNet, train, 1, exponential, simple);
                }
                MultiLayerNetwork driver = sparkNet.getNetwork();
                DataSetIterator testIterator = Digits.iterator(test, 256, -1);
                System.out.printf("%5d  %15.2f%%  %17.2f%%  %21s%n", epoch,
                        100 * driver.evaluate(testIterator).accuracy(),
                        100 * accuracy(exponential, driver, testIterator),
                        simple.snapshotCount() == 0 ? "-" : String.format("%.2f%%",
                                100 * accuracy(simple, driver, testIterator)));
            }

            // the network with its updater state and both averages, in one zip; read back to resume or serve
            EmaListener.save(sparkNet.getNetwork(), modelFile, exponential, simple);
            MultiLayerNetwork loaded = MultiLayerNetwork.load(modelFile, true);
            List<EmaListener> restored = EmaListener.restoreAll(modelFile, loaded);
            System.out.printf("%nSaved the driver's network and %d averages to %s; read back: %s%n",
                    restored.size(), modelFile, restored);
        }
        System.out.printf("Done in %.1f s.%n", (System.nanoTime() - started) / 1e9);
    }

    private static double accuracy(EmaListener average, MultiLayerNetwork net, DataSetIterator data) {
        try (AverageSwap ignored = average.swapIn(net)) {
            return net.evaluate(data).accuracy();
        }
    }
}
