package io.github.dl4jema.arbiter;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jema.EmaListener;
import org.deeplearning4j.arbiter.optimize.api.Candidate;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.LossFunctions;

class AveragingTaskListenerTest {

    private static MultiLayerNetwork net() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().list()
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(3).nOut(2)
                        .activation(Activation.SOFTMAX).build())
                .build());
        net.init();
        return net;
    }

    @Test
    void aFactoryListenerThatDoesNotScoreOnItsAverageIsRefused() {
        AveragingTaskListener averager = AveragingTaskListener
                .withFactory(c -> EmaListener.exponential(0.9).build()).build();
        MultiLayerNetwork net = net();
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> averager.preProcess(net, new Candidate<>("c", 3, new double[0])));
        assertTrue(e.getMessage().contains("add .scoreOnAverage() to its builder"), e.getMessage());
        assertTrue(e.getMessage().contains("candidate 3"), e.getMessage());
        assertTrue(net.getListeners().isEmpty(), "nothing was added to the network");
    }

    @Test
    void aFactoryListenerThatScoresOnItsAverageIsUsedAsItIs() {
        EmaListener made = EmaListener.exponential(0.9).scoreOnAverage().build();
        AveragingTaskListener averager = AveragingTaskListener.withFactory(c -> made).build();
        MultiLayerNetwork net = averager.preProcess(net(), new Candidate<>("c", 0, new double[0]));
        CandidateAverager added = (CandidateAverager) net.getListeners().iterator().next();
        assertTrue(added.ema() == made, "the factory's own listener averages the candidate");
    }
}
