package io.github.dl4jema;

import static io.github.dl4jema.Snapshots.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.earlystopping.EarlyStoppingConfiguration;
import org.deeplearning4j.earlystopping.EarlyStoppingResult;
import org.deeplearning4j.earlystopping.saver.LocalFileGraphSaver;
import org.deeplearning4j.earlystopping.saver.LocalFileModelSaver;
import org.deeplearning4j.earlystopping.scorecalc.DataSetLossCalculator;
import org.deeplearning4j.earlystopping.termination.MaxEpochsTerminationCondition;
import org.deeplearning4j.earlystopping.trainer.EarlyStoppingGraphTrainer;
import org.deeplearning4j.earlystopping.trainer.EarlyStoppingTrainer;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * {@code scoreOnAverage()}: between an epoch's end and the next epoch's start the network holds the average, so what
 * scores the epoch (DL4J's early-stopping trainer, listeners after the averager) sees it, while training continues on
 * the training weights bit for bit. Every expected average is recomputed here from the training weights recorded at
 * each iteration, every expected score from a fresh network holding the expected parameters.
 */
class ScoreOnAverageTest {

    private static final int EPOCHS = 10;

    @TempDir
    Path dir;

    @Test
    void betweenEpochsTheNetworkHoldsTheAverageAndTrainingIsUnchanged() {
        MultiLayerNetwork plain = Networks.mlp(DataType.DOUBLE, false, 7);
        Recorder plainSteps = new Recorder();
        plain.setListeners(plainSteps);
        plain.fit(Networks.data(DataType.DOUBLE), 3);

        MultiLayerNetwork net = Networks.mlp(DataType.DOUBLE, false, 7);
        Recorder training = new Recorder();
        EmaListener ema = EmaListener.exponential(0.8).scoreOnAverage().build();
        Recorder scored = new Recorder();
        net.setListeners(training, ema, scored);
        net.fit(Networks.data(DataType.DOUBLE), 3);

        int perEpoch = training.iterationEnds.size() / 3;
        for (int e = 0; e < 3; e++) {
            double[] expected = exponential(training.iterationEnds.subList(0, (e + 1) * perEpoch), 0.8);
            Snapshots.assertClose(expected, Snapshots.asArray(scored.epochEnds.get(e)), DataType.DOUBLE);
            assertArrayEquals(plainSteps.epochEnds.get(e), training.epochEnds.get(e),
                    "training weights at the end of epoch " + (e + 1));
        }
        Snapshots.assertClose(exponential(training.iterationEnds, 0.8), net.params(), DataType.DOUBLE);
        ema.restoreTrainingWeights(net);
        assertArrayEquals(values(plain.params()), values(net.params()), "training weights after restore");
        for (int i = 0; i < plainSteps.iterationEnds.size(); i++) {
            assertArrayEquals(plainSteps.iterationEnds.get(i), training.iterationEnds.get(i), "iteration " + i);
        }
    }

    @Test
    void earlyStoppingScoresSelectsAndSavesTheAveragedModel() throws Exception {
        DataSet validation = data(99, 96);
        Supplier<MultiLayerNetwork> factory = () -> noisyMlp(12);

        MultiLayerNetwork net = factory.get();
        Recorder training = new Recorder();
        EmaListener ema = EmaListener.exponential(0.9).scoreOnAverage().build();
        Recorder scored = new Recorder();
        net.setListeners(training, ema, scored);
        File saved = dir.resolve("es").toFile();
        saved.mkdirs();
        EarlyStoppingConfiguration<MultiLayerNetwork> conf = new EarlyStoppingConfiguration.Builder<MultiLayerNetwork>()
                .epochTerminationConditions(new MaxEpochsTerminationCondition(EPOCHS))
                .scoreCalculator(new DataSetLossCalculator(iterator(validation), true))
                .modelSaver(new LocalFileModelSaver(saved.getPath()))
                .build();
        EarlyStoppingResult<MultiLayerNetwork> result = new EarlyStoppingTrainer(conf, net, iterator(data(5, 48)))
                .fit();

        MultiLayerNetwork probe = factory.get();
        double[] averagedScores = new double[EPOCHS];
        double[] trainingScores = new double[EPOCHS];
        int perEpoch = training.iterationEnds.size() / EPOCHS;
        for (int e = 0; e < EPOCHS; e++) {
            double[] average = exponential(training.iterationEnds.subList(0, (e + 1) * perEpoch), 0.9);
            Snapshots.assertClose(average, Snapshots.asArray(scored.epochEnds.get(e)), DataType.DOUBLE);
            averagedScores[e] = score(probe, scored.epochEnds.get(e), validation);
            trainingScores[e] = score(probe, training.epochEnds.get(e), validation);
            assertEquals(averagedScores[e], result.getScoreVsEpoch().get(e), 1e-12, "score of epoch " + e);
        }
        int best = argMin(averagedScores);
        assertNotEquals(argMin(trainingScores), best, "this run's training weights and average peak at different "
                + "epochs (training " + java.util.Arrays.toString(trainingScores) + ", average "
                + java.util.Arrays.toString(averagedScores) + ")");
        assertEquals(best, result.getBestModelEpoch());
        assertArrayEquals(scored.epochEnds.get(best), values(result.getBestModel().params()), "the best model");
        MultiLayerNetwork reloaded = ModelSerializer.restoreMultiLayerNetwork(new File(saved, "bestModel.bin"));
        assertArrayEquals(scored.epochEnds.get(best), values(reloaded.params()), "the saved best model");

        MultiLayerNetwork plain = factory.get();
        Recorder plainSteps = new Recorder();
        plain.setListeners(plainSteps);
        EarlyStoppingConfiguration<MultiLayerNetwork> plainConf =
                new EarlyStoppingConfiguration.Builder<MultiLayerNetwork>()
                        .epochTerminationConditions(new MaxEpochsTerminationCondition(EPOCHS))
                        .scoreCalculator(new DataSetLossCalculator(iterator(validation), true))
                        .build();
        new EarlyStoppingTrainer(plainConf, plain, iterator(data(5, 48))).fit();
        assertEquals(plainSteps.iterationEnds.size(), training.iterationEnds.size());
        for (int i = 0; i < plainSteps.iterationEnds.size(); i++) {
            assertArrayEquals(plainSteps.iterationEnds.get(i), training.iterationEnds.get(i), "iteration " + i);
        }
    }

    @Test
    void earlyStoppingGraphTrainerReturnsTheAveragedGraph() throws Exception {
        DataSet validation = Networks.data(DataType.DOUBLE).next(32);
        ComputationGraph graph = Networks.graph(DataType.DOUBLE, 3);
        Recorder training = new Recorder();
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).scoreOnAverage().build();
        Recorder scored = new Recorder();
        graph.setListeners(training, ema, scored);
        File saved = dir.resolve("graph").toFile();
        saved.mkdirs();
        EarlyStoppingConfiguration<ComputationGraph> conf = new EarlyStoppingConfiguration.Builder<ComputationGraph>()
                .epochTerminationConditions(new MaxEpochsTerminationCondition(4))
                .scoreCalculator(new DataSetLossCalculator(iterator(validation), true))
                .modelSaver(new LocalFileGraphSaver(saved.getPath()))
                .build();
        EarlyStoppingResult<ComputationGraph> result =
                new EarlyStoppingGraphTrainer(conf, graph, Networks.data(DataType.DOUBLE)).fit();

        double[] sum = new double[training.epochEnds.get(0).length];
        for (int e = 0; e < 4; e++) {
            double[] snapshot = training.epochEnds.get(e);
            for (int j = 0; j < sum.length; j++) {
                sum[j] += snapshot[j];
            }
            double[] mean = new double[sum.length];
            for (int j = 0; j < sum.length; j++) {
                mean[j] = sum[j] / (e + 1);
            }
            Snapshots.assertClose(mean, Snapshots.asArray(scored.epochEnds.get(e)), DataType.DOUBLE);
        }
        int best = result.getBestModelEpoch();
        assertArrayEquals(scored.epochEnds.get(best), values(result.getBestModel().params()), "the best graph");
    }

    @Test
    void anotherAveragerUpdatesOnTheTrainingWeightsBeneathTheScoringSwap() {
        MultiLayerNetwork alone = Networks.mlp(DataType.DOUBLE, false, 5);
        EmaListener seedAlone = EmaListener.seedRule().build();
        alone.setListeners(seedAlone);
        alone.fit(Networks.data(DataType.DOUBLE), 4);

        MultiLayerNetwork net = Networks.mlp(DataType.DOUBLE, false, 5);
        EmaListener scoring = EmaListener.exponential(0.7).scoreOnAverage().build();
        EmaListener seed = EmaListener.seedRule().build();
        net.setListeners(scoring, seed);
        net.fit(Networks.data(DataType.DOUBLE), 4);
        scoring.restoreTrainingWeights(net);

        assertArrayEquals(values(alone.params()), values(net.params()),
                "the seed rule wrote back the same averages, and training went on from them, as without the "
                        + "scoring averager");
        assertArrayEquals(values(seedAlone.averagedParams(alone)), values(seed.averagedParams(net)));
    }

    @Test
    void twoAveragersScoringOnOneNetworkAreRefused() {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 1);
        EmaListener first = EmaListener.exponential(0.9).scoreOnAverage().build();
        EmaListener second = EmaListener.builder(AveragingRule.simple()).scoreOnAverage().build();
        first.update(net);
        BadInputTest.assertMessage(assertThrows(IllegalStateException.class, () -> second.update(net)),
                "both score on their average", "scoreOnAverage() on one of them");
    }

    @Test
    void aFitWithoutAnEpochStartIsRefusedUntilTheTrainingWeightsAreBack() {
        MultiLayerNetwork net = Networks.mlp(DataType.DOUBLE, false, 2);
        EmaListener ema = EmaListener.exponential(0.5).scoreOnAverage().build();
        Recorder training = new Recorder();
        net.setListeners(training, ema);
        DataSetIterator data = Networks.data(DataType.DOUBLE);
        net.fit(data);
        double[] averaged = values(net.params());
        double[] trainingWeights = training.epochEnds.get(0);
        data.reset();
        DataSet batch = data.next();

        BadInputTest.assertMessage(assertThrows(IllegalStateException.class, () -> net.fit(batch)),
                "swapped in for scoring", "restoreTrainingWeights(net)");
        assertArrayEquals(averaged, values(net.params()), "the refused fit changed nothing");

        ema.restoreTrainingWeights(net);
        assertArrayEquals(trainingWeights, values(net.params()));
        net.fit(batch);
    }

    @Test
    void scoreOnAverageIsSavedAndRestored() throws Exception {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 4);
        EmaListener ema = EmaListener.exponential(0.9).scoreOnAverage().build();
        net.setListeners(ema);
        net.fit(Networks.data(DataType.FLOAT), 2);
        File file = dir.resolve("scoring.zip").toFile();
        EmaListener.save(net, file, ema);
        MultiLayerNetwork loaded = MultiLayerNetwork.load(file, true);
        EmaListener restored = EmaListener.restore(file, loaded);
        assertEquals(ema.config(), restored.config());
        assertEquals(true, restored.config().scoreOnAverage());
    }

    // ---------------------------------------------------------------- helpers

    /** The exponential average of the snapshots, first one copied, in double precision. */
    private static double[] exponential(List<double[]> snapshots, double decay) {
        double[] average = snapshots.get(0).clone();
        for (int t = 1; t < snapshots.size(); t++) {
            double[] theta = snapshots.get(t);
            for (int j = 0; j < average.length; j++) {
                average[j] = decay * average[j] + (1 - decay) * theta[j];
            }
        }
        return average;
    }

    private static double score(MultiLayerNetwork probe, double[] params, DataSet data) {
        probe.setParams(Nd4j.createFromArray(params));
        return probe.score(data);
    }

    private static int argMin(double[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] < values[best]) {
                best = i;
            }
        }
        return best;
    }

    /**
     * An MLP trained with plain SGD at a high learning rate on 48 noisy examples: its validation loss keeps falling
     * for 10 epochs while that of its exponential average (decay 0.9) is lowest at epoch 4, then rises.
     */
    private static MultiLayerNetwork noisyMlp(long seed) {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(DataType.DOUBLE)
                .updater(new Sgd(1.0))
                .list()
                .layer(new DenseLayer.Builder().nIn(Networks.FEATURES).nOut(32).activation(Activation.TANH).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(32).nOut(Networks.CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .build());
        net.init();
        return net;
    }

    /** {@code n} examples of a noisy three-class problem on the Networks features. */
    private static DataSet data(long seed, int n) {
        Random random = new Random(seed);
        double[][] x = new double[n][Networks.FEATURES];
        double[][] y = new double[n][Networks.CLASSES];
        for (int i = 0; i < n; i++) {
            double sum = 0;
            for (int j = 0; j < Networks.FEATURES; j++) {
                x[i][j] = random.nextGaussian();
                sum += x[i][j] * (j % 3 - 1);
            }
            sum += 0.8 * random.nextGaussian();
            y[i][sum < -0.5 ? 0 : sum < 0.5 ? 1 : 2] = 1;
        }
        return new DataSet(Nd4j.create(x), Nd4j.create(y));
    }

    private static DataSetIterator iterator(DataSet data) {
        List<DataSet> examples = new ArrayList<>(data.asList());
        return new ListDataSetIterator<>(examples, 16);
    }
}
