package io.github.dl4jema.arbiter;

import org.deeplearning4j.arbiter.ComputationGraphSpace;
import org.deeplearning4j.arbiter.MultiLayerSpace;
import org.deeplearning4j.arbiter.conf.updater.AdamSpace;
import org.deeplearning4j.arbiter.layers.DenseLayerSpace;
import org.deeplearning4j.arbiter.layers.OutputLayerSpace;
import org.deeplearning4j.arbiter.optimize.api.ParameterSpace;
import org.deeplearning4j.arbiter.optimize.parameter.FixedValue;
import org.deeplearning4j.arbiter.optimize.parameter.continuous.ContinuousParameterSpace;
import org.deeplearning4j.arbiter.optimize.parameter.integer.IntegerParameterSpace;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.learning.config.IUpdater;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** Small search spaces on iris and the test's own scoring of a set of weights. */
final class SearchFixtures {

    static final int EPOCHS = 3;

    private SearchFixtures() {
    }

    /** A 4-h-3 MLP space: hidden size 4..8, Adam learning rate 0.01..0.1, 3 epochs. */
    static MultiLayerSpace searchedMlp() {
        return mlp(new IntegerParameterSpace(4, 8), new AdamSpace(new ContinuousParameterSpace(0.01, 0.1)),
                new FixedValue<>(4));
    }

    /** A fixed 4-6-3 MLP with Adam(0.05): nothing of the network is searched. */
    static MultiLayerSpace fixedMlp() {
        return mlp(new FixedValue<>(6), new FixedValue<>(new Adam(0.05)),
                new FixedValue<>(4));
    }

    /** A fixed MLP whose input size is searched among {@code nIn}: a wrong size fails in training. */
    static MultiLayerSpace mlpWithInputSize(ParameterSpace<Integer> nIn) {
        return mlp(new FixedValue<>(6), new FixedValue<>(new Adam(0.05)), nIn);
    }

    private static MultiLayerSpace mlp(ParameterSpace<Integer> hidden, ParameterSpace<IUpdater> updater,
                                       ParameterSpace<Integer> nIn) {
        return new MultiLayerSpace.Builder()
                .seed(12345)
                .updater(updater)
                .addLayer(new DenseLayerSpace.Builder().nIn(nIn).nOut(hidden).activation(Activation.TANH).build())
                .addLayer(new OutputLayerSpace.Builder().nIn(hidden).nOut(3).activation(Activation.SOFTMAX)
                        .lossFunction(LossFunctions.LossFunction.MCXENT).build())
                .numEpochs(EPOCHS)
                .build();
    }

    /** A graph in -> dense(4..8) -> out, Adam(0.05), 3 epochs. */
    static ComputationGraphSpace searchedGraph() {
        IntegerParameterSpace hidden = new IntegerParameterSpace(4, 8);
        return new ComputationGraphSpace.Builder()
                .seed(12345)
                .updater(new Adam(0.05))
                .addInputs("in")
                .addLayer("hidden", new DenseLayerSpace.Builder().nIn(4).nOut(hidden).activation(Activation.TANH)
                        .build(), "in")
                .addLayer("out", new OutputLayerSpace.Builder().nIn(hidden).nOut(3).activation(Activation.SOFTMAX)
                        .lossFunction(LossFunctions.LossFunction.MCXENT).build(), "hidden")
                .setOutputs("out")
                .numEpochs(EPOCHS)
                .build();
    }

    /** The mean test-set loss of a new network of this configuration carrying {@code params}. */
    static double testLoss(MultiLayerConfiguration conf, INDArray params) {
        MultiLayerNetwork net = new MultiLayerNetwork(conf.clone());
        net.init(params.dup(), true);
        return net.score(IrisData.testSet());
    }

    /** The mean test-set loss of a new graph of this configuration carrying {@code params}. */
    static double testLoss(ComputationGraphConfiguration conf, INDArray params) {
        ComputationGraph graph = new ComputationGraph(conf.clone());
        graph.init(params.dup(), true);
        return graph.score(IrisData.testSet());
    }
}
