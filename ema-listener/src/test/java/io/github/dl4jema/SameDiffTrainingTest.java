package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.autodiff.listeners.Listener;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

/**
 * The averager on real {@code sd.fit} training: shadow mode leaves training bit for bit as without it; a run saved
 * after 3 epochs and resumed for 3 more equals 6 uninterrupted epochs bit for bit; swaps restore the training
 * weights exactly; the averaged copy carries the average.
 */
class SameDiffTrainingTest {

    @TempDir
    Path dir;

    private static SameDiffAverager[] shadows() {
        return new SameDiffAverager[] {
            SameDiffAverager.simpleMovingAverage().startingAfter(3).name("sma").build(),
            SameDiffAverager.exponential(0.9).name("ema").build(),
            SameDiffAverager.builder(AveragingRule.seed()).everyEpoch().shadow().name("seed").build()};
    }

    private void shadowAveragersLeaveTrainingBitForBit(Function<Long, SameDiff> graph, List<String> names,
                                                       Supplier<DataSetIterator> data) {
        SameDiff plain = graph.apply(21L);
        plain.fit(data.get(), 4);

        SameDiff averaged = graph.apply(21L);
        SameDiffAverager[] shadows = shadows();
        averaged.fit(data.get(), 2, shadows);
        try (AverageSwap swap = shadows[0].swapIn(averaged)) {
            averaged.output(Map.of("input", data.get().next().getFeatures()), "out");
        }
        shadows[1].averagedCopy(averaged);
        averaged.fit(data.get(), 2, shadows);

        assertArrayEquals(Graphs.bits(plain, names), Graphs.bits(averaged, names));
        assertEquals(4L * Graphs.BATCHES - 3, shadows[0].snapshotCount());
        assertEquals(4, shadows[2].snapshotCount());
    }

    @Test
    void shadowAveragersLeaveThePerceptronsTrainingBitForBit() {
        shadowAveragersLeaveTrainingBitForBit(seed -> Graphs.mlp(DataType.FLOAT, seed), Graphs.MLP_VARIABLES,
                () -> Graphs.data(DataType.FLOAT));
    }

    @Test
    void shadowAveragersLeaveTheConvolutionalGraphsTrainingBitForBit() {
        shadowAveragersLeaveTrainingBitForBit(Graphs::cnn, Graphs.CNN_VARIABLES, Graphs::images);
    }

    private void resumeEqualsUninterrupted(SameDiff straight, SameDiff first, List<String> names,
                                           Function<Void, DataSetIterator> data,
                                           Function<Void, SameDiffAverager[]> averagers) throws Exception {
        SameDiffAverager[] straightAveragers = averagers.apply(null);
        straight.fit(data.apply(null), 6, straightAveragers);

        SameDiffAverager[] firstAveragers = averagers.apply(null);
        first.fit(data.apply(null), 3, firstAveragers);
        File file = dir.resolve("graph.fb").toFile();
        SameDiffAverager.save(first, file, firstAveragers);

        SameDiff resumed = SameDiff.load(file, true);
        List<SameDiffAverager> resumedAveragers = SameDiffAverager.restoreAll(file, resumed);
        assertEquals(firstAveragers.length, resumedAveragers.size());
        resumed.fit(data.apply(null), 3, resumedAveragers.toArray(new Listener[0]));

        assertArrayEquals(Graphs.bits(straight, names), Graphs.bits(resumed, names), "weights");
        for (int i = 0; i < straightAveragers.length; i++) {
            SameDiffAverager expected = straightAveragers[i];
            SameDiffAverager actual = resumedAveragers.get(i);
            assertEquals(expected.name(), actual.name());
            assertArrayEquals(expected.state().average().data().asBytes(), actual.state().average().data().asBytes(),
                    "average of " + expected.name());
            assertEquals(expected.snapshotCount(), actual.snapshotCount());
            assertEquals(expected.lastStep(), actual.lastStep());
        }
    }

