package io.github.dl4jema.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.github.dl4jema.EmaListener;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.earlystopping.EarlyStoppingConfiguration;
import org.deeplearning4j.earlystopping.EarlyStoppingResult;
import org.deeplearning4j.earlystopping.saver.InMemoryModelSaver;
import org.deeplearning4j.earlystopping.scorecalc.DataSetLossCalculator;
import org.deeplearning4j.earlystopping.termination.MaxEpochsTerminationCondition;
import org.deeplearning4j.earlystopping.trainer.EarlyStoppingTrainer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * The seed rule inside DL4J's early-stopping trainer, which fires {@code onEpochEnd} itself, before it scores the
 * epoch, and never advances the network's epoch count: the listener must still number epochs 1, 2, 3, ... and the
 * trainer must score each epoch on the written-back average.
 */
class EarlyStoppingIT {

    private static final int EPOCHS = 5;

    /** Records the parameters at each epoch end. */
    private static final class Recorder extends BaseTrainingListener {
        final List<double[]> epochEnds = new ArrayList<>();

        @Override
        public void onEpochEnd(Model model) {
            epochEnds.add(model.params().dup().toDoubleVector());
        }
    }

    private static DataSet data(long seed, int n) {
        Random random = new Random(seed);
        double[][] x = new double[n][4];
        double[][] y = new double[n][3];
        for (int i = 0; i < n; i++) {
            double score = 0;
            for (int j = 0; j < 4; j++) {
                x[i][j] = random.nextGaussian();
                score += x[i][j] * (j - 1.5);
            }
            y[i][score < -1 ? 0 : score < 1 ? 1 : 2] = 1;
        }
        return new DataSet(Nd4j.create(x), Nd4j.create(y));
    }

    private static MultiLayerNetwork network() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(12).dataType(DataType.DOUBLE).updater(new Adam(0.02)).list()
                .layer(new DenseLayer.Builder().nIn(4).nOut(16).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(16).nOut(3)
                        .activation(Activation.SOFTMAX).build())
                .build());
        net.init();
        return net;
    }

    @Test
    void seedRuleNumbersEpochsAndTheTrainerScoresTheAverage() {
        DataSet train = data(1, 320);
        DataSet test = data(2, 200);
        MultiLayerNetwork net = network();
        Recorder before = new Recorder();
        Recorder after = new Recorder();
        EmaListener seed = EmaListener.seedRule().build();
        net.setListeners(before, seed, after);

        EarlyStoppingConfiguration<MultiLayerNetwork> config = new EarlyStoppingConfiguration.Builder<MultiLayerNetwork>()
                .epochTerminationConditions(new MaxEpochsTerminationCondition(EPOCHS))
                .scoreCalculator(new DataSetLossCalculator(new ListDataSetIterator<>(test.asList(), 200), true))
                .evaluateEveryNEpochs(1)
                .modelSaver(new InMemoryModelSaver<>())
                .build();
        EarlyStoppingResult<MultiLayerNetwork> result = new EarlyStoppingTrainer(config, net,
                new ListDataSetIterator<>(train.asList(), 32)).fit();

        assertEquals(EPOCHS, result.getTotalEpochs());
        assertEquals(EPOCHS, seed.snapshotCount());
        assertEquals(EPOCHS, seed.lastStep(), "epochs numbered by the listener although the network's count is "
                + net.getEpochCount());

        double[] average = null;
        for (int e = 1; e <= EPOCHS; e++) {
            double[] theta = before.epochEnds.get(e - 1);
            if (average == null) {
                average = theta.clone();
            } else {
                for (int j = 0; j < theta.length; j++) {
                    average[j] = (double) e / (e + 1) * average[j] + 1.0 / (e + 1) * theta[j];
                }
            }
            assertArrayEquals(average, after.epochEnds.get(e - 1), 1e-12, "weights after epoch " + e);

            MultiLayerNetwork independent = network();
            independent.setParams(Nd4j.create(average));
            assertEquals(independent.score(test), result.getScoreVsEpoch().get(e - 1), 1e-9,
                    "the trainer scored epoch " + e + " on the averaged weights");
        }
    }
}
