package io.github.dl4jema.examples;

import io.github.dl4jema.AverageSwap;
import io.github.dl4jema.EmaListener;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * The first thing to run: {@code mvn -q -pl examples -am compile exec:java}.
 *
 * <p>Trains a small multilayer perceptron (64-64-10) on the shipped UCI digits with two shadow averages riding the
 * same training run: the paper's simple moving average ({@link EmaListener#simpleMovingAverage()}, every iteration
 * after the first 100) and an exponential moving average with decay 0.99 per iteration
 * ({@link EmaListener#exponential(double)}). After every epoch it scores the training weights and each average on a
 * held-out 20% of the digits and prints one row of a table. The learning rate is deliberately high, so that the
 * training weights wobble from epoch to epoch and the averages have something to smooth.
 *
 * <p>Runs in well under a minute on two cores.
 */
public final class QuickStart {

    private static final long SEED = 42;
    private static final int EPOCHS = 12;
    private static final int BATCH = 32;

    private QuickStart() {
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
        System.out.printf("UCI digits: %d training and %d held-out images of 8x8 pixels%n",
                train.numExamples(), test.numExamples());

        MultiLayerNetwork net = new MultiLayerNetwork(network());
        net.init();
        EmaListener sma = EmaListener.simpleMovingAverage().build();
        EmaListener ema = EmaListener.exponential(0.99).build();
        net.addListeners(sma, ema);

        System.out.printf("%n%5s  %16s  %18s  %18s%n", "epoch", "training weights", "simple average",
                "exponential 0.99");
        for (int epoch = 1; epoch <= EPOCHS; epoch++) {
            net.fit(Digits.iterator(train, BATCH, SEED * 1000 + epoch));
            DataSetIterator testIterator = Digits.iterator(test, 256, -1);
            double plain = net.evaluate(testIterator).accuracy();
            double simple = averagedAccuracy(sma, net, testIterator);
            double exponential = averagedAccuracy(ema, net, testIterator);
            System.out.printf("%5d  %15.2f%%  %17.2f%%  %17.2f%%   (%d snapshots in the simple average)%n", epoch,
                    100 * plain, 100 * simple, 100 * exponential, sma.snapshotCount());
        }
        System.out.printf("%nAveraging rides on the training run: the network kept training on its own weights,"
                + " and each average was swapped in only to be scored.%n");
        System.out.printf("%s%n%s%nDone in %.1f s.%n", sma, ema, (System.nanoTime() - started) / 1e9);
    }

    /**
     * Accuracy of a shadow average: swapped into the network for the evaluation, then swapped out.
     *
     * @param average the listener holding the average
     * @param net     the network it rides
     * @param data    the evaluation data
     * @return the accuracy in {@code [0, 1]}
     */
    static double averagedAccuracy(EmaListener average, MultiLayerNetwork net, DataSetIterator data) {
        try (AverageSwap ignored = average.swapIn(net)) {
            Evaluation evaluation = net.evaluate(data);
            return evaluation.accuracy();
        }
    }

    /** @return the example's perceptron: 64 inputs, 64 ReLU units, 10 softmax outputs, Adam 0.01, seed 42 */
    static MultiLayerConfiguration network() {
        return new NeuralNetConfiguration.Builder()
                .seed(SEED)
                .weightInit(WeightInit.XAVIER)
                .updater(new Adam(0.01))
                .list()
                .layer(new DenseLayer.Builder().nIn(Digits.SIDE * Digits.SIDE).nOut(64)
                        .activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(64).nOut(Digits.CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .build();
    }
}
