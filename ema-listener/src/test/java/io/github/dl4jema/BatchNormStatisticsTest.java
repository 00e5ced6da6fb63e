package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.adapter.MultiDataSetIteratorAdapter;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * {@link BatchNormStatistics} against statistics computed here, in plain Java doubles, from the data and the network's
 * parameters: the layers' inputs are recomputed by hand (batch normalization with each minibatch's own statistics, a
 * dense or 1x1 convolution layer, tanh), concatenated over all minibatches, and reduced to their mean and population
 * variance.
 */
class BatchNormStatisticsTest {

    private static final int EXAMPLES = 71;   // minibatches of 16, 16, 16, 16, 7
    private static final int BATCH = 16;
    private static final int FEATURES = 6;
    private static final int HIDDEN = 4;
    private static final int CHANNELS = 2;
    private static final int SIDE = 3;
    private static final int CLASSES = 3;

    // ---------------------------------------------------------------- data

    /** Dense features: feature j of example i is {@code (j+1)·gaussian + 0.3·j + 0.5·minibatch(i)}. */
    private static double[][] denseFeatures() {
        Random random = new Random(11);
        double[][] x = new double[EXAMPLES][FEATURES];
        for (int i = 0; i < EXAMPLES; i++) {
            for (int j = 0; j < FEATURES; j++) {
                x[i][j] = (j + 1) * random.nextGaussian() + 0.3 * j + 0.5 * (i / BATCH);
            }
        }
        return x;
    }

    /** Image features {@code [example][channel][row][column]}, with a per-minibatch and per-channel shift. */
    private static double[][][][] imageFeatures() {
        Random random = new Random(12);
        double[][][][] x = new double[EXAMPLES][CHANNELS][SIDE][SIDE];
        for (int i = 0; i < EXAMPLES; i++) {
            for (int c = 0; c < CHANNELS; c++) {
                for (int h = 0; h < SIDE; h++) {
                    for (int w = 0; w < SIDE; w++) {
                        x[i][c][h][w] = (c + 1) * random.nextGaussian() + c - 0.4 * (i / BATCH) + 0.1 * h;
                    }
                }
            }
        }
        return x;
    }

    private static INDArray labels(DataType type) {
        double[][] y = new double[EXAMPLES][CLASSES];
        for (int i = 0; i < EXAMPLES; i++) {
            y[i][i % CLASSES] = 1;
        }
        return Nd4j.create(y).castTo(type);
    }

    private static DataSetIterator iterator(INDArray features, DataType type) {
        return new ListDataSetIterator<>(new DataSet(features.castTo(type), labels(type)).asList(), BATCH);
    }

    private static DataSetIterator denseData(DataType type) {
        return iterator(Nd4j.create(denseFeatures()), type);
    }

    private static DataSetIterator imageData(DataType type, CNN2DFormat format) {
        double[][][][] x = imageFeatures();
        INDArray features = format == CNN2DFormat.NCHW ? Nd4j.create(x)
                : Nd4j.create(x).permute(0, 2, 3, 1).dup('c');
        return iterator(features, type);
    }

    // ---------------------------------------------------------------- networks

    private static NeuralNetConfiguration.Builder base(DataType type) {
        return new NeuralNetConfiguration.Builder().seed(5).dataType(type).updater(new Adam(0.02));
    }

