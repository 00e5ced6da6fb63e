package io.github.dl4jema;

import static io.github.dl4jema.Snapshots.theta;
import static io.github.dl4jema.Snapshots.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.File;
import java.nio.file.Path;
import org.deeplearning4j.earlystopping.EarlyStoppingConfiguration;
import org.deeplearning4j.earlystopping.EarlyStoppingResult;
import org.deeplearning4j.earlystopping.saver.InMemoryModelSaver;
import org.deeplearning4j.earlystopping.scorecalc.DataSetLossCalculator;
import org.deeplearning4j.earlystopping.termination.MaxEpochsTerminationCondition;
import org.deeplearning4j.earlystopping.trainer.EarlyStoppingTrainer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The averager counts its own steps: the seed rule's closed form {@code (2θ_first + θ_2 + … + θ_k)/(k + 1)} holds
 * wherever averaging starts, and DL4J's lifetime counters (high on a loaded network, rewound by early stopping) never
 * change the arithmetic.
 */
class CountingTest {

    @TempDir
    Path dir;

    /** The seed's closed form over snapshots {@code first..last}. */
    private static double[] seedClosedForm(int first, int last, int n) {
        int k = last - first + 1;
        double[] expected = new double[n];
        for (int j = 0; j < n; j++) {
            double sum = 2 * theta(first, n)[j];
            for (int s = first + 1; s <= last; s++) {
                sum += theta(s, n)[j];
            }
            expected[j] = sum / (k + 1);
        }
        return expected;
    }

    @Test
    void seedRuleStartedAfterTwoEpochsFollowsItsClosedFormFromItsFirstSnapshot() {
        MultiLayerNetwork net = Networks.mlp(DataType.DOUBLE, false, 1);
        EmaListener ema = EmaListener.builder(AveragingRule.seed()).everyEpoch().startingAfter(2).build();
        for (int e = 1; e <= 6; e++) {
            Snapshots.load(net, e);
            ema.onEpochEnd(net);
        }
        assertEquals(4, ema.snapshotCount());
        Snapshots.assertClose(seedClosedForm(3, 6, (int) net.numParams()), ema.averagedParams(net), DataType.DOUBLE);
    }

    @Test
    void freshSeedAveragerOnAPretrainedNetworkWeighsItsFirstSnapshotTwice() {
        MultiLayerNetwork net = Networks.mlp(DataType.DOUBLE, false, 1);
        net.setEpochCount(50);
        net.setIterationCount(5_000);
        EmaListener ema = EmaListener.seedRule().build();
        for (int e = 1; e <= 4; e++) {
            Snapshots.load(net, e);
            ema.onEpochEnd(net);
            net.incrementEpochCount();
        }
        // write-back: the network holds the average after every update, so re-derive what it averaged
        double[] expected = new double[(int) net.numParams()];
        double[] avg = theta(1, expected.length);
        for (int k = 2; k <= 4; k++) {
            double rho = k / (k + 1.0);
            double[] t = theta(k, expected.length);
            for (int j = 0; j < expected.length; j++) {
                avg[j] = rho * avg[j] + (1 - rho) * t[j];
            }
        }
        Snapshots.assertClose(seedClosedForm(1, 4, expected.length), Snapshots.asArray(avg), DataType.DOUBLE);
        Snapshots.assertClose(avg, ema.averagedParams(net), DataType.DOUBLE);
        assertEquals(4, ema.lastStep());
    }

    @Test
    void earlyStoppingResumedRunEqualsTheUninterruptedOne() throws Exception {
        MultiLayerNetwork straight = Networks.mlp(DataType.DOUBLE, false, 8);
        EmaListener straightSeed = EmaListener.seedRule().build();
        straight.addListeners(straightSeed);
        earlyStopping(straight, 4);

        MultiLayerNetwork first = Networks.mlp(DataType.DOUBLE, false, 8);
        EmaListener seed = EmaListener.seedRule().build();
        first.addListeners(seed);
        earlyStopping(first, 2);
        assertEquals(1, first.getEpochCount(), "the trainer set the network's count to its own 0-based counter");
        File file = dir.resolve("es.zip").toFile();
        EmaListener.save(first, file, seed);

        MultiLayerNetwork resumed = MultiLayerNetwork.load(file, true);
        EmaListener resumedSeed = EmaListener.restore(file, resumed);
        resumed.addListeners(resumedSeed);
        earlyStopping(resumed, 2);

        assertEquals(4, resumedSeed.snapshotCount());
        assertEquals(4, resumedSeed.lastStep());
        assertArrayEquals(values(straight.params()), values(resumed.params()), "weights (the written-back average)");
        assertArrayEquals(values(straightSeed.averagedParams(straight)), values(resumedSeed.averagedParams(resumed)));
    }

    private static void earlyStopping(MultiLayerNetwork net, int epochs) {
        EarlyStoppingConfiguration<MultiLayerNetwork> conf = new EarlyStoppingConfiguration.Builder<MultiLayerNetwork>()
                .epochTerminationConditions(new MaxEpochsTerminationCondition(epochs))
                .scoreCalculator(new DataSetLossCalculator(Networks.data(DataType.DOUBLE), true))
                .modelSaver(new InMemoryModelSaver<>())
                .build();
        EarlyStoppingResult<MultiLayerNetwork> result = new EarlyStoppingTrainer(conf, net,
                Networks.data(DataType.DOUBLE)).fit();
        assertEquals(epochs, result.getTotalEpochs());
    }
}
