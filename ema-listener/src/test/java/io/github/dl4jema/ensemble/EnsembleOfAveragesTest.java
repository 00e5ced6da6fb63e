package io.github.dl4jema.ensemble;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Members get hand-set weights, so their logits are {@code x·W + b} (one layer) or {@code (x·V + c)·W + b} (an
 * identity hidden layer first); the expected outputs are computed here in plain Java arithmetic.
 */
class EnsembleOfAveragesTest {

    private static final double TOL = 1e-9;

    /** Member A's logits for x = [1, 0] are [0, 0, 3]; member B's are [3, 4, 0]. */
    private static final double[][] W_A = {{0, 0, 3}, {1, 0, 0}};
    private static final double[][] W_B = {{3, 4, 0}, {0, 1, 2}};
    private static final double[] B_A = {0.5, -0.25, 0};
    private static final double[] B_B = {0, 0, 0};

    @Test
    void logitAveragingIsSoftmaxOfTheMeanOfXwPlusB() {
        EnsembleOfAverages ensemble = EnsembleOfAverages.builder()
                .member(linear(W_A, B_A)).member(linear(W_B, B_B)).build();
        double[][] x = {{1, 0}, {0.5, -2}, {-1, 3}};

        INDArray out = ensemble.output(Nd4j.create(x));

        for (int i = 0; i < x.length; i++) {
            double[] zA = affine(x[i], W_A, B_A);
            double[] zB = affine(x[i], W_B, B_B);
            double[] mean = new double[3];
            for (int k = 0; k < 3; k++) {
                mean[k] = (zA[k] + zB[k]) / 2;
            }
            assertRow(softmax(mean), out, i);
        }
    }

    @Test
    void probabilityAveragingIsTheMeanOfTheSoftmaxes() {
        EnsembleOfAverages ensemble = EnsembleOfAverages.builder().averagingProbabilities()
                .member(linear(W_A, B_A)).member(linear(W_B, B_B)).build();
        double[][] x = {{1, 0}, {0.5, -2}};

        INDArray out = ensemble.output(Nd4j.create(x));

        for (int i = 0; i < x.length; i++) {
            double[] pA = softmax(affine(x[i], W_A, B_A));
            double[] pB = softmax(affine(x[i], W_B, B_B));
            assertRow(new double[] {(pA[0] + pB[0]) / 2, (pA[1] + pB[1]) / 2, (pA[2] + pB[2]) / 2}, out, i);
        }
    }

    @Test
    void logitAndProbabilityAveragingCanPickDifferentClasses() {
        // x = [1, 0] with zero biases: logits A = [0, 0, 3], B = [3, 4, 0]. Mean logits [1.5, 2, 1.5] pick class 1;
        // mean probabilities [0.155, 0.383, 0.461] pick class 2.
        double[] zero = {0, 0, 0};
        INDArray x = Nd4j.create(new double[][] {{1, 0}});
        EnsembleOfAverages logits = EnsembleOfAverages.builder()
                .member(linear(W_A, zero)).member(linear(W_B, zero)).build();
        EnsembleOfAverages probabilities = EnsembleOfAverages.builder().averagingProbabilities()
                .member(linear(W_A, zero)).member(linear(W_B, zero)).build();

        assertEquals(1, logits.output(x).argMax(1).getInt(0));
        assertEquals(2, probabilities.output(x).argMax(1).getInt(0));
        assertRow(new double[] {1.5, 2, 1.5}, logits.averagedLogits(x), 0);
    }

    @Test
    void logitsOfADeeperNetworkAreThePreSoftmaxOutputOfTheLastLayer() {
        double[][] v = {{1, -1}, {2, 0.5}};
        double[] c = {0.1, -0.2};
        MultiLayerNetwork deep = twoLayer(v, c, W_B, B_B);
        EnsembleOfAverages ensemble = EnsembleOfAverages.builder().member(deep).build();
        double[] x = {0.3, -0.7};

        INDArray logits = ensemble.averagedLogits(Nd4j.create(new double[][] {x}));

        assertRow(affine(affine(x, v, c), W_B, B_B), logits, 0);
        assertRow(softmax(affine(affine(x, v, c), W_B, B_B)), deep.output(Nd4j.create(new double[][] {x})), 0);
    }

