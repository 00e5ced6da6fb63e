package io.github.dl4jema.examples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jema.AverageSwap;
import io.github.dl4jema.AveragingRule;
import io.github.dl4jema.SameDiffAverager;
import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.autodiff.listeners.At;
import org.nd4j.autodiff.listeners.BaseListener;
import org.nd4j.autodiff.listeners.Listener;
import org.nd4j.autodiff.listeners.Loss;
import org.nd4j.autodiff.listeners.Operation;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.TrainingConfig;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

/**
 * {@link SameDiffAverager} on SameDiff graphs trained with {@code sd.fit} on the shipped UCI digits: the example's
 * convolutional graph and a perceptron. The averages equal the closed forms over the weights a separate listener
 * recorded; the averaged copy scores as the swapped-in average, and better than chance by far; shadow averaging
 * leaves training bit for bit as without it; a run saved and resumed equals the uninterrupted run bit for bit.
 */
class SameDiffDigitsIT {

    private static final long SEED = 5;
    private static final int BATCH = 32;
    private static final List<String> CNN = List.of("conv_W", "conv_b", "dense_W", "dense_b");
    private static final List<String> MLP = List.of("b0", "b1", "w0", "w1");

    @TempDir
    Path dir;

    private final Digits.Split split = Digits.load().split(SEED, 0.8);

    /** Records the variables after every iteration, in double, end to end. */
    private static final class Recorder extends BaseListener {
        final List<double[]> iterations = new ArrayList<>();
        final List<String> names;

        Recorder(List<String> names) {
            this.names = names;
        }

        @Override
        public boolean isActive(Operation operation) {
            return operation == Operation.TRAINING;
        }

        @Override
        public void iterationDone(SameDiff sd, At at, MultiDataSet dataSet, Loss loss) {
            iterations.add(flat(sd, names));
        }
    }

    private static double[] flat(SameDiff sd, List<String> names) {
        List<Double> values = new ArrayList<>();
        for (String name : names) {
            for (double v : sd.getArrForVarName(name).castTo(DataType.DOUBLE).reshape(-1).toDoubleVector()) {
                values.add(v);
            }
        }
        return values.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static double[] flat(Map<String, INDArray> arrays, List<String> names) {
        List<Double> values = new ArrayList<>();
        for (String name : names) {
            for (double v : arrays.get(name).castTo(DataType.DOUBLE).reshape(-1).toDoubleVector()) {
                values.add(v);
            }
        }
        return values.stream().mapToDouble(Double::doubleValue).toArray();
    }

    private static void assertClose(double[] expected, double[] actual) {
        assertEquals(expected.length, actual.length);
        for (int j = 0; j < expected.length; j++) {
            assertEquals(expected[j], actual[j], 2e-6 * Math.max(1, Math.abs(expected[j])), "element " + j);
        }
    }

    private double accuracy(SameDiff sd, String output) {
        Evaluation evaluation = new Evaluation(Digits.CLASSES);
        sd.evaluate(Digits.iterator(split.test(), 256, -1), output, evaluation);
        return evaluation.accuracy();
    }

    private void fit(SameDiff sd, int fromEpoch, int toEpoch, Listener... listeners) {
        for (int epoch = fromEpoch; epoch <= toEpoch; epoch++) {
            sd.fit(Digits.iterator(split.train(), BATCH, SEED * 1000 + epoch), 1, listeners);
        }
    }

    @Test
    void theConvolutionalGraphsAveragesAreTheirClosedFormsAndScoreAsTheAveragedWeights() {
        SameDiff sd = SameDiffExample.convolutionalGraph();
        int epochs = 4;
        int iterations = epochs * ((split.train().numExamples() + BATCH - 1) / BATCH);
        Recorder recorder = new Recorder(CNN);
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).everyIteration()
                .startingAtFraction(0.5, iterations).build();
        double d = 0.95;
        SameDiffAverager ema = SameDiffAverager.exponential(d).build();
        fit(sd, 1, epochs, recorder, sma, ema);

        assertEquals(iterations, recorder.iterations.size());
        List<double[]> secondHalf = recorder.iterations.subList(iterations / 2, iterations);
        double[] mean = new double[secondHalf.get(0).length];
        for (double[] theta : secondHalf) {
            for (int j = 0; j < mean.length; j++) {
                mean[j] += theta[j] / secondHalf.size();
            }
        }
        assertClose(mean, flat(sma.averagedVariables(sd), CNN));
        double[] recursion = recorder.iterations.get(0).clone();
        for (double[] theta : recorder.iterations.subList(1, iterations)) {
            for (int j = 0; j < recursion.length; j++) {
                recursion[j] = d * recursion[j] + (1 - d) * theta[j];
            }
        }
        assertClose(recursion, flat(ema.averagedVariables(sd), CNN));

        double swapped;
        try (AverageSwap swap = sma.swapIn(sd)) {
            swapped = accuracy(sd, "digit");
        }
        double copied = accuracy(sma.averagedCopy(sd), "digit");
        assertEquals(swapped, copied, 0.0);
        assertTrue(copied > 0.5, "ten classes: chance is 0.1 (got: " + copied + ")");
    }

