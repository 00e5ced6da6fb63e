package io.github.dl4jema;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** Small real networks and a fixed synthetic classification task for the tests. */
final class Networks {

    static final int FEATURES = 6;
    static final int CLASSES = 3;

    private Networks() {
    }

    /** A 6-8-(BN)-3 MLP; with {@code batchNorm} a BatchNormalization layer sits between the dense layers. */
    static MultiLayerNetwork mlp(DataType type, boolean batchNorm, long seed) {
        NeuralNetConfiguration.ListBuilder list = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(type)
                .updater(new Adam(0.05))
                .list()
                .layer(new DenseLayer.Builder().nIn(FEATURES).nOut(8).activation(Activation.TANH).build());
        if (batchNorm) {
            list.layer(new BatchNormalization.Builder().nOut(8).build());
        }
        MultiLayerConfiguration conf = list
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(8).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** A two-branch graph: in -> a, in -> b, merge(a, b) -> out. */
    static ComputationGraph graph(DataType type, long seed) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(type)
                .updater(new Adam(0.05))
                .graphBuilder()
                .addInputs("in")
                .addLayer("a", new DenseLayer.Builder().nIn(FEATURES).nOut(5).activation(Activation.TANH).build(),
                        "in")
                .addLayer("b", new DenseLayer.Builder().nIn(FEATURES).nOut(4).activation(Activation.RELU).build(),
                        "in")
                .addVertex("merge", new org.deeplearning4j.nn.conf.graph.MergeVertex(), "a", "b")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(9).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "merge")
                .setOutputs("out")
                .build();
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        return net;
    }

    /** A deterministic iterator over 4 minibatches of 16 examples (no shuffling). */
    static DataSetIterator data(DataType type) {
        Random random = new Random(42);
        List<DataSet> batches = new ArrayList<>();
        for (int b = 0; b < 4; b++) {
            double[][] x = new double[16][FEATURES];
            double[][] y = new double[16][CLASSES];
            for (int i = 0; i < 16; i++) {
                double sum = 0;
                for (int j = 0; j < FEATURES; j++) {
                    x[i][j] = random.nextGaussian();
                    sum += x[i][j] * (j % 3 - 1);
                }
                y[i][sum < -0.5 ? 0 : sum < 0.5 ? 1 : 2] = 1;
            }
            batches.add(new DataSet(Nd4j.create(x).castTo(type), Nd4j.create(y).castTo(type)));
        }
        List<DataSet> examples = new ArrayList<>();
        for (DataSet batch : batches) {
            examples.addAll(batch.asList());
        }
        return new ListDataSetIterator<>(examples, 16);
    }
}