    @Test
    void graphAndMultiLayerMembersMixAndGraphLogitsAreThePreSoftmaxOutput() {
        double[][] v = {{1, -1}, {2, 0.5}};
        double[] c = {0.1, -0.2};
        ComputationGraph graph = graph(v, c, W_A, B_A);
        EnsembleOfAverages ensemble = EnsembleOfAverages.builder()
                .member(graph).member(linear(W_B, B_B)).build();
        double[] x = {0.3, -0.7};

        INDArray out = ensemble.output(Nd4j.create(new double[][] {x}));

        double[] zGraph = affine(affine(x, v, c), W_A, B_A);
        double[] zLinear = affine(x, W_B, B_B);
        assertRow(softmax(new double[] {(zGraph[0] + zLinear[0]) / 2, (zGraph[1] + zLinear[1]) / 2,
            (zGraph[2] + zLinear[2]) / 2}), out, 0);
    }

    @Test
    void evaluateScoresTheEnsemblesPredictionsWithDl4jEvaluation() {
        double[] zero = {0, 0, 0};
        EnsembleOfAverages ensemble = EnsembleOfAverages.builder()
                .member(linear(W_A, zero)).member(linear(W_B, zero)).build();
        // x = [1, 0]: mean logits [1.5, 2, 1.5], class 1. x = [0, 1]: A = [1, 0, 0], B = [0, 1, 2], mean
        // [0.5, 0.5, 1], class 2. Labels 1 and 0: one right of two.
        DataSet data = new DataSet(Nd4j.create(new double[][] {{1, 0}, {0, 1}}),
                Nd4j.create(new double[][] {{0, 1, 0}, {1, 0, 0}}));

        Evaluation evaluation = ensemble.evaluate(new ListDataSetIterator<>(data.asList(), 1));

        assertEquals(0.5, evaluation.accuracy(), TOL);
        assertEquals(1, evaluation.getConfusionMatrix().getCount(1, 1));
        assertEquals(1, evaluation.getConfusionMatrix().getCount(0, 2));
    }

    @Test
    void memberWithAnotherInputSizeShouldFail() {
        MultiLayerNetwork threeInputs = linear(new double[][] {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, B_B);
        EnsembleOfAverages.Builder builder = EnsembleOfAverages.builder()
                .member(linear(W_A, B_A)).member(threeInputs);

        IllegalStateException e = assertThrows(IllegalStateException.class, builder::build);

        assertTrue(e.getMessage().contains("member 1 (MultiLayerNetwork) takes inputs of size 3 but member 0 "
                + "takes 2"), e.getMessage());
    }

    @Test
    void memberWithAnotherNumberOfClassesShouldFail() {
        MultiLayerNetwork fourClasses = linear(new double[][] {{1, 0, 0, 0}, {0, 1, 0, 0}}, new double[4]);
        EnsembleOfAverages.Builder builder = EnsembleOfAverages.builder()
                .member(graph(new double[][] {{1, 0}, {0, 1}}, new double[2], W_A, B_A)).member(fourClasses);

        IllegalStateException e = assertThrows(IllegalStateException.class, builder::build);

        assertTrue(e.getMessage().contains("member 1 (MultiLayerNetwork) has 4 outputs but member 0 has 3"),
                e.getMessage());
    }

    @Test
    void emptyEnsembleShouldFail() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> EnsembleOfAverages.builder().build());

