package io.github.dl4jema.ui;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jema.AveragingRule;
import io.github.dl4jema.EmaListener;
import java.io.File;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.core.storage.Persistable;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.ui.model.stats.StatsListener;
import org.deeplearning4j.ui.model.stats.api.StatsInitializationReport;
import org.deeplearning4j.ui.model.stats.api.StatsReport;
import org.deeplearning4j.ui.model.stats.api.StatsType;
import org.deeplearning4j.ui.model.storage.FileStatsStorage;
import org.deeplearning4j.ui.model.storage.InMemoryStatsStorage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * What {@link AverageStatsListener} writes into DL4J's stats storages, checked against scores and accuracies
 * recomputed in the test from the averaged weights, and that the training run does not notice it.
 */
class AverageStatsListenerTest {

    private static final String TYPE = StatsListener.TYPE_ID;

    @Test
    void storedScoresAreTheLossOfEachMinibatchOnTheAveragedWeights() {
        MultiLayerNetwork net = UiFixtures.mlp(7, true);
        InMemoryStatsStorage storage = new InMemoryStatsStorage();
        StatsListener stats = new StatsListener(storage, 1);
        EmaListener sma = EmaListener.builder(AveragingRule.simple()).everyIteration().build();
        AverageStatsListener averageStats = AverageStatsListener.builder(sma, stats).build();
        net.setListeners(stats, sma, averageStats);

        List<DataSet> batches = UiFixtures.batches(12, 3);
        List<INDArray> snapshots = new ArrayList<>();
        double[] independent = new double[batches.size()];
        double[] viaAveragedCopy = new double[batches.size()];
        double[] trainingWeights = new double[batches.size()];
        for (int i = 0; i < batches.size(); i++) {
            DataSet batch = batches.get(i);
            // before the first snapshot the average is the weights themselves; then the mean of all snapshots
            INDArray average = snapshots.isEmpty() ? net.params().dup() : UiFixtures.mean(snapshots);
            independent[i] = UiFixtures.withParams(net, average).score(batch);
            viaAveragedCopy[i] = sma.averagedCopy(net).score(batch);
            trainingWeights[i] = UiFixtures.withParams(net, net.params()).score(batch);
            net.fit(batch);
            snapshots.add(net.params().dup());
        }

        List<double[]> stored = UiFixtures.iterationsAndScores(
                storage.getAllUpdatesAfter(averageStats.averageSessionId(), TYPE, stats.getWorkerID(), 0));
        assertEquals(batches.size(), stored.size(), "one record per iteration, none lost to equal timestamps");
        for (int i = 0; i < batches.size(); i++) {
            assertEquals(i, stored.get(i)[0], "0-based iteration index, as StatsListener's");
            assertEquals(viaAveragedCopy[i], stored.get(i)[1], 0.0, "iteration " + i);
            assertEquals(independent[i], stored.get(i)[1], 1e-12 * Math.abs(independent[i]), "iteration " + i);
        }
        // until the first snapshot the average is the weights; from then on it is not, and neither is its score
        assertEquals(trainingWeights[0], stored.get(0)[1], 0.0);
        for (int i = 2; i < batches.size(); i++) {
            assertNotEquals(trainingWeights[i], stored.get(i)[1], "iteration " + i);
        }
        assertEquals(stats.getSessionID() + "-average-simple", averageStats.averageSessionId());
    }

