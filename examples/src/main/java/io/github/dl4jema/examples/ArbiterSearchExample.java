package io.github.dl4jema.examples;

import io.github.dl4jema.arbiter.AveragingRuleKind;
import io.github.dl4jema.arbiter.AveragingSettings;
import io.github.dl4jema.arbiter.AveragingSpace;
import io.github.dl4jema.arbiter.AveragingTaskListener;
import io.github.dl4jema.arbiter.CandidateAveraging;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.deeplearning4j.arbiter.DL4JConfiguration;
import org.deeplearning4j.arbiter.MultiLayerSpace;
import org.deeplearning4j.arbiter.conf.updater.AdamSpace;
import org.deeplearning4j.arbiter.layers.DenseLayerSpace;
import org.deeplearning4j.arbiter.layers.OutputLayerSpace;
import org.deeplearning4j.arbiter.optimize.api.OptimizationResult;
import org.deeplearning4j.arbiter.optimize.api.data.DataProvider;
import org.deeplearning4j.arbiter.optimize.api.saving.ResultReference;
import org.deeplearning4j.arbiter.optimize.api.termination.MaxCandidatesCondition;
import org.deeplearning4j.arbiter.optimize.api.termination.MaxTimeCondition;
import org.deeplearning4j.arbiter.optimize.config.OptimizationConfiguration;
import org.deeplearning4j.arbiter.optimize.generator.RandomSearchGenerator;
import org.deeplearning4j.arbiter.optimize.parameter.continuous.ContinuousParameterSpace;
import org.deeplearning4j.arbiter.optimize.parameter.integer.IntegerParameterSpace;
import org.deeplearning4j.arbiter.optimize.runner.IOptimizationRunner;
import org.deeplearning4j.arbiter.optimize.runner.LocalOptimizationRunner;
import org.deeplearning4j.arbiter.saver.local.FileModelSaver;
import org.deeplearning4j.arbiter.scoring.impl.EvaluationScoreFunction;
import org.deeplearning4j.arbiter.task.MultiLayerNetworkTaskCreator;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * A small Arbiter random search on the shipped iris data in which every candidate trains with its own exponential
 * average of the weights and is scored (test-set accuracy) on that average. The network's hidden size and learning
 * rate are searched together with the averaging rule and its decay (log-uniform in {@code 1 − decay} between 0.9
 * and 0.9999); the table shows what each candidate used. The best model, saved by Arbiter's {@code FileModelSaver},
 * carries its averaged weights.
 *
 * <p>Run: {@code mvn -q -pl examples -am compile exec:java
 * -Dexec.mainClass=io.github.dl4jema.examples.ArbiterSearchExample}. Takes about half a minute on two cores.
 *
 * <p>Arbiter 1.0.0-beta7's {@code LocalOptimizationRunner} leaves a non-daemon executor thread running after
 * {@code execute()} returns, so the JVM would not exit on its own; {@code main} ends with {@code System.exit(0)}.
 */
public final class ArbiterSearchExample {

    private static final int CANDIDATES = 6;
    private static final int EPOCHS = 10;

    private ArbiterSearchExample() {
    }

