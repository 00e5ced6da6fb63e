package io.github.dl4jema;

import static io.github.dl4jema.Snapshots.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.optimize.listeners.Checkpoint;
import org.deeplearning4j.optimize.listeners.CheckpointListener;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * {@link AverageCheckpoints}: every checkpoint of DL4J's {@code CheckpointListener} carries the averagers' states,
 * taken with the weights saved in it whatever the order of the listeners, and a run resumed from a checkpoint
 * continues bit for bit like the uninterrupted one. The expected values are what the uninterrupted run held at the
 * moment of each checkpoint, read by a probe listener listed last.
 */
class CheckpointTest {

    @TempDir
    Path dir;

    /** A new directory for checkpoints (DL4J's CheckpointListener does not create it). */
    private File directory(String name) {
        File directory = dir.resolve(name).toFile();
        assertTrue(directory.mkdirs());
        return directory;
    }

    /** Records, at each epoch end and iteration, the training weights and each averager's averaged parameters. */
    private static final class Probe extends BaseTrainingListener {
        final EmaListener[] averagers;
        final List<double[][]> epochEnds = new ArrayList<>();
        final List<double[][]> iterations = new ArrayList<>();

        Probe(EmaListener... averagers) {
            this.averagers = averagers;
        }

        private double[][] read(Model model) {
            double[][] row = new double[averagers.length + 1][];
            row[0] = values(ModelSlot.of(model).copyOfTrainingWeights(model.params()));
            for (int i = 0; i < averagers.length; i++) {
                row[i + 1] = values(averagers[i].averagedParams(model));
            }
            return row;
        }

        @Override
        public void onEpochEnd(Model model) {
            epochEnds.add(read(model));
        }

        @Override
        public void iterationDone(Model model, int iteration, int epoch) {
            iterations.add(read(model));
        }
    }

    private static Model network(String kind) {
        return kind.equals("MLN") ? Networks.mlp(DataType.FLOAT, false, 21) : Networks.graph(DataType.FLOAT, 21);
    }

    private static Model load(String kind, File directory, int checkpoint) {
        return kind.equals("MLN") ? CheckpointListener.loadCheckpointMLN(directory, checkpoint)
                : CheckpointListener.loadCheckpointCG(directory, checkpoint);
    }

    private static void fit(Model model, int epochs) {
        if (model instanceof MultiLayerNetwork mln) {
            mln.fit(Networks.data(DataType.FLOAT), epochs);
        } else {
            ((ComputationGraph) model).fit(Networks.data(DataType.FLOAT), epochs);
        }
    }

    private static List<TrainingListener> ordered(boolean checkpointsFirst, AverageCheckpoints checkpoints,
                                                  List<EmaListener> averagers, Probe probe) {
        List<TrainingListener> listeners = new ArrayList<>();
        if (checkpointsFirst) {
            listeners.add(checkpoints);
        }
        listeners.addAll(averagers);
        if (!checkpointsFirst) {
            listeners.add(checkpoints);
        }
        if (probe != null) {
            listeners.add(probe);
        }
        return listeners;
    }

    @ParameterizedTest(name = "{0}, checkpoints listed first: {1}")
    @CsvSource({"MLN, true", "MLN, false", "CG, true", "CG, false"})
    void resumingFromTheThirdEpochsCheckpointContinuesLikeTheUninterruptedRun(String kind, boolean checkpointsFirst) {
        File first = directory("run");
        Model net = network(kind);
        EmaListener ema = EmaListener.exponential(0.9).scoreOnAverage().build();
        EmaListener seed = EmaListener.seedRule().build();
        Probe probe = new Probe(ema, seed);
        CheckpointListener checkpoints = new CheckpointListener.Builder(first).saveEveryEpoch().keepAll().build();
        net.setListeners(ordered(checkpointsFirst, AverageCheckpoints.of(checkpoints), List.of(ema, seed), probe));
        fit(net, 6);
        ema.restoreTrainingWeights(net);
        double[] finalWeights = values(net.params());

        Model resumed = load(kind, first, 2);
        double[][] atThirdEpoch = probe.epochEnds.get(2);
        assertArrayEquals(atThirdEpoch[0], values(resumed.params()),
                "the checkpoint holds the training weights of the end of epoch 3, not the swapped-in average");
        List<EmaListener> restored = assertRestoresAll(CheckpointListener.getFileForCheckpoint(first, 2), resumed,
                atThirdEpoch, "exponential-0.9", "seed");

        CheckpointListener again = new CheckpointListener.Builder(directory("resumed")).saveEveryEpoch()
                .build();
        resumed.setListeners(ordered(checkpointsFirst, AverageCheckpoints.of(again), restored, null));
        fit(resumed, 3);
        restored.get(0).restoreTrainingWeights(resumed);
        assertArrayEquals(finalWeights, values(resumed.params()), "training weights after 3 + 3 epochs");
        assertArrayEquals(values(ema.averagedParams(net)), values(restored.get(0).averagedParams(resumed)));
        assertArrayEquals(values(seed.averagedParams(net)), values(restored.get(1).averagedParams(resumed)));
    }