    @Test
    void aComputationGraphIsScoredOnTheMinibatchItTrainsOn() {
        ComputationGraph net = UiFixtures.graph(5);
        InMemoryStatsStorage storage = new InMemoryStatsStorage();
        StatsListener stats = new StatsListener(storage, 1);
        EmaListener ema = EmaListener.exponential(0.7).build();
        AverageStatsListener averageStats = AverageStatsListener.builder(ema, stats).build();
        net.setListeners(stats, ema, averageStats);

        List<DataSet> batches = UiFixtures.batches(6, 11);
        double[] expected = new double[batches.size()];
        INDArray average = null;
        for (int i = 0; i < batches.size(); i++) {
            DataSet batch = batches.get(i);
            INDArray current = average == null ? net.params().dup() : average;
            expected[i] = UiFixtures.withParams(net, current).score(new MultiDataSet(batch.getFeatures(),
                    batch.getLabels()));
            net.fit(batch);
            INDArray weights = net.params().dup().reshape(net.numParams());
            // exponential average with decay 0.7, the first snapshot copied
            average = average == null ? weights : average.mul(0.7).addi(weights.mul(0.3));
        }

        List<double[]> stored = UiFixtures.iterationsAndScores(
                storage.getAllUpdatesAfter(averageStats.averageSessionId(), TYPE, stats.getWorkerID(), 0));
        assertEquals(batches.size(), stored.size());
        for (int i = 0; i < batches.size(); i++) {
            assertEquals(i, stored.get(i)[0]);
            assertEquals(expected[i], stored.get(i)[1], 1e-12 * Math.abs(expected[i]), "iteration " + i);
        }
    }

    @Test
    void trainingIsBitIdenticalWithAndWithoutTheListenerAndItsSessionUnchanged() {
        Run without = Run.train(false);
        Run with = Run.train(true);
        assertEquals(without.params, with.params, "the training weights");
        assertEquals(without.average, with.average, "the average");
        List<double[]> trainingWithout = without.recording.session(without.stats.getSessionID());
        List<double[]> trainingWith = with.recording.session(with.stats.getSessionID());
        assertEquals(12, trainingWithout.size(), "3 epochs of 4 iterations, every iteration reported");
        assertEquals(trainingWithout.size(), trainingWith.size());
        for (int i = 0; i < trainingWithout.size(); i++) {
            assertArrayEquals(trainingWithout.get(i), trainingWith.get(i), 0.0, "training record " + i);
        }
        // and the listener did write its own sessions
        assertEquals(12, with.recording.session(with.averageStats.averageSessionId()).size());
        assertEquals(3, with.recording.session(with.averageStats.averageMetricSessionId()).size());
        assertEquals(3, with.recording.session(with.averageStats.trainingMetricSessionId()).size());
    }

    /** A run with dropout (so any extra draw from the random generator would change it), three epochs. */
    private record Run(INDArray params, INDArray average, UiFixtures.Recording recording, StatsListener stats,
                       AverageStatsListener averageStats) {

        static Run train(boolean withAverageStats) {
            MultiLayerNetwork net = UiFixtures.mlp(21, true);
            UiFixtures.Recording recording = new UiFixtures.Recording(new InMemoryStatsStorage());
            StatsListener stats = new StatsListener(recording, 1);
            EmaListener ema = EmaListener.exponential(0.8).build();
            AverageStatsListener averageStats = null;
            if (withAverageStats) {
                averageStats = AverageStatsListener.builder(ema, stats).scoreEveryNIterations(1)
                        .evaluateOn(UiFixtures.iterator(UiFixtures.batches(2, 99))).evaluateTrainingWeights(true)
                        .build();
                net.setListeners(stats, ema, averageStats);
            } else {
                net.setListeners(stats, ema);
            }
            net.fit(UiFixtures.iterator(UiFixtures.batches(4, 8)), 3);
            return new Run(net.params().dup(), ema.averagedParams(net), recording, stats, averageStats);
        }
    }

