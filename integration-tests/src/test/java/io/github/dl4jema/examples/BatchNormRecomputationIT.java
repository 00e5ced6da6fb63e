package io.github.dl4jema.examples;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jema.BatchNormStatistics;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

/**
 * Batch-norm recomputation on a real run: the CNN of {@link BatchNormDigits} trained on the shipped digits with
 * shadow averages. The recomputed statistics of the averaged network are checked against a forward pass written out
 * here in plain Java (3x3 convolution, batch normalization with each minibatch's statistics, ReLU, max pooling, dense
 * layer) on the averaged weights; the accuracies are printed, and only checked to be those of working classifiers.
 */
class BatchNormRecomputationIT {

    private static final long SEED = 1;
    private static final int EPOCHS = 8;
    private static final int SIDE = Digits.SIDE;
    private static final int POOLED = SIDE / 2;
    private static final double EPS = 1e-5;

    private static BatchNormDigits.Run run;
    private static INDArray trainingParams;
    private static MultiLayerNetwork averaged;

    @BeforeAll
    static void train() {
        run = BatchNormDigits.train(SEED, EPOCHS);
        trainingParams = run.network().params().dup();
        averaged = BatchNormStatistics.recompute(run.ema(), run.network(), run.trainingData());
    }

    private static double[] vector(MultiLayerNetwork net, String key) {
        INDArray p = net.getParam(key);
        return p.castTo(DataType.DOUBLE).reshape(p.length()).toDoubleVector();
    }

    /** Per-column mean and population variance of rows. */
    private static double[][] moments(List<double[]> rows) {
        int width = rows.get(0).length;
        double[] mean = new double[width];
        double[] variance = new double[width];
        for (double[] row : rows) {
            for (int j = 0; j < width; j++) {
                mean[j] += row[j] / rows.size();
            }
        }
        for (double[] row : rows) {
            for (int j = 0; j < width; j++) {
                variance[j] += (row[j] - mean[j]) * (row[j] - mean[j]) / rows.size();
            }
        }
        return new double[][] {mean, variance};
    }

    /**
     * The inputs of the two batch-normalization layers of {@code net} in a training-mode pass over the training set in
     * minibatches of {@link BatchNormDigits#BATCH}: {@code {convolution outputs, one row per pixel; dense outputs}}.
     */
    private static List<List<double[]>> layerInputs(MultiLayerNetwork net) {
        int channels = BatchNormDigits.CHANNELS;
        double[][] kernel = net.getParam("0_W").castTo(DataType.DOUBLE).reshape(channels, 9).toDoubleMatrix();
        double[] convBias = vector(net, "0_b");
        double[] gamma = vector(net, "1_gamma");
        double[] beta = vector(net, "1_beta");
        double[][] dense = net.getParam("4_W").castTo(DataType.DOUBLE).toDoubleMatrix();   // [128, 32]
        double[] denseBias = vector(net, "4_b");
        DataSet train = run.split().train();
        double[][] pixels = train.getFeatures().castTo(DataType.DOUBLE).toDoubleMatrix();
        List<double[]> convOutputs = new ArrayList<>();
        List<double[]> denseOutputs = new ArrayList<>();
        for (int from = 0; from < pixels.length; from += BatchNormDigits.BATCH) {
            int to = Math.min(pixels.length, from + BatchNormDigits.BATCH);
            // 3x3 convolution, "same" padding: out[i][c][y][x]
            double[][][][] conv = new double[to - from][channels][SIDE][SIDE];
            List<double[]> batchPixels = new ArrayList<>();
            for (int i = from; i < to; i++) {
                for (int y = 0; y < SIDE; y++) {
                    for (int x = 0; x < SIDE; x++) {
                        double[] pixel = new double[channels];
                        for (int c = 0; c < channels; c++) {
                            double sum = convBias[c];
                            for (int u = 0; u < 3; u++) {
                                for (int v = 0; v < 3; v++) {
                                    int yy = y + u - 1;
                                    int xx = x + v - 1;
                                    if (yy >= 0 && yy < SIDE && xx >= 0 && xx < SIDE) {
                                        sum += kernel[c][u * 3 + v] * pixels[i][yy * SIDE + xx];
                                    }
                                }
                            }
                            conv[i - from][c][y][x] = sum;
                            pixel[c] = sum;
                        }
                        batchPixels.add(pixel);
                    }
                }
            }
            convOutputs.addAll(batchPixels);
            double[][] batchMoments = moments(batchPixels);
            for (int i = 0; i < to - from; i++) {
                // batch normalization with the minibatch's statistics, ReLU, 2x2 max pooling, flattened as [c][y][x]
                double[] flat = new double[channels * POOLED * POOLED];
                for (int c = 0; c < channels; c++) {
                    double std = Math.sqrt(batchMoments[1][c] + EPS);
                    for (int y = 0; y < POOLED; y++) {
                        for (int x = 0; x < POOLED; x++) {
                            double max = Double.NEGATIVE_INFINITY;
                            for (int dy = 0; dy < 2; dy++) {
                                for (int dx = 0; dx < 2; dx++) {
                                    double z = gamma[c] * (conv[i][c][2 * y + dy][2 * x + dx] - batchMoments[0][c])
                                            / std + beta[c];
                                    max = Math.max(max, Math.max(0, z));
                                }
                            }
                            flat[c * POOLED * POOLED + y * POOLED + x] = max;
                        }
                    }
                }
                double[] out = new double[BatchNormDigits.DENSE];
                for (int k = 0; k < out.length; k++) {
                    double sum = denseBias[k];
                    for (int j = 0; j < flat.length; j++) {
                        sum += flat[j] * dense[j][k];
                    }
                    out[k] = sum;
                }
                denseOutputs.add(out);
            }
        }
        return List.of(convOutputs, denseOutputs);
    }

