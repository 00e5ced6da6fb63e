package io.github.dl4jema.examples;

import io.github.dl4jema.AverageSwap;
import io.github.dl4jema.AveragingRule;
import io.github.dl4jema.SameDiffAverager;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Random;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.TrainingConfig;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.Conv2DConfig;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.Pooling2DConfig;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

/**
 * The averager on a SameDiff graph: a small convolutional network written with SameDiff's own API (a 3x3 convolution
 * to 8 channels, ReLU, 2x2 max pooling, a softmax layer) trained with {@code sd.fit} on the shipped digits for 12
 * epochs, with two shadow averages riding along: the simple average of every iteration from mid-run
 * ({@code SameDiffAverager.builder(AveragingRule.simple()).everyIteration().startingAtFraction(0.5, iterations)}) and
 * an exponential average per iteration ({@code SameDiffAverager.exponential(0.99)}).
 *
 * <p>Prints, per epoch, the held-out accuracy of the training weights and of each average (swapped in for the
 * evaluation), then saves the graph with both averagers, loads it back with {@code SameDiff.load(file, true)} and
 * {@code SameDiffAverager.restoreAll}, and scores the averaged copy of the restored graph.
 *
 * <pre>
 * mvn -q -pl examples -am compile exec:java -Dexec.mainClass=io.github.dl4jema.examples.SameDiffExample
 * </pre>
 */
public final class SameDiffExample {

    private static final long SEED = 11;
    private static final int EPOCHS = 12;
    private static final int BATCH = 32;
    private static final int CHANNELS = 8;

    private SameDiffExample() {
    }

    /**
     * Runs the example.
     *
     * @param args ignored
     * @throws IOException if the temporary files cannot be written
     */
    public static void main(String[] args) throws IOException {
        NativeThreads.useOneUnlessConfigured();
        long started = System.nanoTime();
        Digits.Split split = Digits.load().split(SEED, 0.8);
        DataSet train = split.train();
        DataSet test = split.test();
        int iterationsPerEpoch = (train.numExamples() + BATCH - 1) / BATCH;

        SameDiff sd = convolutionalGraph();
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple())
                .everyIteration()
                .startingAtFraction(0.5, (long) EPOCHS * iterationsPerEpoch)
                .build();
        SameDiffAverager ema = SameDiffAverager.exponential(0.99).build();
        System.out.printf("SameDiff graph with %d trainable values in %s%n%s%n%s%n%n", trainableValues(sd),
                sma.averagedVariables(sd).keySet(), sma, ema);

        System.out.printf("%5s  %16s  %14s  %14s%n", "epoch", "training weights", "simple (SMA)", "EMA 0.99");
        for (int epoch = 1; epoch <= EPOCHS; epoch++) {
            sd.fit(Digits.iterator(train, BATCH, SEED * 1000 + epoch), 1, sma, ema);
            System.out.printf("%5d  %15.2f%%  %13.2f%%  %13.2f%%%n", epoch, 100 * accuracy(sd, test),
                    100 * averagedAccuracy(sma, sd, test), 100 * averagedAccuracy(ema, sd, test));
        }

        File dir = Files.createTempDirectory("samediff-example").toFile();
        File file = new File(dir, "digits-cnn.fb");
        SameDiffAverager.save(sd, file, sma, ema);
        SameDiff loaded = SameDiff.load(file, true);
        List<SameDiffAverager> restored = SameDiffAverager.restoreAll(file, loaded);
        SameDiff served = restored.get(0).averagedCopy(loaded);
        System.out.printf("%nSaved to %s (+ %s) and loaded back: %d averagers restored (%s: %d snapshots, %s: %d). "
                        + "The averaged copy of the restored simple average scores %.2f%%.%nDone in %.1f s.%n",
                file.getName(), SameDiffAverager.stateFile(file).getName(), restored.size(), restored.get(0).name(),
                restored.get(0).snapshotCount(), restored.get(1).name(), restored.get(1).snapshotCount(),
                100 * accuracy(served, test), (System.nanoTime() - started) / 1e9);
        for (File f : new File[] {file, SameDiffAverager.stateFile(file), dir}) {
            Files.deleteIfExists(f.toPath());
        }
    }

    /** The convolutional graph on the flattened 8x8 digits, with its training configuration (Adam 0.01). */
    static SameDiff convolutionalGraph() {
        Random random = new Random(SEED);
        SameDiff sd = SameDiff.create();
        SDVariable pixels = sd.placeHolder("pixels", DataType.FLOAT, -1, Digits.SIDE * Digits.SIDE);
        SDVariable label = sd.placeHolder("label", DataType.FLOAT, -1, Digits.CLASSES);
        SDVariable image = pixels.reshape(-1, 1, Digits.SIDE, Digits.SIDE);
        SDVariable convW = sd.var("conv_W", gaussian(random, Math.sqrt(2.0 / 9), 3, 3, 1, CHANNELS));
        SDVariable convB = sd.var("conv_b", Nd4j.zeros(DataType.FLOAT, CHANNELS));
        SDVariable conv = sd.nn.relu(sd.cnn.conv2d(image, convW, convB, Conv2DConfig.builder().kH(3).kW(3).build()),
                0.0);
        SDVariable pooled = sd.cnn.maxPooling2d(conv, Pooling2DConfig.builder().kH(2).kW(2).sH(2).sW(2).build());
        int flat = CHANNELS * 3 * 3;
        SDVariable denseW = sd.var("dense_W", gaussian(random, Math.sqrt(1.0 / flat), flat, Digits.CLASSES));
        SDVariable denseB = sd.var("dense_b", Nd4j.zeros(DataType.FLOAT, 1, Digits.CLASSES));
        SDVariable out = sd.nn.softmax("digit", pooled.reshape(-1, flat).mmul(denseW).add(denseB));
        sd.loss.logLoss("loss", label, out);
        sd.setTrainingConfig(TrainingConfig.builder().updater(new Adam(0.01)).dataSetFeatureMapping("pixels")
                .dataSetLabelMapping("label").build());
        return sd;
    }

    private static INDArray gaussian(Random random, double scale, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        float[] values = new float[(int) n];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (random.nextGaussian() * scale);
        }
        return Nd4j.create(values, shape, 'c');
    }

    private static long trainableValues(SameDiff sd) {
        return sd.variables().stream().filter(v -> v.getVariableType() == VariableType.VARIABLE)
                .mapToLong(v -> v.getArr().length()).sum();
    }

    private static double accuracy(SameDiff sd, DataSet test) {
        Evaluation evaluation = new Evaluation(Digits.CLASSES);
        sd.evaluate(Digits.iterator(test, 256, -1), "digit", evaluation);
        return evaluation.accuracy();
    }

    private static double averagedAccuracy(SameDiffAverager averager, SameDiff sd, DataSet test) {
        try (AverageSwap ignored = averager.swapIn(sd)) {
            return accuracy(sd, test);
        }
    }
}
