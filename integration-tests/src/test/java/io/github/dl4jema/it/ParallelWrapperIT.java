package io.github.dl4jema.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jema.AveragingRule;
import io.github.dl4jema.EmaListener;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * The recipe for {@code ParallelWrapper}, whose workers fire no epoch events on the network the user holds: keep
 * the listener off the wrapper, on the master network, and call {@link EmaListener#update} after each {@code fit}.
 * In AVERAGING mode with rounds per fit a multiple of the averaging frequency, the master holds the workers' mean
 * after each fit; the average must be the mean of those snapshots.
 */
class ParallelWrapperIT {

    private static final int FITS = 3;

    private static DataSetIterator data() {
        Random random = new Random(5);
        List<DataSet> examples = new ArrayList<>();
        for (int i = 0; i < 8 * 16; i++) {
            double[] x = new double[4];
            double score = 0;
            for (int j = 0; j < 4; j++) {
                x[j] = random.nextGaussian();
                score += x[j] * (j - 1.5);
            }
            double[] y = new double[3];
            y[score < -1 ? 0 : score < 1 ? 1 : 2] = 1;
            examples.add(new DataSet(Nd4j.create(new double[][] {x}), Nd4j.create(new double[][] {y})));
        }
        return new ListDataSetIterator<>(examples, 16);   // 8 minibatches: 4 per worker, 2 averaging rounds
    }

    private static MultiLayerNetwork network() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(3).dataType(DataType.DOUBLE).updater(new Adam(0.05)).list()
                .layer(new DenseLayer.Builder().nIn(4).nOut(12).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(12).nOut(3)
                        .activation(Activation.SOFTMAX).build())
                .build());
        net.init();
        return net;
    }

    @ParameterizedTest(name = "writeBack={0}")
    @ValueSource(booleans = {false, true})
    void manualUpdatesAfterEachFitAverageTheMasterNetwork(boolean writeBack) throws Exception {
        MultiLayerNetwork net = network();
        EmaListener.Builder builder = EmaListener.builder(AveragingRule.simple());
        EmaListener sma = (writeBack ? builder.writeBack() : builder.shadow()).build();

        List<double[]> snapshots = new ArrayList<>();
        try (ParallelWrapper wrapper = new ParallelWrapper.Builder<>(net).workers(2).prefetchBuffer(2)
                .averagingFrequency(2).trainingMode(ParallelWrapper.TrainingMode.AVERAGING).build()) {
            for (int fit = 0; fit < FITS; fit++) {
                wrapper.fit(data());
                snapshots.add(net.params().dup().toDoubleVector());
                sma.update(net);
                if (writeBack) {
                    assertArrayEquals(sma.averagedParams(net).toDoubleVector(), net.params().toDoubleVector(),
                            "the master carries the average into the next fit");
                }
            }
        }

        assertEquals(FITS, sma.snapshotCount());
        assertFalse(Arrays.equals(snapshots.get(0), snapshots.get(FITS - 1)), "the wrapper trained the network");
        double[] expected = new double[snapshots.get(0).length];
        if (writeBack) {
            // θ̄₁ = θ₁; θ̄ₖ = ((k−1)·θ̄ₖ₋₁ + θₖ)/k, where θₖ trained from θ̄ₖ₋₁
            for (int k = 1; k <= FITS; k++) {
                for (int j = 0; j < expected.length; j++) {
                    expected[j] = ((k - 1) * expected[j] + snapshots.get(k - 1)[j]) / k;
                }
            }
        } else {
            for (double[] snapshot : snapshots) {
                for (int j = 0; j < expected.length; j++) {
                    expected[j] += snapshot[j] / FITS;
                }
            }
        }
        assertArrayEquals(expected, sma.averagedParams(net).toDoubleVector(), 1e-12);
    }

    @Test
    void aListenerHandedToTheWrapperFailsTheFitWithTheRecipe() {
        MultiLayerNetwork net = network();
        EmaListener ema = EmaListener.exponential(0.9).build();
        net.addListeners(ema);
        // not closed: after a worker failed, DL4J M2.1 leaves the wrapper broken; its threads are daemons
        ParallelWrapper wrapper = new ParallelWrapper.Builder<>(net).workers(2).prefetchBuffer(2)
                .averagingFrequency(2).trainingMode(ParallelWrapper.TrainingMode.AVERAGING).build();
        RuntimeException e = assertThrows(RuntimeException.class, () -> wrapper.fit(data()));
        Throwable cause = e;
        while (cause.getCause() != null && !(cause instanceof IllegalStateException)) {
            cause = cause.getCause();
        }
        assertTrue(cause.getMessage().contains("ParallelWrapper worker thread"), cause.getMessage());
        assertTrue(cause.getMessage().contains("call ema.update(net) on the master"), cause.getMessage());
        assertEquals(0, ema.snapshotCount(), "no average of replicas");
    }
}
