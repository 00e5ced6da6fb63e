package io.github.dl4jema.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The benchmark's averaged accuracies are those of the averaged weights: each is recomputed here from the
 * listener's {@code averagedParams} in a fresh network, scored by DL4J's {@link Evaluation} through an iterator,
 * a path the benchmark does not use (it swaps the average into the training network).
 */
class AveragedAccuracyIT {

    private static final int EPOCHS = 4;
    private static final long SEED = 3;

    private static RotatedDigits.Split split;
    private static RotatedDigitsBenchmark.ShadowRun run;

    @BeforeAll
    static void train() {
        RotatedDigits domains = RotatedDigits.of(Digits.load());
        split = domains.split(RotatedDigits.domainOf(45), RotatedDigitsBenchmark.SPLIT_SEED);
        run = RotatedDigitsBenchmark.trainWithShadows(plan(EPOCHS), split, SEED);
    }

    private static RotatedDigitsBenchmark.Plan plan(int epochs) {
        return RotatedDigitsBenchmark.Plan.of(BenchmarkModel.MLP, split, epochs, 0.99);
    }

    @Test
    void eachAverageTakesOneSnapshotPerIterationItAverages() {
        long n = EPOCHS * 38L;   // 1197 training images (45° held out) in minibatches of 32: 38 iterations per epoch

        assertEquals(n - 98, run.sma().snapshotCount(), "the SMA averages iterations 99..N");
        assertEquals(n - n / 2, run.smaMidRun().snapshotCount(), "the mid-run SMA averages N/2 + 1..N");
        assertEquals(n, run.ema().snapshotCount(), "the EMA averages iterations 1..N");
    }

    @Test
    void averagesDifferFromTheTrainingWeights() {
        assertTrue(run.sma().snapshotCount() > 1, "the simple average should have started");
        INDArray own = run.network().params();
        assertTrue(Transforms.abs(run.sma().averagedParams(run.network()).sub(own)).maxNumber().doubleValue() > 1e-3);
        assertTrue(Transforms.abs(run.ema().averagedParams(run.network()).sub(own)).maxNumber().doubleValue() > 1e-3);
    }

    @Test
    void smaOodAccuracyIsTheAccuracyOfTheAveragedWeights() {
        double reported = run.curves().get(Method.SMA).ood()[EPOCHS - 1];

        double recomputed = accuracyOf(run.sma().averagedParams(run.network()), split.test());

        assertEquals(recomputed, reported, 1e-12);
    }

    @Test
    void midRunSmaOodAccuracyIsTheAccuracyOfTheAveragedWeights() {
        double reported = run.curves().get(Method.SMA_MID_RUN).ood()[EPOCHS - 1];

        double recomputed = accuracyOf(run.smaMidRun().averagedParams(run.network()), split.test());

        assertEquals(recomputed, reported, 1e-12);
    }

    @Test
    void emaOodAccuracyIsTheAccuracyOfTheAveragedWeights() {
        double reported = run.curves().get(Method.EMA).ood()[EPOCHS - 1];

        double recomputed = accuracyOf(run.ema().averagedParams(run.network()), split.test());

        assertEquals(recomputed, reported, 1e-12);
    }

    @Test
    void ermOodAccuracyIsTheAccuracyOfTheTrainingWeightsLeftInPlaceAfterTheSwaps() {
        double reported = run.curves().get(Method.ERM).ood()[EPOCHS - 1];

        double recomputed = accuracyOf(run.network().params(), split.test());

        assertEquals(recomputed, reported, 1e-12);
    }

    @Test
    void storedSmaSnapshotOfTheLastEpochIsTheFinalAverage() {
        INDArray last = run.params().get(Method.SMA)[EPOCHS - 1];

        assertEquals(0.0, Transforms.abs(last.sub(run.sma().averagedParams(run.network()))).maxNumber()
                .doubleValue(), 0.0);
    }

    @Test
    void ensembleOodAccuracyIsTheArgmaxOfTheMeanLogitsOfItsMembers() {
        RotatedDigitsBenchmark.ShadowRun other = RotatedDigitsBenchmark.trainWithShadows(plan(2), split, SEED + 1);
        INDArray[] first = {run.params().get(Method.EMA)[1]};
        INDArray[] second = {other.params().get(Method.EMA)[1]};

        Curve ensemble = RotatedDigitsBenchmark.ensembleCurve(BenchmarkModel.MLP, List.of(first, second), split, 1);

        INDArray x = split.test().getFeatures();
        INDArray meanLogits = logits(first[0], x).add(logits(second[0], x)).div(2);
        INDArray predicted = meanLogits.argMax(1);
        INDArray truth = split.test().getLabels().argMax(1);
        double correct = predicted.eq(truth).castTo(DataType.DOUBLE).sumNumber()
                .doubleValue();
        assertEquals(correct / x.size(0), ensemble.ood()[0], 1e-12);
    }

    /** Hidden ReLU layer then {@code h·W + b} of the output layer, from the flat parameters of the 64-128-10 net. */
    private static INDArray logits(INDArray params, INDArray x) {
        MultiLayerNetwork net = fresh(params);
        INDArray hidden = Transforms.relu(x.mmul(net.getParam("0_W")).addRowVector(net.getParam("0_b")));
        return hidden.mmul(net.getParam("1_W")).addRowVector(net.getParam("1_b"));
    }

    private static MultiLayerNetwork fresh(INDArray params) {
        MultiLayerNetwork net = new MultiLayerNetwork(BenchmarkModel.MLP.configuration(1));
        net.init(params.dup(), false);
        return net;
    }

    private static double accuracyOf(INDArray params, DataSet test) {
        Evaluation evaluation = fresh(params).evaluate(new ListDataSetIterator<>(test.asList(), 64));
        return evaluation.accuracy();
    }
}
