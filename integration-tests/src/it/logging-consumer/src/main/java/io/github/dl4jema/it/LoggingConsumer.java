package io.github.dl4jema.it;

import io.github.dl4jema.AveragingRule;
import io.github.dl4jema.EmaListener;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * A user's program that makes ema-listener log a WARN: a manual update of a network whose parameters hold a NaN
 * is skipped (the default non-finite policy) with a WARN "Skipped averaging update: ...".
 */
public final class LoggingConsumer {

    private LoggingConsumer() {
    }

    public static void main(String[] args) {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(1)
                .list()
                .layer(new DenseLayer.Builder().nIn(2).nOut(3).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                        .nIn(3).nOut(2).activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        net.params().putScalar(0, Double.NaN);

        EmaListener ema = EmaListener.builder(AveragingRule.simple()).build();
        ema.update(net);
        System.out.println("logging-consumer: done");
    }
}