    /** A perceptron 64-32-10 (tanh, softmax), written with SameDiff's API; Adam 0.01. */
    private static SameDiff perceptron() {
        Random random = new Random(SEED);
        SameDiff sd = SameDiff.create();
        SDVariable pixels = sd.placeHolder("pixels", DataType.FLOAT, -1, Digits.SIDE * Digits.SIDE);
        SDVariable label = sd.placeHolder("label", DataType.FLOAT, -1, Digits.CLASSES);
        SDVariable w0 = sd.var("w0", gaussian(random, 0.15, Digits.SIDE * Digits.SIDE, 32));
        SDVariable b0 = sd.var("b0", Nd4j.zeros(DataType.FLOAT, 1, 32));
        SDVariable w1 = sd.var("w1", gaussian(random, 0.2, 32, Digits.CLASSES));
        SDVariable b1 = sd.var("b1", Nd4j.zeros(DataType.FLOAT, 1, Digits.CLASSES));
        SDVariable hidden = sd.math.tanh(pixels.mmul(w0).add(b0));
        sd.loss.logLoss("loss", label, sd.nn.softmax("digit", hidden.mmul(w1).add(b1)));
        sd.setTrainingConfig(TrainingConfig.builder().updater(new Adam(0.01)).dataSetFeatureMapping("pixels")
                .dataSetLabelMapping("label").build());
        return sd;
    }

    private static INDArray gaussian(Random random, double scale, int rows, int columns) {
        float[] values = new float[rows * columns];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) (random.nextGaussian() * scale);
        }
        return Nd4j.create(values, new long[] {rows, columns}, 'c');
    }

    private static byte[] bits(SameDiff sd, List<String> names) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (String name : names) {
            out.writeBytes(sd.getArrForVarName(name).dup().data().asBytes());
        }
        return out.toByteArray();
    }

    @Test
    void thePerceptronTrainsBitForBitWithShadowAveragesAndResumesBitForBit() throws Exception {
        SameDiff plain = perceptron();
        fit(plain, 1, 4);

        SameDiff straight = perceptron();
        SameDiffAverager straightSma = SameDiffAverager.simpleMovingAverage().build();
        fit(straight, 1, 4, straightSma);
        assertArrayEquals(bits(plain, MLP), bits(straight, MLP), "shadow averaging changed training");

        SameDiff first = perceptron();
        SameDiffAverager firstSma = SameDiffAverager.simpleMovingAverage().build();
        fit(first, 1, 2, firstSma);
        File file = dir.resolve("perceptron.fb").toFile();
        SameDiffAverager.save(first, file, firstSma);
        SameDiff resumed = SameDiff.load(file, true);
        SameDiffAverager resumedSma = SameDiffAverager.restore(file, resumed);
        fit(resumed, 3, 4, resumedSma);

        assertArrayEquals(bits(straight, MLP), bits(resumed, MLP), "weights");
        assertArrayEquals(straightSma.state().average().data().asBytes(),
                resumedSma.state().average().data().asBytes(), "average");
        assertEquals(straightSma.snapshotCount(), resumedSma.snapshotCount());
        assertTrue(straightSma.snapshotCount() > 50, "the average of iterations 99.. should have started");
    }
}