    @Test
    void threePlusThreeEpochsOfShadowAveragesEqualSixUninterruptedBitForBit() throws Exception {
        resumeEqualsUninterrupted(Graphs.mlp(DataType.FLOAT, 31), Graphs.mlp(DataType.FLOAT, 31), Graphs.MLP_VARIABLES,
                v -> Graphs.data(DataType.FLOAT), v -> new SameDiffAverager[] {
                    // the simple average starts in the second half, after 3 epochs of 4 iterations plus 2
                    SameDiffAverager.builder(AveragingRule.simple()).everyIteration().startingAfter(14).build(),
                    SameDiffAverager.exponential(0.8).build(),
                    SameDiffAverager.builder(AveragingRule.exponentialWithWarmup(0.95)).everyNEpochs(2)
                            .name("warm").build()});
    }

    @Test
    void threePlusThreeEpochsOfTheSeedWrittenBackEqualSixUninterruptedBitForBit() throws Exception {
        resumeEqualsUninterrupted(Graphs.mlp(DataType.DOUBLE, 32), Graphs.mlp(DataType.DOUBLE, 32),
                Graphs.MLP_VARIABLES, v -> Graphs.data(DataType.DOUBLE),
                v -> new SameDiffAverager[] {SameDiffAverager.seedRule().build()});
    }

    @Test
    void threePlusThreeEpochsOfTheConvolutionalGraphEqualSixUninterruptedBitForBit() throws Exception {
        resumeEqualsUninterrupted(Graphs.cnn(33), Graphs.cnn(33), Graphs.CNN_VARIABLES, v -> Graphs.images(),
                v -> new SameDiffAverager[] {SameDiffAverager.simpleMovingAverage().startingAfter(5).build()});
    }

    @Test
    void saveToBesideAGraphFileAndRestoreResumesTheCounts() throws Exception {
        SameDiff sd = Graphs.mlp(DataType.FLOAT, 34);
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).everyIteration().build();
        sd.fit(Graphs.data(DataType.FLOAT), 2, sma);
        File file = dir.resolve("plain.fb").toFile();
        sd.save(file, true);
        sma.saveTo(file);
        assertTrue(SameDiffAverager.stateFile(file).isFile());
        assertEquals(new File(file.getPath() + ".dl4j-ema.zip"), SameDiffAverager.stateFile(file));

