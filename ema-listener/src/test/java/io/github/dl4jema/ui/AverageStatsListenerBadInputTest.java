package io.github.dl4jema.ui;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jema.EmaListener;
import org.deeplearning4j.datasets.iterator.IteratorDataSetIterator;
import org.deeplearning4j.ui.model.stats.StatsListener;
import org.deeplearning4j.ui.model.storage.InMemoryStatsStorage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

/** The builder refuses what cannot work, saying what is allowed and what it got; toString prints the settings. */
class AverageStatsListenerBadInputTest {

    private final EmaListener ema = EmaListener.exponential(0.9).build();
    private final InMemoryStatsStorage storage = new InMemoryStatsStorage();

    @Test
    void missingArgumentsShouldFail() {
        assertFails(() -> AverageStatsListener.builder(null, new StatsListener(storage)), "averager should be",
                "(got: null)");
        assertFails(() -> AverageStatsListener.builder(ema, (StatsListener) null), "stats should be",
                "(got: null)");
        assertFails(() -> AverageStatsListener.builder(ema, null, "run"), "router should be", "(got: null)");
        assertFails(() -> AverageStatsListener.builder(ema, storage, " "), "trainingSessionId should be",
                "(got: ' ')");
        assertFails(() -> builder().workerId(""), "workerId should be", "(got: '')");
        assertFails(() -> builder().metric(null), "metric should be", "(got: null)");
    }

    @Test
    void frequenciesBelowOneShouldFail() {
        assertFails(() -> builder().scoreEveryNIterations(0), "should be >= 1", "(got: 0)");
        assertFails(() -> builder().evaluateEveryNEpochs(-2), "should be >= 1", "(got: -2)");
    }

    @Test
    void evaluationDataThatCannotBeResetShouldFail() {
        DataSetIterator once = new IteratorDataSetIterator(UiFixtures.batches(1, 1).iterator(), 16);
        assertFails(() -> builder().evaluateOn(once), "can be reset", "read at every epoch end",
                "(got: IteratorDataSetIterator without reset support)");
        assertFails(() -> builder().evaluateOn(null), "(got: null)");
    }

    @Test
    void evaluatingTheTrainingWeightsWithoutEvaluationDataShouldFail() {
        assertFails(() -> builder().evaluateTrainingWeights(true).build(), "needs evaluation data",
                "evaluateOn(iterator)", "(got: no evaluation data)");
    }

    @Test
    void aStatsListenersSessionWorkerAndFrequencyAreTaken() {
        StatsListener stats = new StatsListener(storage, 7, "run-42");
        AverageStatsListener listener = AverageStatsListener.builder(ema, stats).metric(Evaluation.Metric.F1)
                .evaluateOn(UiFixtures.iterator(UiFixtures.batches(1, 1))).evaluateEveryNEpochs(2)
                .evaluateTrainingWeights(true).build();
        assertEquals("run-42-average-exponential-0.9", listener.averageSessionId());
        assertEquals("run-42-average-exponential-0.9-f1", listener.averageMetricSessionId());
        assertEquals("run-42-f1", listener.trainingMetricSessionId());
        assertEquals("AverageStatsListener{averager='exponential-0.9', session=run-42-average-exponential-0.9, "
                + "scoreEvery=7 iteration(s), f1 every 2 epoch(s) for the average and the training weights, "
                + "router=" + storage + "}", listener.toString());
        assertEquals(10, AverageStatsListener.DEFAULT_SCORE_FREQUENCY, "as new StatsListener(storage)");
        assertTrue(AverageStatsListener.builder(ema, storage, "run").build().toString()
                .contains("scoreEvery=10 iteration(s), no evaluation"));
    }

    private AverageStatsListener.Builder builder() {
        return AverageStatsListener.builder(ema, storage, "run");
    }

    private static void assertFails(Executable call, String... parts) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "'" + part + "' not in: " + e.getMessage());
        }
        assertTrue(e.getMessage().endsWith(")"), e.getMessage());
    }
}
