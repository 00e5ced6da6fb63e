package io.github.dl4jema.arbiter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jema.EmaListener;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.deeplearning4j.arbiter.DL4JConfiguration;
import org.deeplearning4j.arbiter.GraphConfiguration;
import org.deeplearning4j.arbiter.optimize.api.OptimizationResult;
import org.deeplearning4j.arbiter.optimize.api.saving.InMemoryResultSaver;
import org.deeplearning4j.arbiter.optimize.api.saving.ResultReference;
import org.deeplearning4j.arbiter.optimize.api.termination.MaxCandidatesCondition;
import org.deeplearning4j.arbiter.optimize.api.termination.MaxTimeCondition;
import org.deeplearning4j.arbiter.optimize.config.OptimizationConfiguration;
import org.deeplearning4j.arbiter.optimize.generator.RandomSearchGenerator;
import org.deeplearning4j.arbiter.optimize.runner.IOptimizationRunner;
import org.deeplearning4j.arbiter.optimize.runner.LocalOptimizationRunner;
import org.deeplearning4j.arbiter.scoring.impl.TestSetLossScoreFunction;
import org.deeplearning4j.arbiter.task.ComputationGraphTaskCreator;
import org.deeplearning4j.arbiter.task.MultiLayerNetworkTaskCreator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Random searches with two concurrent tasks: each candidate is scored on its own average, which the test scores
 * again on a new network; the training weights score differently.
 */
class AveragingRandomSearchIT {

    private static final double TOLERANCE = 1e-5;

    @Test
    void everyCandidateIsScoredOnItsOwnAverageWhenTwoTrainAtOnce() throws Exception {
        AveragingSpace averaging = AveragingSpace.builder()
                .rules(AveragingRuleKind.EXPONENTIAL, AveragingRuleKind.EXPONENTIAL_WITH_WARMUP)
                .decay(0.9, 0.9999)
                .build();
        Map<Integer, EmaListener> made = new ConcurrentHashMap<>();
        AveragingTaskListener averager = AveragingTaskListener.withFactory(candidate -> {
            EmaListener listener = averaging.settingsOf(candidate).newListener();
            made.put(candidate.getIndex(), listener);
            return listener;
        }).keepTrainingWeights().build();

        OptimizationConfiguration conf = new OptimizationConfiguration.Builder()
                .candidateGenerator(new RandomSearchGenerator(averaging.alongside(SearchFixtures.searchedMlp()), null))
                .dataProvider(new IrisData())
                .modelSaver(new InMemoryResultSaver())
                .scoreFunction(new TestSetLossScoreFunction(true))
                .terminationConditions(new MaxCandidatesCondition(3), new MaxTimeCondition(2, TimeUnit.MINUTES))
                .rngSeed(7)
                .build();
        IOptimizationRunner runner = new LocalOptimizationRunner(2, conf,
                new MultiLayerNetworkTaskCreator(null, averager));
        runner.execute();

        // the runner may start (and count) one candidate beyond the condition before it sees it
        int completed = runner.numCandidatesCompleted();
        assertTrue(completed >= 3, completed + " completed");
        assertEquals(0, runner.numCandidatesFailed());
        List<ResultReference> results = runner.getResults();
        assertEquals(completed, results.size());
        assertDistinctListeners(made, averager, completed);

        for (ResultReference reference : results) {
            OptimizationResult result = reference.getResult();
            MultiLayerNetwork net = (MultiLayerNetwork) reference.getResultModel();
            EmaListener ema = made.get(result.getIndex());
            assertEquals(SearchFixtures.EPOCHS * IrisData.ITERATIONS_PER_EPOCH, ema.snapshotCount());
            assertTrue(net.getListeners().stream().noneMatch(l -> l instanceof CandidateAverager),
                    "the candidate's averager should be removed from the saved network");

            AveragingSettings settings = averaging.settingsOf(result.getCandidate());
            assertSame(ema.config(), averager.candidates().get(result.getIndex()).config());
            assertEquals(settings.rule().rule(settings.decay()).decay(2, 2), ema.config().rule().decay(2, 2));
            assertEquals(CandidateAveraging.Outcome.TRAINING_WEIGHTS_SAVED,
                    averager.candidates().get(result.getIndex()).outcome());

            INDArray averaged = ema.averagedParams(net);
            double onAverage = SearchFixtures.testLoss(
                    ((DL4JConfiguration) result.getCandidate().getValue()).getMultiLayerConfiguration(), averaged);
            double onTrainingWeights = net.score(IrisData.testSet());
            assertEquals(onAverage, result.getScore(), TOLERANCE, "candidate " + result.getIndex() + " " + settings);
            assertTrue(Math.abs(onTrainingWeights - result.getScore()) > 100 * TOLERANCE,
                    "candidate " + result.getIndex() + " should not be scored on its training weights ("
                            + onTrainingWeights + " vs " + result.getScore() + ")");
        }
    }

