package io.github.dl4jema.benchmarks;

import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** The networks and data the benchmarks run on. */
public final class Workloads {

    /**
     * Dense layers in a network-shaped workload: with the output layer, 31 layers hold 62 parameter tensors, as many
     * as the ResNet-50-sized workload of the prior measurements, so per-tensor costs count as they would.
     */
    static final int LAYERS = 31;

    private Workloads() {
    }

    /**
     * A network of {@link #LAYERS} square dense layers holding about {@code parameters} parameters in 62 tensors.
     *
     * @param type       FLOAT or DOUBLE
     * @param parameters the approximate parameter count
     * @return an initialised network
     */
    public static MultiLayerNetwork squareMlp(DataType type, long parameters) {
        int width = (int) Math.max(2, Math.round(Math.sqrt((double) parameters / LAYERS)));
        NeuralNetConfiguration.ListBuilder list = new NeuralNetConfiguration.Builder()
                .seed(1)
                .dataType(type)
                .updater(new Adam(1e-3))
                .list();
        for (int i = 0; i < LAYERS - 1; i++) {
            list.layer(new DenseLayer.Builder().nIn(width).nOut(width).activation(Activation.TANH).build());
        }
        list.layer(new OutputLayer.Builder(LossFunctions.LossFunction.MSE).nIn(width).nOut(width)
                .activation(Activation.IDENTITY).build());
        MultiLayerNetwork net = new MultiLayerNetwork(list.build());
        net.init();
        return net;
    }

    /**
     * The training workload: an MLP 784-1024-1024-10 with ReLU, softmax output and Adam.
     *
     * @return an initialised FLOAT network
     */
    public static MultiLayerNetwork trainingMlp() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(1)
                .dataType(DataType.FLOAT)
                .updater(new Adam(1e-3))
                .list()
                .layer(new DenseLayer.Builder().nIn(784).nOut(1024).activation(Activation.RELU).build())
                .layer(new DenseLayer.Builder().nIn(1024).nOut(1024).activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(1024).nOut(10)
                        .activation(Activation.SOFTMAX).build())
                .build());
        net.init();
        return net;
    }

    /**
     * One minibatch of 128 random 784-feature examples with one-hot labels over 10 classes.
     *
     * @return the minibatch
     */
    public static DataSet minibatch() {
        Nd4j.getRandom().setSeed(7);
        INDArray features = Nd4j.rand(DataType.FLOAT, 128, 784);
        INDArray labels = Nd4j.zeros(DataType.FLOAT, 128, 10);
        for (int i = 0; i < 128; i++) {
            labels.putScalar(i, i % 10, 1.0);
        }
        return new DataSet(features, labels);
    }
}