    @Test
    void aFileStatsStorageReadBackHoldsTheAveragesScoresAndEpochEndAccuracies(@TempDir File dir) {
        File file = new File(dir, "stats.dl4j");
        MultiLayerNetwork net = UiFixtures.mlp(13, false);
        FileStatsStorage storage = new FileStatsStorage(file);
        StatsListener stats = new StatsListener(storage, 2);
        EmaListener ema = EmaListener.exponential(0.75).build();
        DataSetIterator test = UiFixtures.iterator(UiFixtures.batches(3, 77));
        AverageStatsListener averageStats = AverageStatsListener.builder(ema, stats).evaluateOn(test)
                .evaluateTrainingWeights(true).build();
        net.setListeners(stats, ema, averageStats);

        // the expected score of each minibatch: the average as it stands when the minibatch is handed to fit
        List<Double> expectedScores = new ArrayList<>();
        List<INDArray> expectedWeights0 = new ArrayList<>();
        INDArray[] average = {null};
        UiFixtures.Watching train = new UiFixtures.Watching(UiFixtures.batches(5, 4), batch -> {
            INDArray current = average[0] == null ? net.params().dup() : average[0];
            expectedScores.add(UiFixtures.withParams(net, current).score(batch));
            expectedWeights0.add(UiFixtures.withParams(net, current).getParam("0_W").dup());
        });
        net.addListeners(new org.deeplearning4j.optimize.api.BaseTrainingListener() {
            @Override
            public void iterationDone(org.deeplearning4j.nn.api.Model model, int iteration, int epoch) {
                INDArray weights = net.params().dup().reshape(net.numParams());
                average[0] = average[0] == null ? weights : average[0].mul(0.75).addi(weights.mul(0.25));
            }
        });
        List<Double> averageAccuracy = new ArrayList<>();
        List<Double> trainingAccuracy = new ArrayList<>();
        for (int epoch = 0; epoch < 3; epoch++) {
            net.fit(train);
            train.reset();
            averageAccuracy.add(accuracy(UiFixtures.withParams(net, average[0]), test));
            trainingAccuracy.add(accuracy(UiFixtures.withParams(net, net.params()), test));
        }
        storage.close();

        FileStatsStorage reopened = new FileStatsStorage(file);
        try {
            String worker = stats.getWorkerID();
            assertTrue(reopened.listSessionIDs().containsAll(List.of(stats.getSessionID(),
                    averageStats.averageSessionId(), averageStats.averageMetricSessionId(),
                    averageStats.trainingMetricSessionId())), reopened.listSessionIDs().toString());

            // 15 iterations (0..14); DL4J's rule for frequency 2 reports 2, 4, ..., 14
            List<Persistable> updates = reopened.getAllUpdatesAfter(averageStats.averageSessionId(), TYPE, worker, 0);
            List<double[]> scores = UiFixtures.iterationsAndScores(updates);
            assertEquals(7, scores.size());
            for (int k = 0; k < scores.size(); k++) {
                int iteration = 2 * (k + 1);
                assertEquals(iteration, scores.get(k)[0]);
                double expected = expectedScores.get(iteration);
                assertEquals(expected, scores.get(k)[1], 1e-12 * expected, "iteration " + iteration);
                // the model page: mean magnitudes of the averaged weights, and as "update" how far they moved per
                // iteration since the previous record (or the first iteration), at the run's learning rate
                StatsReport report = (StatsReport) updates.get(k);
                INDArray weights0 = expectedWeights0.get(iteration);
                assertEquals(Transforms.abs(weights0, true).meanNumber().doubleValue(),
                        report.getMeanMagnitudes(StatsType.Parameters).get("0_W"), 1e-12, "iteration " + iteration);
                double moved = Transforms.abs(weights0.sub(expectedWeights0.get(iteration - 2)), true)
                        .meanNumber().doubleValue() / 2;
                assertEquals(moved, report.getMeanMagnitudes(StatsType.Updates).get("0_W"), 1e-12,
                        "iteration " + iteration);
                assertEquals(0.05, report.getLearningRates().get("0_W"), 1e-7, "Adam(0.05)");
            }
            List<double[]> averaged = UiFixtures.iterationsAndScores(
                    reopened.getAllUpdatesAfter(averageStats.averageMetricSessionId(), TYPE, worker, 0));
            List<double[]> training = UiFixtures.iterationsAndScores(
                    reopened.getAllUpdatesAfter(averageStats.trainingMetricSessionId(), TYPE, worker, 0));
            assertEquals(3, averaged.size());
            assertEquals(3, training.size());
            for (int epoch = 0; epoch < 3; epoch++) {
                assertEquals(5 * epoch + 4, averaged.get(epoch)[0], "at the epoch's last iteration");
                assertEquals(averageAccuracy.get(epoch), averaged.get(epoch)[1], 1e-12, "epoch " + epoch);
                assertEquals(5 * epoch + 4, training.get(epoch)[0]);
                assertEquals(trainingAccuracy.get(epoch), training.get(epoch)[1], 0.0, "epoch " + epoch);
            }
            StatsInitializationReport init = (StatsInitializationReport) reopened.getStaticInfo(
                    averageStats.averageSessionId(), TYPE, worker);
            assertEquals(MultiLayerNetwork.class.getName(), init.getModelClassName());
            assertEquals(2, init.getModelNumLayers());
            assertEquals(net.numParams(), init.getModelNumParams());
            assertArrayEquals(net.paramTable().keySet().toArray(), init.getModelParamNames());
        } finally {
            reopened.close();
        }
    }