    @Test
    void graphCandidatesRecordTheirSearchedSettingsAndAreSavedWithTheirAverage() throws Exception {
        AveragingSpace averaging = AveragingSpace.builder()
                .rules(AveragingRuleKind.SIMPLE, AveragingRuleKind.EXPONENTIAL)
                .decay(0.9, 0.99)
                .startEpoch(1)
                .build();
        AveragingTaskListener averager = AveragingTaskListener.searching(averaging).build();

        OptimizationConfiguration conf = new OptimizationConfiguration.Builder()
                .candidateGenerator(new RandomSearchGenerator(averaging.alongside(SearchFixtures.searchedGraph()),
                        null))
                .dataProvider(new IrisData())
                .modelSaver(new InMemoryResultSaver())
                .scoreFunction(new TestSetLossScoreFunction(true))
                .terminationConditions(new MaxCandidatesCondition(2))
                .rngSeed(11)
                .build();
        IOptimizationRunner runner = new LocalOptimizationRunner(2, conf,
                new ComputationGraphTaskCreator(null, averager));
        runner.execute();

        int completed = runner.numCandidatesCompleted();
        assertTrue(completed >= 2, completed + " completed");
        assertEquals(completed, runner.getResults().size());
        for (ResultReference reference : runner.getResults()) {
            OptimizationResult result = reference.getResult();
            CandidateAveraging record = averager.candidates().get(result.getIndex());
            assertEquals(averaging.settingsOf(result.getCandidate()), record.settings());
            assertEquals(CandidateAveraging.Outcome.AVERAGE_SAVED, record.outcome());
            // no event reaches the listener in epoch 1: snapshots after every iteration of epochs 2 and 3
            assertEquals((SearchFixtures.EPOCHS - 1) * IrisData.ITERATIONS_PER_EPOCH, record.snapshots());
            ComputationGraph graph = (ComputationGraph) reference.getResultModel();
            assertTrue(graph.getListeners().stream().noneMatch(l -> l instanceof CandidateAverager));
            double onSavedWeights = SearchFixtures.testLoss(
                    ((GraphConfiguration) result.getCandidate().getValue()).getConfiguration(), graph.params());
            assertEquals(onSavedWeights, result.getScore(), TOLERANCE);
        }
    }

    /**
     * One listener per candidate that reached training, none shared. Arbiter's runner may start one candidate more
     * than {@code MaxCandidatesCondition} allows before it sees the condition, and may not count it: at least
     * {@code completed}.
     */
    static void assertDistinctListeners(Map<Integer, EmaListener> made, AveragingTaskListener averager,
                                        int completed) {
        long n = averager.listenersMade();
        assertTrue(n >= completed, n + " listeners for " + completed + " completed candidates");
        Set<EmaListener> distinct = Collections.newSetFromMap(new IdentityHashMap<>());
        distinct.addAll(made.values());
        assertEquals(n, made.size());
        assertEquals(n, distinct.size(), "no listener instance should be shared between candidates");
        assertEquals(n, averager.candidates().values().stream().map(CandidateAveraging::listenerNumber)
                .collect(Collectors.toSet()).size());
    }
}