    @Test
    void aCheckpointAtAnIterationHoldsThatIterationsUpdateWhateverTheOrder() {
        File directory = directory("iterations");
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 5);
        EmaListener ema = EmaListener.exponential(0.8).build();
        Probe probe = new Probe(ema);
        CheckpointListener checkpoints = new CheckpointListener.Builder(directory).saveEveryNIterations(5).keepAll()
                .build();
        net.setListeners(AverageCheckpoints.of(checkpoints), ema, probe);
        net.fit(Networks.data(DataType.FLOAT), 3);

        List<Checkpoint> written = checkpoints.availableCheckpoints();
        assertEquals(2, written.size(), "12 iterations, a checkpoint at iterations 5 and 10 (0-based)");
        for (Checkpoint c : written) {
            File file = checkpoints.getFileForCheckpoint(c);
            MultiLayerNetwork loaded = CheckpointListener.loadCheckpointMLN(directory, c.getCheckpointNum());
            EmaListener restored = assertRestoresAll(file, loaded, probe.iterations.get(c.getIteration()),
                    "exponential-0.8").get(0);
            assertEquals(c.getIteration() + 1, restored.snapshotCount(),
                    "the update of the checkpoint's own iteration is in it");
        }
    }

    @Test
    void averagedModelsFollowTheCheckpointsKeepPolicyAndHandUpdatedAveragersAreSaved() throws Exception {
        File directory = directory("kept");
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 9);
        EmaListener sma = EmaListener.builder(AveragingRule.simple()).name("sma").build();
        EmaListener manual = EmaListener.builder(AveragingRule.simple()).name("manual").build();
        manual.update(net);
        Probe probe = new Probe(sma, manual);
        CheckpointListener checkpoints = new CheckpointListener.Builder(directory).saveEveryEpoch().keepLast(2)
                .build();
        net.setListeners(sma, AverageCheckpoints.of(checkpoints).withAveragedModels(), probe);
        net.fit(Networks.data(DataType.FLOAT), 4);

        List<String> files = Arrays.stream(directory.list()).sorted().toList();
        assertEquals(List.of("checkpointInfo.txt",
                "checkpoint_2_MultiLayerNetwork.zip", "checkpoint_2_average_manual_MultiLayerNetwork.zip",
                "checkpoint_2_average_sma_MultiLayerNetwork.zip",
                "checkpoint_3_MultiLayerNetwork.zip", "checkpoint_3_average_manual_MultiLayerNetwork.zip",
                "checkpoint_3_average_sma_MultiLayerNetwork.zip"), files);
        for (int c = 2; c <= 3; c++) {
            double[][] expected = probe.epochEnds.get(c);
            MultiLayerNetwork averaged = MultiLayerNetwork.load(AverageCheckpoints.averagedModelFile(directory, c,
                    "sma"), false);
            assertArrayEquals(expected[1], values(averaged.params()), "averaged model of checkpoint " + c);
            MultiLayerNetwork manualAveraged = MultiLayerNetwork.load(AverageCheckpoints.averagedModelFile(
                    directory, c, "manual"), false);
            assertArrayEquals(expected[2], values(manualAveraged.params()));
            assertRestoresAll(CheckpointListener.getFileForCheckpoint(directory, c),
                    CheckpointListener.loadCheckpointMLN(directory, c), expected, "sma", "manual");
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AverageCheckpoints.averagedModelFile(directory, 0, "sma"));
        assertTrue(e.getMessage().contains("checkpoint_3_average_sma_MultiLayerNetwork.zip"), e.getMessage());
        assertFalse(new File(directory, "checkpoint_0_average_sma_MultiLayerNetwork.zip").exists());
    }

    @Test
    void theWrappedCheckpointListenerBesideTheWrapperIsRefusedBeforeAnyCheckpoint() {
        File directory = directory("twice");
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 5);
        EmaListener ema = EmaListener.exponential(0.8).build();
        CheckpointListener checkpoints = new CheckpointListener.Builder(directory).saveEveryEpoch().build();
        net.setListeners(ema, checkpoints, AverageCheckpoints.of(checkpoints));
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> net.fit(Networks.data(DataType.FLOAT), 1));
        assertTrue(e.getMessage().contains("add AverageCheckpoints.of(checkpoints) in its place, not beside it"),
                e.getMessage());
        assertEquals(List.of(), checkpoints.availableCheckpoints());
    }

    /** Restores every averager from {@code file} and checks names and averaged parameters against {@code row}. */
    private static List<EmaListener> assertRestoresAll(File file, Model net, double[][] row, String... names) {
        List<EmaListener> restored;
        try {
            restored = EmaListener.restoreAll(file, net);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        assertEquals(List.of(names), restored.stream().map(EmaListener::name).toList());
        for (int i = 0; i < names.length; i++) {
            assertArrayEquals(row[i + 1], values(restored.get(i).averagedParams(net)), "the average of " + names[i]);
        }
        return restored;
    }
}
