package io.github.dl4jema.arbiter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jema.EmaListener;
import java.io.File;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.deeplearning4j.arbiter.optimize.api.OptimizationResult;
import org.deeplearning4j.arbiter.optimize.api.saving.ResultReference;
import org.deeplearning4j.arbiter.optimize.api.termination.MaxCandidatesCondition;
import org.deeplearning4j.arbiter.optimize.api.termination.MaxTimeCondition;
import org.deeplearning4j.arbiter.optimize.config.OptimizationConfiguration;
import org.deeplearning4j.arbiter.optimize.generator.GridSearchCandidateGenerator;
import org.deeplearning4j.arbiter.optimize.runner.IOptimizationRunner;
import org.deeplearning4j.arbiter.optimize.runner.LocalOptimizationRunner;
import org.deeplearning4j.arbiter.saver.local.FileModelSaver;
import org.deeplearning4j.arbiter.scoring.impl.TestSetLossScoreFunction;
import org.deeplearning4j.arbiter.task.MultiLayerNetworkTaskCreator;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

/** A grid search over the decay, saved to files: the best model loads and carries its averaged weights. */
class AveragingGridSearchIT {

    @Test
    void gridOverTheDecaySavesTheAveragedBestModel(@TempDir Path dir) throws Exception {
        AveragingSpace averaging = AveragingSpace.builder().decay(0.9, 0.999).build();
        Map<Integer, EmaListener> made = new ConcurrentHashMap<>();
        AveragingTaskListener averager = AveragingTaskListener.withFactory(candidate -> {
            EmaListener listener = averaging.settingsOf(candidate).newListener();
            made.put(candidate.getIndex(), listener);
            return listener;
        }).build();

        OptimizationConfiguration conf = new OptimizationConfiguration.Builder()
                .candidateGenerator(new GridSearchCandidateGenerator(averaging.alongside(SearchFixtures.fixedMlp()),
                        3, GridSearchCandidateGenerator.Mode.Sequential, null))
                .dataProvider(new IrisData())
                .modelSaver(new FileModelSaver(dir.toFile()))
                .scoreFunction(new TestSetLossScoreFunction(true))
                // Arbiter's runner keeps polling after a grid is exhausted: stop it at the grid's size
                .terminationConditions(new MaxCandidatesCondition(3), new MaxTimeCondition(2, TimeUnit.MINUTES))
                .build();
        IOptimizationRunner runner = new LocalOptimizationRunner(2, conf,
                new MultiLayerNetworkTaskCreator(null, averager));
        runner.execute();

        assertEquals(3, runner.numCandidatesCompleted());
        // log-uniform in 1 - decay: a 3-point grid over [0.9, 0.999] is 0.9, 0.99, 0.999
        List<Double> searched = runner.getResults().stream().map(r -> {
            try {
                return averaging.settingsOf(r.getResult().getCandidate()).decay();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }).sorted().collect(Collectors.toList());
        assertEquals(3, searched.size());
        assertEquals(0.9, searched.get(0), 1e-12);
        assertEquals(0.99, searched.get(1), 1e-12);
        assertEquals(0.999, searched.get(2), 1e-12);
        assertEquals(3, averager.candidates().size());

        int best = runner.bestScoreCandidateIndex();
        ResultReference bestReference = null;
        for (ResultReference reference : runner.getResults()) {
            if (reference.getResult().getIndex() == best) {
                bestReference = reference;
            }
        }
        assertTrue(bestReference != null, "the best candidate should have a saved result");
        File[] saved = dir.toFile().listFiles();
        assertTrue(saved != null && saved.length == 3, "one folder per candidate");

        MultiLayerNetwork loaded = (MultiLayerNetwork) bestReference.getResultModel();
        INDArray average = made.get(best).state().average();
        INDArray params = loaded.params();
        assertEquals(average.length(), params.length());
        assertTrue(average.reshape(average.length()).equalsWithEps(params.reshape(params.length()), 1e-6),
                "the saved best model should carry the averaged weights");
        OptimizationResult bestResult = bestReference.getResult();
        assertEquals(bestResult.getScore(), loaded.score(IrisData.testSet()), 1e-5);
        assertEquals(runner.bestScore(), bestResult.getScore(), 0.0);
    }
}