    private static double accuracy(MultiLayerNetwork net, DataSetIterator data) {
        data.reset();
        Evaluation evaluation = net.evaluate(data);
        return evaluation.accuracy();
    }

    @Test
    void itsSessionsStartBeforeTheTrainingSessionSoTheUiStillOpensOnTraining() {
        MultiLayerNetwork net = UiFixtures.mlp(3, false);
        InMemoryStatsStorage storage = new InMemoryStatsStorage();
        StatsListener stats = new StatsListener(storage, 1);
        EmaListener ema = EmaListener.exponential(0.9).build();
        AverageStatsListener averageStats = AverageStatsListener.builder(ema, stats)
                .evaluateOn(UiFixtures.iterator(UiFixtures.batches(1, 5))).evaluateTrainingWeights(true).build();
        net.setListeners(stats, ema, averageStats);
        net.fit(UiFixtures.iterator(UiFixtures.batches(3, 6)), 2);

        String worker = stats.getWorkerID();
        long training = storage.getStaticInfo(stats.getSessionID(), TYPE, worker).getTimeStamp();
        for (String session : List.of(averageStats.averageSessionId(), averageStats.averageMetricSessionId(),
                averageStats.trainingMetricSessionId())) {
            long started = storage.getStaticInfo(session, TYPE, worker).getTimeStamp();
            assertTrue(started < training, session + " started at " + started + ", training at " + training);
        }
    }

    @Test
    void minibatchesWithMasksAreNotScoredAndTrainingGoesOn() {
        MultiLayerNetwork net = UiFixtures.mlp(9, false);
        InMemoryStatsStorage storage = new InMemoryStatsStorage();
        StatsListener stats = new StatsListener(storage, 1);
        EmaListener ema = EmaListener.exponential(0.9).build();
        AverageStatsListener averageStats = AverageStatsListener.builder(ema, stats).build();
        net.setListeners(stats, ema, averageStats);
        for (DataSet batch : UiFixtures.batches(3, 2)) {
            INDArray labelsMask = Nd4j.ones(batch.getLabels().dataType(), batch.numExamples(), 1);
            labelsMask.putScalar(0, 0, 0.0);
            net.fit(new DataSet(batch.getFeatures(), batch.getLabels(), null, labelsMask));
        }
        assertEquals(3, ema.snapshotCount(), "training went on");
        assertEquals(0, storage.getNumUpdateRecordsFor(averageStats.averageSessionId()));
    }

    @Test
    void theListenerBeforeItsAveragerFailsAtTheFirstEpochWithTheFix() {
        MultiLayerNetwork net = UiFixtures.mlp(1, false);
        INDArray before = net.params().dup();
        StatsListener stats = new StatsListener(new InMemoryStatsStorage());
        EmaListener ema = EmaListener.exponential(0.9).build();
        AverageStatsListener averageStats = AverageStatsListener.builder(ema, stats)
                .evaluateOn(UiFixtures.iterator(UiFixtures.batches(1, 5))).build();
        net.setListeners(stats, averageStats, ema);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> net.fit(UiFixtures.iterator(UiFixtures.batches(2, 6))));
        assertTrue(e.getMessage().contains("add the averager first, e.g. net.setListeners(stats, ema, averageStats)")
                && e.getMessage().endsWith("(got: averager at position 2, this listener at 1)"), e.getMessage());
        assertEquals(before, net.params(), "nothing trained");
    }
}