    /** BN on the input, dense tanh, BN, softmax output: layers 0 (BN), 1 (dense), 2 (BN), 3. */
    private static MultiLayerNetwork denseMlp(DataType type, boolean logStd) {
        MultiLayerConfiguration conf = base(type).list()
                .layer(new BatchNormalization.Builder().nOut(FEATURES).useLogStd(logStd).build())
                .layer(new DenseLayer.Builder().nIn(FEATURES).nOut(HIDDEN).activation(Activation.TANH).build())
                .layer(new BatchNormalization.Builder().nOut(HIDDEN).useLogStd(logStd).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(HIDDEN).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.feedForward(FEATURES))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** BN on the image, 1x1 convolution with tanh, BN, average pooling, softmax output: layers 0, 1, 2, 3, 4. */
    private static MultiLayerNetwork convMlp(DataType type, boolean logStd, CNN2DFormat format) {
        MultiLayerConfiguration conf = base(type).list()
                .layer(new BatchNormalization.Builder().useLogStd(logStd).build())
                .layer(new ConvolutionLayer.Builder(1, 1).nOut(HIDDEN).activation(Activation.TANH).build())
                .layer(new BatchNormalization.Builder().useLogStd(logStd).build())
                .layer(new GlobalPoolingLayer.Builder(PoolingType.AVG).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutional(SIDE, SIDE, CHANNELS, format))
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** The graph form of {@link #denseMlp}: {@code in -> bn0 -> dense -> bn1 -> out}. */
    private static ComputationGraph denseGraph(DataType type, boolean logStd) {
        ComputationGraphConfiguration conf = base(type).graphBuilder()
                .addInputs("in")
                .addLayer("bn0", new BatchNormalization.Builder().nOut(FEATURES).useLogStd(logStd).build(), "in")
                .addLayer("dense", new DenseLayer.Builder().nIn(FEATURES).nOut(HIDDEN).activation(Activation.TANH)
                        .build(), "bn0")
                .addLayer("bn1", new BatchNormalization.Builder().nOut(HIDDEN).useLogStd(logStd).build(), "dense")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(HIDDEN).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "bn1")
                .setOutputs("out")
                .setInputTypes(InputType.feedForward(FEATURES))
                .build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        return graph;
    }

    /** The graph form of {@link #convMlp}: {@code in -> bn0 -> conv -> bn1 -> pool -> out}. */
    private static ComputationGraph convGraph(DataType type, boolean logStd) {
        ComputationGraphConfiguration conf = base(type).graphBuilder()
                .addInputs("in")
                .addLayer("bn0", new BatchNormalization.Builder().useLogStd(logStd).build(), "in")
                .addLayer("conv", new ConvolutionLayer.Builder(1, 1).nOut(HIDDEN).activation(Activation.TANH).build(),
                        "bn0")
                .addLayer("bn1", new BatchNormalization.Builder().useLogStd(logStd).build(), "conv")
                .addLayer("pool", new GlobalPoolingLayer.Builder(PoolingType.AVG).build(), "bn1")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "pool")
                .setOutputs("out")
                .setInputTypes(InputType.convolutional(SIDE, SIDE, CHANNELS))
                .build();
        ComputationGraph graph = new ComputationGraph(conf);
        graph.init();
        return graph;
    }

    // ---------------------------------------------------------------- the expected statistics, by hand

    private static double[] vector(Model net, String key) {
        return net.getParam(key).castTo(DataType.DOUBLE).reshape(net.getParam(key).length()).toDoubleVector();
    }

    private static final double EPS = 1e-5;   // DL4J's default BatchNormalization eps

    /** Mean and population variance of each column of {@code rows}: {@code {mean[], variance[]}}. */
    private static double[][] columnMoments(List<double[]> rows) {
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

    /** Batch normalization of rows with their own statistics (training mode), then {@code γ·x̂ + β}. */
    private static List<double[]> normalizedByTheBatch(List<double[]> rows, double[] gamma, double[] beta) {
        double[][] moments = columnMoments(rows);
        List<double[]> out = new ArrayList<>();
        for (double[] row : rows) {
            double[] z = new double[row.length];
            for (int j = 0; j < row.length; j++) {
                z[j] = gamma[j] * (row[j] - moments[0][j]) / Math.sqrt(moments[1][j] + EPS) + beta[j];
            }
            out.add(z);
        }
        return out;
    }

    /**
     * The expected statistics of both BN layers of a dense network: {@code {mean0, var0, mean1, var1}}, from the
     * parameter keys of the first BN, the dense layer and the keys' prefix.
     */
    private static double[][] expectedDense(Model net, String bn0, String dense) {
        double[][] x = denseFeatures();
        double[] gamma = vector(net, bn0 + "_gamma");
        double[] beta = vector(net, bn0 + "_beta");
        double[][] w = net.getParam(dense + "_W").castTo(DataType.DOUBLE).toDoubleMatrix();   // [nIn, nOut]
        double[] b = vector(net, dense + "_b");
        List<double[]> inputs0 = new ArrayList<>();
        List<double[]> inputs1 = new ArrayList<>();
        for (int from = 0; from < EXAMPLES; from += BATCH) {
            List<double[]> batch = new ArrayList<>();
            for (int i = from; i < Math.min(EXAMPLES, from + BATCH); i++) {
                batch.add(x[i]);
            }
            inputs0.addAll(batch);
            for (double[] z : normalizedByTheBatch(batch, gamma, beta)) {
                double[] h = new double[HIDDEN];
                for (int k = 0; k < HIDDEN; k++) {
                    double sum = b[k];
                    for (int c = 0; c < FEATURES; c++) {
                        sum += z[c] * w[c][k];
                    }
                    h[k] = Math.tanh(sum);
                }
                inputs1.add(h);
            }
        }
        double[][] m0 = columnMoments(inputs0);
        double[][] m1 = columnMoments(inputs1);
        return new double[][] {m0[0], m0[1], m1[0], m1[1]};
    }

    /** As {@link #expectedDense}, for the convolutional networks: statistics per channel over examples and pixels. */
    private static double[][] expectedConv(Model net, String bn0, String conv) {
        double[][][][] x = imageFeatures();
        double[] gamma = vector(net, bn0 + "_gamma");
        double[] beta = vector(net, bn0 + "_beta");
        double[][] w = net.getParam(conv + "_W").castTo(DataType.DOUBLE).reshape(HIDDEN, CHANNELS).toDoubleMatrix();
        double[] b = vector(net, conv + "_b");
        List<double[]> pixels0 = new ArrayList<>();
        List<double[]> pixels1 = new ArrayList<>();
        for (int from = 0; from < EXAMPLES; from += BATCH) {
            List<double[]> batch = new ArrayList<>();   // one row per pixel of the minibatch: its channel values
            for (int i = from; i < Math.min(EXAMPLES, from + BATCH); i++) {
                for (int h = 0; h < SIDE; h++) {
                    for (int col = 0; col < SIDE; col++) {
                        double[] pixel = new double[CHANNELS];
                        for (int c = 0; c < CHANNELS; c++) {
                            pixel[c] = x[i][c][h][col];
                        }
                        batch.add(pixel);
                    }
                }
            }
            pixels0.addAll(batch);
            for (double[] z : normalizedByTheBatch(batch, gamma, beta)) {
                double[] out = new double[HIDDEN];
                for (int k = 0; k < HIDDEN; k++) {
                    double sum = b[k];
                    for (int c = 0; c < CHANNELS; c++) {
                        sum += w[k][c] * z[c];
                    }
                    out[k] = Math.tanh(sum);
                }
                pixels1.add(out);
            }
        }
        double[][] m0 = columnMoments(pixels0);
        double[][] m1 = columnMoments(pixels1);
        return new double[][] {m0[0], m0[1], m1[0], m1[1]};
    }

    /** Asserts the layer's stored statistics: {@code mean}, and {@code var} or {@code log10stdev = ½·log10(var)}. */
    private static void assertStatistics(Model net, String layer, boolean logStd, double[] mean, double[] variance,
                                         DataType type) {
        double tolerance = type == DataType.DOUBLE ? 1e-10 : 2e-5;
        double[] storedMean = vector(net, layer + "_mean");
        for (int j = 0; j < mean.length; j++) {
            assertEquals(mean[j], storedMean[j], tolerance * Math.max(1, Math.abs(mean[j])), layer + " mean " + j);
        }
        if (logStd) {
            double[] stored = vector(net, layer + "_log10stdev");
            for (int j = 0; j < variance.length; j++) {
                assertEquals(0.5 * Math.log10(variance[j]), stored[j], tolerance * 10, layer + " log10stdev " + j);
            }
        } else {
            double[] stored = vector(net, layer + "_var");
            for (int j = 0; j < variance.length; j++) {
                assertEquals(variance[j], stored[j], tolerance * Math.max(1, variance[j]), layer + " var " + j);
            }
        }
    }

    private static final Set<String> STATISTICS = Set.of("mean", "var", "log10stdev");

    /** The parameters that are not batch-norm statistics, keyed, copied as doubles. */
    private static Map<String, double[]> weights(Model net) {
        Map<String, double[]> copy = new java.util.TreeMap<>();
        for (Map.Entry<String, INDArray> e : net.paramTable().entrySet()) {
            if (!STATISTICS.contains(e.getKey().substring(e.getKey().lastIndexOf('_') + 1))) {
                copy.put(e.getKey(), Snapshots.values(e.getValue()));
            }
        }
        return copy;
    }

    private static void assertSameWeights(Map<String, double[]> expected, Model net) {
        Map<String, double[]> now = weights(net);
        assertEquals(expected.keySet(), now.keySet());
        for (String key : expected.keySet()) {
            assertArrayEquals(expected.get(key), now.get(key), 0.0, key + " changed");
        }
    }

    /** Trains a little so that gamma, beta and the weights are not their initial values. */
    private static <T extends Model> T trained(T net, DataSetIterator data) {
        if (net instanceof MultiLayerNetwork mln) {
            mln.fit(data, 2);
        } else {
            ((ComputationGraph) net).fit(data, 2);
        }
        data.reset();
        return net;
    }

    // ---------------------------------------------------------------- tests

    @ParameterizedTest
    @CsvSource({"FLOAT, true", "FLOAT, false", "DOUBLE, true", "DOUBLE, false"})
    void denseStatisticsOfAMultiLayerNetworkAreThoseOfTheLayerInputs(DataType type, boolean logStd) {
        DataSetIterator data = denseData(type);
        MultiLayerNetwork net = trained(denseMlp(type, logStd), data);
        Map<String, double[]> weights = weights(net);

        int recomputed = BatchNormStatistics.recompute(net, data);

        assertEquals(2, recomputed);
        double[][] expected = expectedDense(net, "0", "1");
        assertStatistics(net, "0", logStd, expected[0], expected[1], type);
        assertStatistics(net, "2", logStd, expected[2], expected[3], type);
        assertSameWeights(weights, net);
    }

    @ParameterizedTest
    @CsvSource({"FLOAT, true, NCHW", "FLOAT, false, NCHW", "FLOAT, true, NHWC", "DOUBLE, true, NCHW"})
    void convolutionalStatisticsOfAMultiLayerNetworkArePerChannel(DataType type, boolean logStd,
                                                                  CNN2DFormat format) {
        DataSetIterator data = imageData(type, format);
        MultiLayerNetwork net = trained(convMlp(type, logStd, format), data);
        Map<String, double[]> weights = weights(net);

        assertEquals(2, BatchNormStatistics.recompute(net, data));

        double[][] expected = expectedConv(net, "0", "1");
        assertStatistics(net, "0", logStd, expected[0], expected[1], type);
        assertStatistics(net, "2", logStd, expected[2], expected[3], type);
        assertSameWeights(weights, net);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void denseStatisticsOfAGraphAreThoseOfTheLayerInputs(boolean logStd) {
        DataSetIterator data = denseData(DataType.FLOAT);
        ComputationGraph graph = trained(denseGraph(DataType.FLOAT, logStd), data);
        Map<String, double[]> weights = weights(graph);

        assertEquals(2, BatchNormStatistics.recompute(graph, data));

        double[][] expected = expectedDense(graph, "bn0", "dense");
        assertStatistics(graph, "bn0", logStd, expected[0], expected[1], DataType.FLOAT);
        assertStatistics(graph, "bn1", logStd, expected[2], expected[3], DataType.FLOAT);
        assertSameWeights(weights, graph);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void convolutionalStatisticsOfAGraphFromAMultiDataSetIterator(boolean logStd) {
        DataSetIterator data = imageData(DataType.FLOAT, CNN2DFormat.NCHW);
        ComputationGraph graph = trained(convGraph(DataType.FLOAT, logStd), data);
        Map<String, double[]> weights = weights(graph);

        assertEquals(2, BatchNormStatistics.recompute(graph, new MultiDataSetIteratorAdapter(data)));

        double[][] expected = expectedConv(graph, "bn0", "conv");
        assertStatistics(graph, "bn0", logStd, expected[0], expected[1], DataType.FLOAT);
        assertStatistics(graph, "bn1", logStd, expected[2], expected[3], DataType.FLOAT);
        assertSameWeights(weights, graph);
    }

    @Test
    void theVarianceIsThatOfAllInputsNotTheMeanOfTheMinibatchVariances() {
        // the minibatches' means differ (0.5 per minibatch), so the two combinations differ by their spread
        double[][] x = denseFeatures();
        List<double[]> all = new ArrayList<>(List.of(x));
        double population = columnMoments(all)[1][0];
        double meanOfBatchVariances = 0;
        int batches = 0;
        for (int from = 0; from < EXAMPLES; from += BATCH, batches++) {
            meanOfBatchVariances += columnMoments(all.subList(from, Math.min(EXAMPLES, from + BATCH)))[1][0];
        }
        meanOfBatchVariances /= batches;
        assertTrue(Math.abs(population - meanOfBatchVariances) > 0.01, "the data tells the two apart");
        MultiLayerNetwork net = denseMlp(DataType.DOUBLE, false);

        BatchNormStatistics.recompute(net, denseData(DataType.DOUBLE));

        assertEquals(population, vector(net, "0_var")[0], 1e-12);
    }

    @Test
    void theIteratorIsResetBeforeAndAfterThePass() {
        DataSetIterator data = denseData(DataType.DOUBLE);
        INDArray first = data.next().getFeatures().dup();
        data.next();   // a partly read iterator: the pass still sees every minibatch
        MultiLayerNetwork net = denseMlp(DataType.DOUBLE, false);

        BatchNormStatistics.recompute(net, data);

        assertEquals(columnMoments(List.of(denseFeatures()))[0][3], vector(net, "0_mean")[3], 1e-12);
        assertTrue(data.hasNext());
        assertEquals(first, data.next().getFeatures());
    }

    @Test
    void averagedCopyGetsStatisticsOfItsOwnWeightsAndTheTrainingNetworkIsUntouched() {
        DataSetIterator data = denseData(DataType.FLOAT);
        MultiLayerNetwork net = denseMlp(DataType.FLOAT, true);
        EmaListener ema = EmaListener.exponential(0.8).build();
        net.setListeners(ema);
        net.fit(data, 3);
        INDArray trainingParams = net.params().dup();
        INDArray updaterState = net.getUpdater().getStateViewArray().dup();
        Map<String, double[]> averagedWeights = weights(ema.averagedCopy(net));

        MultiLayerNetwork averaged = BatchNormStatistics.recompute(ema, net, data);

        assertEquals(trainingParams, net.params());
        assertEquals(updaterState, net.getUpdater().getStateViewArray());
        assertSameWeights(averagedWeights, averaged);
        double[][] expected = expectedDense(averaged, "0", "1");
        assertStatistics(averaged, "0", true, expected[0], expected[1], DataType.FLOAT);
        assertStatistics(averaged, "2", true, expected[2], expected[3], DataType.FLOAT);
        double[][] ofTrainingWeights = expectedDense(net, "0", "1");
        assertTrue(Math.abs(ofTrainingWeights[2][0] - expected[2][0]) > 1e-4,
                "the averaged weights give the second layer other inputs than the training weights");
    }

    @Test
    void theNetworkKeepsItsInputAndUpdaterAndInfersAsAFreshNetworkWithTheSameParameters() {
        DataSetIterator data = denseData(DataType.FLOAT);
        MultiLayerNetwork net = trained(denseMlp(DataType.FLOAT, true), data);
        INDArray ownInput = Nd4j.rand(DataType.FLOAT, 3, FEATURES);
        net.setInput(ownInput);
        INDArray updaterState = net.getUpdater().getStateViewArray().dup();

        BatchNormStatistics.recompute(net, data);

        assertSame(ownInput, net.getInput());
        assertEquals(updaterState, net.getUpdater().getStateViewArray());
        MultiLayerNetwork fresh = new MultiLayerNetwork(net.getLayerWiseConfigurations().clone());
        fresh.init(net.params().dup(), false);
        INDArray x = Nd4j.create(denseFeatures()).castTo(DataType.FLOAT);
        assertEquals(fresh.output(x, false), net.output(x, false));
    }

    @Test
    void aNetworkWithoutBatchNormalizationIsLeftAloneAndTheIteratorUnread() {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 1);
        INDArray before = net.params().dup();
        DataSetIterator data = Networks.data(DataType.FLOAT);
        data.next();
        INDArray second = data.next().getFeatures().dup();
        data.reset();
        data.next();

        assertEquals(0, BatchNormStatistics.recompute(net, data));

        assertEquals(before, net.params());
        assertEquals(second, data.next().getFeatures());
    }

    @Test
    void frozenBatchNormalizationKeepsItsStatistics() {
        MultiLayerNetwork pretrained = trained(denseMlp(DataType.FLOAT, true), denseData(DataType.FLOAT));
        MultiLayerNetwork fineTuned = new org.deeplearning4j.nn.transferlearning.TransferLearning.Builder(pretrained)
                .setFeatureExtractor(0)   // layer 0, the first BN, frozen; layer 2 not
                .build();
        double[] frozenMean = vector(fineTuned, "0_mean");
        double[] frozenLog10Std = vector(fineTuned, "0_log10stdev");

        assertEquals(1, BatchNormStatistics.recompute(fineTuned, denseData(DataType.FLOAT)));

        assertArrayEquals(frozenMean, vector(fineTuned, "0_mean"), 0.0);
        assertArrayEquals(frozenLog10Std, vector(fineTuned, "0_log10stdev"), 0.0);
        assertTrue(Math.abs(vector(fineTuned, "2_mean")[0] - vector(pretrained, "2_mean")[0]) > 1e-6,
                "the trainable BN layer was recomputed");
    }

    @Test
    void aConstantChannelGetsAFiniteLog10StdevAndAZeroVariance() {
        double[][] x = denseFeatures();
        for (double[] row : x) {
            row[2] = 1.5;
        }
        MultiLayerNetwork logNet = denseMlp(DataType.FLOAT, true);
        MultiLayerNetwork varNet = denseMlp(DataType.FLOAT, false);

        BatchNormStatistics.recompute(logNet, iterator(Nd4j.create(x), DataType.FLOAT));
        BatchNormStatistics.recompute(varNet, iterator(Nd4j.create(x), DataType.FLOAT));

        assertEquals(0.5 * Math.log10(Double.MIN_NORMAL), vector(logNet, "0_log10stdev")[2], 1e-3);
        assertEquals(0.0, vector(varNet, "0_var")[2], 0.0);
        assertEquals(1.5, vector(varNet, "0_mean")[2], 1e-6);
        INDArray out = logNet.output(Nd4j.create(x).castTo(DataType.FLOAT), false);
        assertTrue(!out.isNaN().any() && !out.isInfinite().any(), "the network still infers finite outputs");
    }

    @Test
    void divergedWeightsAreRefusedAndNothingIsWritten() {
        MultiLayerNetwork net = denseMlp(DataType.FLOAT, true);
        net.getParam("1_W").putScalar(0, Double.NaN);
        INDArray before = net.params().dup();

        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> BatchNormStatistics.recompute(net, denseData(DataType.FLOAT)));

        assertTrue(e.getMessage().contains("layer 2") && e.getMessage().contains("Nothing was changed"),
                e.getMessage());
        assertArrayEquals(Snapshots.values(before), Snapshots.values(net.params()), 0.0);
    }

    @Test
    void badArgumentsAreRefusedWithWhatWasGiven() {
        MultiLayerNetwork net = denseMlp(DataType.FLOAT, true);
        INDArray before = net.params().dup();

        assertTrue(assertThrows(IllegalArgumentException.class, () -> BatchNormStatistics.recompute(null,
                denseData(DataType.FLOAT))).getMessage().endsWith("(got: null)"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> BatchNormStatistics.recompute(net,
                (DataSetIterator) null)).getMessage().endsWith("(got: null)"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> BatchNormStatistics.recompute(null, net,
                denseData(DataType.FLOAT))).getMessage().endsWith("(got: null)"));
        String empty = assertThrows(IllegalArgumentException.class, () -> BatchNormStatistics.recompute(net,
                new ListDataSetIterator<>(List.<DataSet>of(), BATCH))).getMessage();
        assertTrue(empty.endsWith("(got: an iterator with no data)"), empty);
        assertEquals(before, net.params());

        ComputationGraphConfiguration twoInputs = base(DataType.FLOAT).graphBuilder().addInputs("a", "b")
                .addVertex("merge", new org.deeplearning4j.nn.conf.graph.MergeVertex(), "a", "b")
                .addLayer("bn", new BatchNormalization.Builder().nOut(2 * FEATURES).build(), "merge")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(2 * FEATURES)
                        .nOut(CLASSES).activation(Activation.SOFTMAX).build(), "bn")
                .setOutputs("out").build();
        ComputationGraph graph = new ComputationGraph(twoInputs);
        graph.init();
        String several = assertThrows(IllegalArgumentException.class, () -> BatchNormStatistics.recompute(graph,
                denseData(DataType.FLOAT))).getMessage();
        assertTrue(several.contains("MultiDataSetIterator") && several.endsWith("(got: a DataSetIterator for 2 "
                + "inputs)"), several);
    }
}