    /**
     * Runs the search and prints a table of the candidates.
     *
     * @param args ignored
     * @throws Exception if the search or reading a saved model fails
     */
    public static void main(String[] args) throws Exception {
        AveragingSpace averaging = AveragingSpace.builder()
                .rules(AveragingRuleKind.EXPONENTIAL, AveragingRuleKind.EXPONENTIAL_WITH_WARMUP)
                .decay(0.9, 0.9999)
                .build();
        IntegerParameterSpace hidden = new IntegerParameterSpace(4, 12);
        MultiLayerSpace network = new MultiLayerSpace.Builder()
                .seed(12345)
                .updater(new AdamSpace(new ContinuousParameterSpace(0.005, 0.05)))
                .addLayer(new DenseLayerSpace.Builder().nIn(4).nOut(hidden).activation(Activation.TANH).build())
                .addLayer(new OutputLayerSpace.Builder().nIn(hidden).nOut(3).activation(Activation.SOFTMAX)
                        .lossFunction(LossFunctions.LossFunction.MCXENT).build())
                .numEpochs(EPOCHS)
                .build();
        AveragingTaskListener averager = AveragingTaskListener.searching(averaging).build();

        Path saveDir = Files.createTempDirectory("arbiter-ema-");
        OptimizationConfiguration conf = new OptimizationConfiguration.Builder()
                .candidateGenerator(new RandomSearchGenerator(averaging.alongside(network), null))
                .dataProvider(new IrisProvider())
                .modelSaver(new FileModelSaver(saveDir.toFile()))
                .scoreFunction(new EvaluationScoreFunction(Evaluation.Metric.ACCURACY))
                .terminationConditions(new MaxCandidatesCondition(CANDIDATES),
                        new MaxTimeCondition(5, TimeUnit.MINUTES))
                .rngSeed(2022)
                .build();
        IOptimizationRunner runner = new LocalOptimizationRunner(2, conf,
                new MultiLayerNetworkTaskCreator(null, averager));
        System.out.printf("Searching %d candidates, 2 at a time, %d epochs each; models saved in %s%n", CANDIDATES,
                EPOCHS, saveDir);
        runner.execute();

        List<OptimizationResult> results = new ArrayList<>();
        for (ResultReference reference : runner.getResults()) {
            results.add(reference.getResult());
        }
        results.sort(Comparator.comparingInt(OptimizationResult::getIndex));
        Map<Integer, CandidateAveraging> records = averager.candidates();
        System.out.printf("%n%-9s %-6s %-13s %-23s %-7s %-9s %s%n", "candidate", "hidden", "learning rate",
                "averaging rule", "decay", "snapshots", "accuracy on average");
        for (OptimizationResult result : results) {
            DL4JConfiguration candidate = (DL4JConfiguration) result.getCandidate().getValue();
            FeedForwardLayer first = (FeedForwardLayer) candidate.getMultiLayerConfiguration().getConf(0).getLayer();
            double learningRate = candidate.getMultiLayerConfiguration().getConf(0).getLayer()
                    .getUpdaterByParam("W").getLearningRate(0, 0);
            CandidateAveraging record = records.get(result.getIndex());
            AveragingSettings settings = averaging.settingsOf(result.getCandidate());
            System.out.printf("%-9d %-6d %-13.4f %-23s %-7.4f %-9d %.3f%n", result.getIndex(), first.getNOut(),
                    learningRate, settings.rule(), settings.decay(), record == null ? 0 : record.snapshots(),
                    result.getScore());
        }
        System.out.printf("%n%d completed, %d failed; best: candidate %d, accuracy %.3f%n",
                runner.numCandidatesCompleted(), runner.numCandidatesFailed(), runner.bestScoreCandidateIndex(),
                runner.bestScore());

        for (ResultReference reference : runner.getResults()) {
            if (reference.getResult().getIndex() == runner.bestScoreCandidateIndex()) {
                MultiLayerNetwork best = (MultiLayerNetwork) reference.getResultModel();
                Evaluation evaluation = best.evaluate(new IrisProvider().testIterator());
                System.out.printf("Best model reloaded from disk (averaged weights): test accuracy %.3f%n",
                        evaluation.accuracy());
            }
        }
        System.exit(0);
    }

    /** Iris from the examples' resources, shuffled with a fixed seed, 120 training and 30 test examples. */
    private static final class IrisProvider implements DataProvider {

        private static final List<DataSet> EXAMPLES = Iris.shuffled(42);
        private static final int TRAIN = 120;

        @Override
        public Object trainData(Map<String, Object> dataParameters) {
            return new ListDataSetIterator<>(EXAMPLES.subList(0, TRAIN), 10);
        }

        @Override
        public Object testData(Map<String, Object> dataParameters) {
            return testIterator();
        }

        DataSetIterator testIterator() {
            return new ListDataSetIterator<>(EXAMPLES.subList(TRAIN, EXAMPLES.size()), EXAMPLES.size() - TRAIN);
        }

        @Override
        public Class<?> getDataType() {
            return DataSetIterator.class;
        }

    }
}