    private static void assertStatistics(String layer, double[][] expected) {
        double[] mean = vector(averaged, layer + "_mean");
        double[] log10std = vector(averaged, layer + "_log10stdev");
        for (int j = 0; j < mean.length; j++) {
            assertEquals(expected[0][j], mean[j], 1e-4 * Math.max(1, Math.abs(expected[0][j])), layer + " mean " + j);
            assertEquals(0.5 * Math.log10(expected[1][j]), log10std[j], 1e-4, layer + " log10stdev " + j);
        }
    }

    @Test
    void recomputedStatisticsAreThoseOfTheAveragedNetworksLayerInputs() {
        List<List<double[]>> inputs = layerInputs(averaged);

        assertStatistics("1", moments(inputs.get(0)));
        assertStatistics("5", moments(inputs.get(1)));
    }

    @Test
    void recomputedStatisticsDifferFromTheAveragedOnes() {
        MultiLayerNetwork plainAverage = run.ema().averagedCopy(run.network());
        double largest = 0;
        for (String key : new String[] {"1_mean", "1_log10stdev", "5_mean", "5_log10stdev"}) {
            double[] before = vector(plainAverage, key);
            double[] after = vector(averaged, key);
            for (int j = 0; j < before.length; j++) {
                largest = Math.max(largest, Math.abs(before[j] - after[j]));
            }
        }
        assertTrue(largest > 1e-3, "the averaged statistics are not those of the averaged weights: " + largest);
    }

    @Test
    void onlyTheStatisticsDifferFromTheAverageAndTheTrainingNetworkIsUntouched() {
        assertEquals(trainingParams, run.network().params());
        MultiLayerNetwork plainAverage = run.ema().averagedCopy(run.network());
        for (Map.Entry<String, INDArray> entry : plainAverage.paramTable().entrySet()) {
            String key = entry.getKey();
            if (!key.endsWith("_mean") && !key.endsWith("_log10stdev")) {
                assertArrayEquals(vector(plainAverage, key), vector(averaged, key), 0.0, key);
            }
        }
    }

    @Test
    void recomputationLeavesTheIteratorReadyForTheNextPass() {
        DataSetIterator data = run.trainingData();
        INDArray first = data.next().getFeatures().dup();

        BatchNormStatistics.recompute(run.sma(), run.network(), data);

        assertEquals(first, data.next().getFeatures());
    }

    @Test
    void everyVariantIsAWorkingClassifier() {
        BatchNormDigits.Accuracies accuracies = BatchNormDigits.measure(run);
        System.out.printf("BatchNormRecomputationIT (seed %d, %d epochs): %s%n", SEED, EPOCHS, accuracies);

        assertTrue(accuracies.training() > 0.9, accuracies.toString());
        assertTrue(accuracies.emaRecomputed() > 0.9, accuracies.toString());
        assertTrue(accuracies.smaRecomputed() > 0.9, accuracies.toString());
        assertTrue(accuracies.emaAveraged() > 0.5 && accuracies.smaAveraged() > 0.5, accuracies.toString());
    }
}
