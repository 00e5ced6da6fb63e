package io.github.dl4jema.examples;

import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.SubsamplingLayer;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * The networks the {@link RotatedDigitsBenchmark} can train ({@code --model}). Both take the flat 64 pixels of an 8x8
 * digit, end in a dense softmax output layer (so the {@code EnsembleOfAverages} can average their logits), train with
 * Adam at learning rate {@link #LEARNING_RATE}, and have no batch normalization: every parameter is a weight, so an
 * average of parameters is the whole averaged model.
 */
public enum BenchmarkModel {

    /** A 64-128-10 perceptron with ReLU: 9,738 parameters. */
    MLP("64-128-10 perceptron (ReLU)"),

    /**
     * A small convolutional network on the 8x8 images, LeNet-style: a 3x3 convolution of 16 channels, 2x2 max
     * pooling, a 3x3 convolution of 32 channels, 2x2 max pooling (to 2x2x32), a dense layer of 64 and the softmax
     * output; ReLU, "same" padding, He initialisation; no normalization layers: 13,706 parameters. DomainBed's
     * RotatedMNIST network is convolutional too (four convolutions with group normalization on 28x28 images); this
     * one is cut to what DL4J's CPU convolution layer trains in reasonable time on two cores: it copies its input into
     * a strided im2col buffer, and that copy alone took 4 times as long as ND4J's whole native conv2d op on the same
     * input; three 3x3 convolutions at full 8x8 resolution took 2.5 times as long per run (both measured).
     */
    CNN("CNN: 3x3 conv 16, max-pool 2, 3x3 conv 32, max-pool 2, dense 64 (ReLU), softmax");

    /** Adam's learning rate, for both models. */
    public static final double LEARNING_RATE = 0.003;
    /** Width of the perceptron's hidden layer. */
    public static final int HIDDEN = 128;
    /** Width of the convolutional network's dense layer. */
    public static final int CNN_DENSE = 64;

    private final String description;

    BenchmarkModel(String description) {
        this.description = description;
    }

    /** @return the network in one line */
    public String description() {
        return description;
    }

    /**
     * The network's configuration.
     *
     * @param seed the initialisation seed; not 0, which DL4J 1.0.0-M2.1 does not reproduce (the weights drawn with
     *             seed 0 differ from one JVM to the next, measured here), so the benchmark numbers its seeds from 1
     * @return the configuration
     */
    public MultiLayerConfiguration configuration(long seed) {
        NeuralNetConfiguration.ListBuilder layers = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .weightInit(this == MLP ? WeightInit.XAVIER : WeightInit.RELU)
                .updater(new Adam(LEARNING_RATE))
                .list();
        if (this == MLP) {
            return layers
                    .layer(new DenseLayer.Builder().nIn(Digits.SIDE * Digits.SIDE).nOut(HIDDEN)
                            .activation(Activation.RELU).build())
                    .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(HIDDEN)
                            .nOut(Digits.CLASSES).activation(Activation.SOFTMAX).build())
                    .build();
        }
        return layers
                .layer(convolution(16))
                .layer(maxPooling())
                .layer(convolution(32))
                .layer(maxPooling())
                .layer(new DenseLayer.Builder().nOut(CNN_DENSE).activation(Activation.RELU).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nOut(Digits.CLASSES)
                        .weightInit(WeightInit.XAVIER).activation(Activation.SOFTMAX).build())
                .setInputType(InputType.convolutionalFlat(Digits.SIDE, Digits.SIDE, 1))
                .build();
    }

    private static ConvolutionLayer convolution(int channels) {
        return new ConvolutionLayer.Builder(3, 3).nOut(channels).convolutionMode(ConvolutionMode.Same)
                .activation(Activation.RELU).build();
    }

    private static SubsamplingLayer maxPooling() {
        return new SubsamplingLayer.Builder(SubsamplingLayer.PoolingType.MAX).kernelSize(2, 2).stride(2, 2).build();
    }
}