        assertTrue(e.getMessage().contains("at least 1 member (got: 0)"), e.getMessage());
    }

    @Test
    void nullMemberShouldFail() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EnsembleOfAverages.builder().member(null));

        assertTrue(e.getMessage().contains("(got: null)"), e.getMessage());
    }

    @Test
    void logitAveragingOfAMemberWithoutDenseOutputLayerShouldFailButProbabilityAveragingWorks() {
        MultiLayerNetwork lossLayer = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .dataType(DataType.DOUBLE).list()
                .layer(new DenseLayer.Builder().nIn(2).nOut(3).activation(Activation.IDENTITY).build())
                .layer(new LossLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX)
                        .build())
                .build());
        lossLayer.init();

        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> EnsembleOfAverages.builder().member(lossLayer).build());
        EnsembleOfAverages probabilities = EnsembleOfAverages.builder().averagingProbabilities()
                .member(lossLayer).build();

        assertTrue(e.getMessage().contains("use averagingProbabilities()"), e.getMessage());
        INDArray x = Nd4j.create(new double[][] {{0.2, 0.4}});
        assertEquals(lossLayer.output(x), probabilities.output(x));
    }

    @Test
    void graphWithTwoOutputsShouldFail() {
        ComputationGraph twoOutputs = new ComputationGraph(new NeuralNetConfiguration.Builder()
                .dataType(DataType.DOUBLE).graphBuilder().addInputs("in")
                .addLayer("a", outputLayer(2, 3), "in")
                .addLayer("b", outputLayer(2, 3), "in")
                .setOutputs("a", "b").build());
        twoOutputs.init();

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EnsembleOfAverages.builder().member(twoOutputs));

        assertTrue(e.getMessage().contains("one input and one output (got: 1 inputs, 2 outputs)"), e.getMessage());
    }

    // ---------------------------------------------------------------- networks with known weights

    private static OutputLayer outputLayer(int nIn, int nOut) {
        return new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(nIn).nOut(nOut)
                .activation(Activation.SOFTMAX).build();
    }

    private static MultiLayerNetwork linear(double[][] w, double[] b) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .dataType(DataType.DOUBLE).list()
                .layer(outputLayer(w.length, b.length))
                .build());
        net.init();
        net.setParam("0_W", Nd4j.create(w));
        net.setParam("0_b", Nd4j.create(new double[][] {b}));
        return net;
    }

    private static MultiLayerNetwork twoLayer(double[][] v, double[] c, double[][] w, double[] b) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .dataType(DataType.DOUBLE).list()
                .layer(new DenseLayer.Builder().nIn(v.length).nOut(c.length).activation(Activation.IDENTITY).build())
                .layer(outputLayer(w.length, b.length))
                .build());
        net.init();
        net.setParam("0_W", Nd4j.create(v));
        net.setParam("0_b", Nd4j.create(new double[][] {c}));
        net.setParam("1_W", Nd4j.create(w));
        net.setParam("1_b", Nd4j.create(new double[][] {b}));
        return net;
    }

    private static ComputationGraph graph(double[][] v, double[] c, double[][] w, double[] b) {
        ComputationGraph net = new ComputationGraph(new NeuralNetConfiguration.Builder()
                .dataType(DataType.DOUBLE).graphBuilder().addInputs("in")
                .addLayer("hidden", new DenseLayer.Builder().nIn(v.length).nOut(c.length)
                        .activation(Activation.IDENTITY).build(), "in")
                .addLayer("out", outputLayer(w.length, b.length), "hidden")
                .setOutputs("out").build());
        net.init();
        net.setParam("hidden_W", Nd4j.create(v));
        net.setParam("hidden_b", Nd4j.create(new double[][] {c}));
        net.setParam("out_W", Nd4j.create(w));
        net.setParam("out_b", Nd4j.create(new double[][] {b}));
        return net;
    }

    // ---------------------------------------------------------------- plain-Java arithmetic

    private static double[] affine(double[] x, double[][] w, double[] b) {
        double[] z = b.clone();
        for (int k = 0; k < z.length; k++) {
            for (int j = 0; j < x.length; j++) {
                z[k] += x[j] * w[j][k];
            }
        }
        return z;
    }

    private static double[] softmax(double[] z) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : z) {
            max = Math.max(max, v);
        }
        double sum = 0;
        double[] p = new double[z.length];
        for (int k = 0; k < z.length; k++) {
            p[k] = Math.exp(z[k] - max);
            sum += p[k];
        }
        for (int k = 0; k < z.length; k++) {
            p[k] /= sum;
        }
        return p;
    }

    private static void assertRow(double[] expected, INDArray actual, int row) {
        assertEquals(expected.length, actual.size(1));
        for (int k = 0; k < expected.length; k++) {
            assertEquals(expected[k], actual.getDouble(row, k), TOL, "row " + row + ", column " + k);
        }
    }
}
