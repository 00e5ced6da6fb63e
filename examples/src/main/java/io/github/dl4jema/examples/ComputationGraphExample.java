package io.github.dl4jema.examples;

import io.github.dl4jema.AverageSwap;
import io.github.dl4jema.AveragingRule;
import io.github.dl4jema.EmaListener;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * The listener on a {@code ComputationGraph}: a two-branch network on the shipped digits (a ReLU branch and a tanh
 * branch, merged before the softmax output) trained for 12 epochs, with a simple average of the weights taken at
 * the end of every epoch from mid-run on
 * ({@code EmaListener.builder(AveragingRule.simple()).everyEpoch().startingAtFraction(0.5, 12)}), kept as a shadow.
 *
 * <p>Prints, per epoch, the held-out accuracy of the training weights and of the average, then shows the two ways
 * to use the average after training: swapped in for evaluation, or as a separate network
 * ({@link EmaListener#averagedCopy}) for serving.
 *
 * <pre>
 * mvn -q -pl examples -am compile exec:java -Dexec.mainClass=io.github.dl4jema.examples.ComputationGraphExample
 * </pre>
 */
public final class ComputationGraphExample {

    private static final long SEED = 7;
    private static final int EPOCHS = 12;
    private static final int BATCH = 32;

    private ComputationGraphExample() {
    }

    /**
     * Runs the example.
     *
     * @param args ignored
     */
    public static void main(String[] args) {
        NativeThreads.useOneUnlessConfigured();
        long started = System.nanoTime();
        Digits.Split split = Digits.load().split(SEED, 0.8);
        DataSet train = split.train();
        DataSet test = split.test();

        ComputationGraph graph = new ComputationGraph(graph());
        graph.init();
        EmaListener average = EmaListener.builder(AveragingRule.simple())
                .everyEpoch()
                .startingAtFraction(0.5, EPOCHS)
                .shadow()
                .build();
        graph.addListeners(average);
        System.out.printf("ComputationGraph with %d parameters; %s%n%n", graph.numParams(), average);

        System.out.printf("%5s  %16s  %16s  %9s%n", "epoch", "training weights", "average", "snapshots");
        for (int epoch = 1; epoch <= EPOCHS; epoch++) {
            graph.fit(Digits.iterator(train, BATCH, SEED * 1000 + epoch));
            DataSetIterator testIterator = Digits.iterator(test, 256, -1);
            double plain = graph.evaluate(testIterator).accuracy();
            double averaged;
            try (AverageSwap ignored = average.swapIn(graph)) {
                averaged = graph.evaluate(testIterator).accuracy();
            }
            System.out.printf("%5d  %15.2f%%  %15.2f%%  %9d%n", epoch, 100 * plain, 100 * averaged,
                    average.snapshotCount());
        }

        ComputationGraph served = average.averagedCopy(graph);
        double copyAccuracy = served.evaluate(Digits.iterator(test, 256, -1)).accuracy();
        System.out.printf("%nA separate network holding the average of epochs %d..%d scores %.2f%% on the held-out "
                        + "digits; the training graph keeps its own weights.%nDone in %.1f s.%n",
                EPOCHS / 2 + 1, EPOCHS, 100 * copyAccuracy, (System.nanoTime() - started) / 1e9);
    }

    private static ComputationGraphConfiguration graph() {
        return new NeuralNetConfiguration.Builder()
                .seed(SEED)
                .weightInit(WeightInit.XAVIER)
                .updater(new Adam(0.01))
                .graphBuilder()
                .addInputs("pixels")
                .addLayer("relu", new DenseLayer.Builder().nIn(Digits.SIDE * Digits.SIDE).nOut(48)
                        .activation(Activation.RELU).build(), "pixels")
                .addLayer("tanh", new DenseLayer.Builder().nIn(Digits.SIDE * Digits.SIDE).nOut(16)
                        .activation(Activation.TANH).build(), "pixels")
                .addVertex("merge", new MergeVertex(), "relu", "tanh")
                .addLayer("digit", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(64)
                        .nOut(Digits.CLASSES).activation(Activation.SOFTMAX).build(), "merge")
                .setOutputs("digit")
                .build();
    }
}
