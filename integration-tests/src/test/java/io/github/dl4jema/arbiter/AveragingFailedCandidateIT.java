package io.github.dl4jema.arbiter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jema.EmaListener;
import java.lang.ref.WeakReference;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.deeplearning4j.arbiter.DL4JConfiguration;
import org.deeplearning4j.arbiter.optimize.api.OptimizationResult;
import org.deeplearning4j.arbiter.optimize.api.saving.InMemoryResultSaver;
import org.deeplearning4j.arbiter.optimize.api.saving.ResultReference;
import org.deeplearning4j.arbiter.optimize.api.termination.MaxCandidatesCondition;
import org.deeplearning4j.arbiter.optimize.config.OptimizationConfiguration;
import org.deeplearning4j.arbiter.optimize.generator.GridSearchCandidateGenerator;
import org.deeplearning4j.arbiter.optimize.parameter.discrete.DiscreteParameterSpace;
import org.deeplearning4j.arbiter.optimize.runner.IOptimizationRunner;
import org.deeplearning4j.arbiter.optimize.runner.LocalOptimizationRunner;
import org.deeplearning4j.arbiter.scoring.impl.TestSetLossScoreFunction;
import org.deeplearning4j.arbiter.task.MultiLayerNetworkTaskCreator;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;

/**
 * Candidates whose network expects 7 inputs fail in training on the 4 iris features: Arbiter reports them failed,
 * the others complete on their own averages, and no listener of a candidate stays reachable after the search.
 */
class AveragingFailedCandidateIT {

    @Test
    void failingCandidatesAreReportedFailedAndLeaveNoListenerBehind() throws Exception {
        AveragingSpace averaging = AveragingSpace.builder().decay(0.9, 0.99).build();
        Map<Integer, WeakReference<EmaListener>> made = new ConcurrentHashMap<>();
        Map<Integer, Long> inputSize = new ConcurrentHashMap<>();
        AveragingTaskListener averager = AveragingTaskListener.withFactory(candidate -> {
            EmaListener listener = averaging.settingsOf(candidate).newListener();
            made.put(candidate.getIndex(), new WeakReference<>(listener));
            FeedForwardLayer first = (FeedForwardLayer) ((DL4JConfiguration) candidate.getValue())
                    .getMultiLayerConfiguration().getConf(0).getLayer();
            inputSize.put(candidate.getIndex(), first.getNIn());
            return listener;
        }).build();

        OptimizationConfiguration conf = new OptimizationConfiguration.Builder()
                .candidateGenerator(new GridSearchCandidateGenerator(
                        averaging.alongside(SearchFixtures.mlpWithInputSize(new DiscreteParameterSpace<>(4, 7))),
                        2, GridSearchCandidateGenerator.Mode.Sequential, null))
                .dataProvider(new IrisData())
                .modelSaver(new InMemoryResultSaver())
                .scoreFunction(new TestSetLossScoreFunction(true))
                .terminationConditions(new MaxCandidatesCondition(4))
                .build();
        IOptimizationRunner runner = new LocalOptimizationRunner(2, conf,
                new MultiLayerNetworkTaskCreator(null, averager));
        runner.execute();

        assertEquals(4, averager.listenersMade());
        assertEquals(2, runner.numCandidatesFailed());
        assertEquals(2, runner.numCandidatesCompleted());
        for (CandidateAveraging record : averager.candidates().values()) {
            boolean fails = inputSize.get(record.candidateIndex()) == 7L;
            assertEquals(fails ? CandidateAveraging.Outcome.TRAINING : CandidateAveraging.Outcome.AVERAGE_SAVED,
                    record.outcome(), "candidate " + record.candidateIndex());
            assertEquals(fails ? 0 : SearchFixtures.EPOCHS, record.epochsEnded());
        }
        for (ResultReference reference : runner.getResults()) {
            OptimizationResult result = reference.getResult();
            assertNotNull(result.getScore());
            MultiLayerNetwork net = (MultiLayerNetwork) reference.getResultModel();
            assertEquals(SearchFixtures.testLoss(
                    ((DL4JConfiguration) result.getCandidate().getValue()).getMultiLayerConfiguration(),
                    net.params()), result.getScore(), 1e-5);
        }

        for (int attempt = 0; attempt < 20 && made.values().stream().anyMatch(r -> r.get() != null); attempt++) {
            System.gc();
            Thread.sleep(100);
        }
        for (Map.Entry<Integer, WeakReference<EmaListener>> entry : made.entrySet()) {
            assertNull(entry.getValue().get(), "candidate " + entry.getKey() + " (nIn="
                    + inputSize.get(entry.getKey()) + "): its listener should not be reachable after the search");
        }
        assertTrue(runner.getResults().size() >= 2);
    }
}
