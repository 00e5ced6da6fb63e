package io.github.dl4jema.examples;

import io.github.dl4jema.BatchNormStatistics;
import io.github.dl4jema.EmaListener;
import io.github.dl4jema.ParameterSelection;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Batch normalization and averaged weights: {@code mvn -q -pl examples -am compile exec:java
 * -Dexec.mainClass=io.github.dl4jema.examples.BatchNormDigits} (optional arguments: number of seeds, default 5;
 * epochs, default 15).
 *
 * <p>Trains a small convolutional network with two batch-normalization layers ({@link #network(long)}) on the shipped
 * UCI digits, with shadow averages riding the run: an exponential average (decay 0.99 per iteration) and a simple
 * average from mid-run, each once over all parameters (so the batch-norm running statistics are averaged too) and
 * once over everything but the statistics (so the training weights' statistics are kept). It then scores, on the
 * held-out 20% of the digits, each average three ways: with its averaged statistics, with the training weights'
 * statistics, and with statistics recomputed for the averaged weights by {@link BatchNormStatistics} (one
 * training-mode pass over the training set), and prints the accuracies per seed and their mean.
 *
 * <p>About 10 to 20 seconds per seed on two cores.
 */
public final class BatchNormDigits {

    /** Minibatch size, for training and for the recomputation pass. */
    public static final int BATCH = 32;
    /** The seed of the train/held-out split, the same for every network seed. */
    public static final long SPLIT_SEED = 42;
    /** Adam's learning rate: high enough that the weights still move at the end, which is when averaging matters. */
    public static final double LEARNING_RATE = 0.01;
    /** Channels of the convolution. */
    public static final int CHANNELS = 8;
    /** Width of the dense layer. */
    public static final int DENSE = 32;

    private static final int DEFAULT_SEEDS = 5;
    private static final int DEFAULT_EPOCHS = 15;

    private BatchNormDigits() {
    }

    /**
     * The network: a 3x3 convolution of {@value #CHANNELS} channels ("same" padding, no activation), batch
     * normalization, ReLU, 2x2 max pooling (to 4x4), a dense layer of {@value #DENSE} (no activation), batch
     * normalization, ReLU, and the softmax output. Layers 1 and 5 are the batch-normalization layers, with DL4J's
     * defaults ({@code log10stdev} form, decay 0.9, eps 1e-5).
     *
     * @param seed the initialisation seed, not 0 (see {@link BenchmarkModel#configuration(long)})
     * @return the configuration
     */
    public static MultiLayerConfiguration network(long seed) {
        return new NeuralNetConfiguration.Builder()
                .seed(seed)
                .weightInit(WeightInit.RELU)
                .updater(new Adam(LEARNING_RATE))
                .list()
                .layer(new ConvolutionLayer.Builder(3, 3).nOut(CHANNELS).convolutionMode(ConvolutionMode.Same)
                        .activation(Activation.IDENTITY).build())
                .layer(new BatchNormalization.Builder().build())
                .layer(new ActivationLayer.Builder().activation(Activation.RELU).build())
                .layer(new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).kernelSize(2, 2).stride(2, 2)
                        .build())
                .layer(new DenseLayer.Builder().nOut(DENSE).activation(Activation.IDENTITY).build())
                .layer(new BatchNormalization.Builder().build())
                .layer(new ActivationLayer.Builder().activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(Digits.CLASSES)
                        .weightInit(WeightInit.XAVIER).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutionalFlat(Digits.SIDE, Digits.SIDE, 1))
                .build();
    }

    /**
     * One training run and its averagers.
     *
     * @param network  the trained network (its training weights)
     * @param ema      exponential average, decay 0.99 per iteration, all parameters
     * @param emaKept  the same, without the batch-norm statistics
     * @param sma      simple average of the iterations of the second half, all parameters
     * @param smaKept  the same, without the batch-norm statistics
     * @param split    the training and held-out digits
     */
    public record Run(MultiLayerNetwork network, EmaListener ema, EmaListener emaKept, EmaListener sma,
                      EmaListener smaKept, Digits.Split split) {

        /** @return an iterator over the training set in file order, for the recomputation pass */
        public DataSetIterator trainingData() {
            return Digits.iterator(split.train(), BATCH, -1);
        }
    }

    /**
     * Trains the network of {@code seed} for {@code epochs} epochs, a new shuffle per epoch, with the four averagers.
     *
     * @param seed   the network seed, ≥ 1
     * @param epochs the number of epochs, ≥ 2
     * @return the run
     */
    public static Run train(long seed, int epochs) {
        Digits.Split split = Digits.load().split(SPLIT_SEED, 0.8);
        DataSet train = split.train();
        long iterationsPerEpoch = (train.numExamples() + BATCH - 1) / BATCH;
        long half = epochs * iterationsPerEpoch / 2;
        MultiLayerNetwork net = new MultiLayerNetwork(network(seed));
        net.init();
        EmaListener ema = EmaListener.exponential(0.99).name("ema").build();
        EmaListener emaKept = EmaListener.exponential(0.99).name("ema-kept")
                .parameters(ParameterSelection.allExceptBatchNormStatistics()).build();
        EmaListener sma = EmaListener.simpleMovingAverage().startingAfter(half).name("sma").build();
        EmaListener smaKept = EmaListener.simpleMovingAverage().startingAfter(half).name("sma-kept")
                .parameters(ParameterSelection.allExceptBatchNormStatistics()).build();
        net.setListeners(ema, emaKept, sma, smaKept);
        for (int epoch = 1; epoch <= epochs; epoch++) {
            net.fit(Digits.iterator(train, BATCH, seed * 1000 + epoch));
        }
        return new Run(net, ema, emaKept, sma, smaKept, split);
    }

    /**
     * Held-out accuracies of one run, in {@code [0, 1]}.
     *
     * @param training        the training weights (with their own running statistics)
     * @param emaAveraged     the exponential average, statistics averaged
     * @param emaKept         the exponential average, statistics of the training weights
     * @param emaRecomputed   the exponential average, statistics recomputed
     * @param smaAveraged     the simple average, statistics averaged
     * @param smaKept         the simple average, statistics of the training weights
     * @param smaRecomputed   the simple average, statistics recomputed
     */
    public record Accuracies(double training, double emaAveraged, double emaKept, double emaRecomputed,
                             double smaAveraged, double smaKept, double smaRecomputed) {

        double[] values() {
            return new double[] {training, emaAveraged, emaKept, emaRecomputed, smaAveraged, smaKept, smaRecomputed};
        }
    }

    /**
     * Scores a run's training weights and averages on the held-out digits; the averages with recomputed statistics
     * are {@link BatchNormStatistics#recompute(EmaListener, org.deeplearning4j.nn.api.Model, DataSetIterator)} over
     * the training set.
     *
     * @param run the run
     * @return the accuracies
     */
    public static Accuracies measure(Run run) {
        MultiLayerNetwork net = run.network();
        DataSetIterator train = run.trainingData();
        return new Accuracies(accuracy(net, run),
                accuracy(run.ema().averagedCopy(net), run),
                accuracy(run.emaKept().averagedCopy(net), run),
                accuracy(BatchNormStatistics.recompute(run.ema(), net, train), run),
                accuracy(run.sma().averagedCopy(net), run),
                accuracy(run.smaKept().averagedCopy(net), run),
                accuracy(BatchNormStatistics.recompute(run.sma(), net, train), run));
    }

    private static double accuracy(MultiLayerNetwork net, Run run) {
        return net.evaluate(Digits.iterator(run.split().test(), 256, -1)).accuracy();
    }

    /**
     * Runs the comparison.
     *
     * @param args optional: the number of seeds (default 5), then the number of epochs (default 15)
     */
    public static void main(String[] args) {
        NativeThreads.useOneUnlessConfigured();
        int seeds = args.length > 0 ? Integer.parseInt(args[0]) : DEFAULT_SEEDS;
        int epochs = args.length > 1 ? Integer.parseInt(args[1]) : DEFAULT_EPOCHS;
        long started = System.nanoTime();
        String[] columns = {"training", "EMA avg", "EMA kept", "EMA recomp", "SMA avg", "SMA kept", "SMA recomp"};
        System.out.printf("Held-out accuracy (%%) of a CNN with batch normalization on the UCI digits, %d epochs;%n"
                + "averages scored with averaged (avg), training-time (kept) and recomputed (recomp) statistics%n%n",
                epochs);
        System.out.printf("%4s", "seed");
        for (String column : columns) {
            System.out.printf("  %10s", column);
        }
        System.out.println();
        List<double[]> rows = new ArrayList<>();
        for (long seed = 1; seed <= seeds; seed++) {
            double[] row = measure(train(seed, epochs)).values();
            rows.add(row);
            System.out.printf("%4d", seed);
            for (double value : row) {
                System.out.printf("  %10.2f", 100 * value);
            }
            System.out.println();
        }
        System.out.printf("%4s", "mean");
        for (int c = 0; c < columns.length; c++) {
            double mean = 0;
            for (double[] row : rows) {
                mean += row[c] / rows.size();
            }
            System.out.printf("  %10.2f", 100 * mean);
        }
        System.out.printf("%n%4s", "std");
        for (int c = 0; c < columns.length; c++) {
            double mean = 0;
            for (double[] row : rows) {
                mean += row[c] / rows.size();
            }
            double squares = 0;
            for (double[] row : rows) {
                squares += (row[c] - mean) * (row[c] - mean);
            }
            System.out.printf("  %10.2f", 100 * Math.sqrt(squares / Math.max(1, rows.size() - 1)));
        }
        System.out.printf("%n%nDone in %.1f s.%n", (System.nanoTime() - started) / 1e9);
    }
}