        SameDiff loaded = SameDiff.load(file, true);
        SameDiffAverager back = SameDiffAverager.restore(file, loaded);
        assertEquals(sma.snapshotCount(), back.snapshotCount());
        assertEquals(sma.lastStep(), back.lastStep());
        assertEquals(sma.config(), back.config());
        assertArrayEquals(Graphs.flat(sma.averagedVariables(sd), Graphs.MLP_VARIABLES),
                Graphs.flat(back.averagedVariables(loaded), Graphs.MLP_VARIABLES));
    }

    @Test
    void aSwapPutsTheAverageInAndClosingRestoresTheTrainingWeightsBitForBit() {
        SameDiff sd = Graphs.mlp(DataType.FLOAT, 35);
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).everyIteration().name("sma").build();
        SameDiffAverager ema = SameDiffAverager.exponential(0.5).name("ema").build();
        sd.fit(Graphs.data(DataType.FLOAT), 2, sma, ema);
        byte[] training = Graphs.bits(sd, Graphs.MLP_VARIABLES);
        double[] smaAverage = Graphs.flat(sma.averagedVariables(sd), Graphs.MLP_VARIABLES);
        double[] emaAverage = Graphs.flat(ema.averagedVariables(sd), Graphs.MLP_VARIABLES);
        assertFalse(java.util.Arrays.equals(smaAverage, emaAverage));

        AverageSwap first = sma.swapIn(sd);
        assertArrayEquals(smaAverage, Graphs.flat(sd, Graphs.MLP_VARIABLES));
        AverageSwap second = ema.swapIn(sd);
        assertArrayEquals(emaAverage, Graphs.flat(sd, Graphs.MLP_VARIABLES));
        first.close();   // out of order: the later swap stays in
        assertArrayEquals(emaAverage, Graphs.flat(sd, Graphs.MLP_VARIABLES));
        assertTrue(ModelSlot.of(sd).holdsBackup());
        second.close();
        second.close();
        assertArrayEquals(training, Graphs.bits(sd, Graphs.MLP_VARIABLES));
        assertFalse(ModelSlot.of(sd).holdsBackup());
    }

    @Test
    void theAveragedCopyCarriesTheAverageAndScoresAsTheSwappedGraph() {
        SameDiff sd = Graphs.cnn(36);
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).everyIteration().build();
        sd.fit(Graphs.images(), 2, sma);
        byte[] training = Graphs.bits(sd, Graphs.CNN_VARIABLES);

        SameDiff copy = sma.averagedCopy(sd);
        assertNotSame(sd, copy);
        assertArrayEquals(training, Graphs.bits(sd, Graphs.CNN_VARIABLES), "the training graph is untouched");
        assertArrayEquals(Graphs.flat(sma.averagedVariables(sd), Graphs.CNN_VARIABLES),
                Graphs.flat(copy, Graphs.CNN_VARIABLES));
        assertTrue(copy.getListeners() == null || copy.getListeners().isEmpty());

        INDArray features = Graphs.images().next().getFeatures();
        INDArray fromCopy = copy.output(Map.of("input", features), "out").get("out");
        INDArray swapped;
        try (AverageSwap swap = sma.swapIn(sd)) {
            swapped = sd.output(Map.of("input", features), "out").get("out").dup();
        }
        assertArrayEquals(Snapshots.values(swapped), Snapshots.values(fromCopy));
    }

    @Test
    void aSingleMinibatchFitFiresIterationUpdatesOnly() {
        SameDiff sd = Graphs.mlp(DataType.FLOAT, 37);
        SameDiffAverager perIteration = SameDiffAverager.builder(AveragingRule.simple()).everyIteration()
                .name("iterations").build();
        SameDiffAverager perEpoch = SameDiffAverager.builder(AveragingRule.simple()).everyEpoch().name("epochs")
                .build();
        DataSetIterator data = Graphs.data(DataType.FLOAT);
        sd.fit(data.next(), perIteration, perEpoch);
        sd.fit(data.next(), perIteration, perEpoch);
        assertEquals(2, perIteration.snapshotCount());
        assertEquals(0, perEpoch.snapshotCount());
        assertNull(perEpoch.state().average());
    }

    @Test
    void theManualUpdateAveragesWhatTheGraphHoldsNow() {
        SameDiff sd = Graphs.mlp(DataType.DOUBLE, 38);
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).build();
        double[] first = Graphs.flat(sd, Graphs.MLP_VARIABLES);
        assertTrue(sma.update(sd));
        sd.fit(Graphs.data(DataType.DOUBLE), 1);
        double[] second = Graphs.flat(sd, Graphs.MLP_VARIABLES);
        assertTrue(sma.update(sd, 7));
        double[] mean = new double[first.length];
        for (int j = 0; j < mean.length; j++) {
            mean[j] = (first[j] + second[j]) / 2;
        }
        Snapshots.assertClose(mean, org.nd4j.linalg.factory.Nd4j.createFromArray(
                Graphs.flat(sma.averagedVariables(sd), Graphs.MLP_VARIABLES)), DataType.DOUBLE);
        assertEquals(7, sma.lastStep());
    }

    @Test
    void toStringPrintsTheConfigurationAndTheCount() {
        SameDiffAverager ema = SameDiffAverager.exponential(0.99).variables("w0").name("head").build();
        assertEquals("SameDiffAverager{name=head, rule=" + AveragingRule.exponential(0.99) + ", schedule=every "
                + "iteration, mode=SHADOW, parameters=keys[w0], nonFinite=SKIP, snapshots=0}", ema.toString());
    }
}
