package io.github.dl4jema;

import static io.github.dl4jema.BadInputTest.assertMessage;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Bad input gets a clear error that says what was wrong, what is allowed and what was given, and nothing changes:
 * the graph's variables and the average are exactly as before every rejected call.
 */
class SameDiffBadInputTest {

    private static final List<String> MLP = Graphs.MLP_VARIABLES;

    @TempDir
    Path dir;

    @AfterEach
    void noFaults() {
        ModelZip.writeThrough = out -> out;
    }

    /** A graph trained one epoch with the averager, which took 4 snapshots. */
    private static SameDiff trainedWith(SameDiffAverager averager) {
        SameDiff sd = Graphs.mlp(DataType.FLOAT, 41);
        sd.fit(Graphs.data(DataType.FLOAT), 1, averager);
        return sd;
    }

    private static byte[] averageBits(SameDiffAverager averager) {
        return averager.state().average().data().asBytes();
    }

    @Test
    void anAveragerOnASecondGraphRefusesItBeforeItTrains() {
        SameDiffAverager ema = SameDiffAverager.exponential(0.9).build();
        SameDiff first = trainedWith(ema);
        byte[] average = averageBits(ema);
        SameDiff second = Graphs.mlp(DataType.FLOAT, 42);
        byte[] untrained = Graphs.bits(second, MLP);

        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> second.fit(Graphs.data(DataType.FLOAT), 1, ema));
        assertMessage(e, "averages SameDiff@", "was called with another graph", "create a SameDiffAverager per graph",
                "Nothing was changed");
        assertArrayEquals(untrained, Graphs.bits(second, MLP), "the second graph did not train");
        assertArrayEquals(average, averageBits(ema));
        assertEquals(4, ema.snapshotCount());
        assertThrows(IllegalStateException.class, () -> ema.update(second));
        assertThrows(IllegalStateException.class, () -> ema.swapIn(second));
        assertThrows(IllegalStateException.class, () -> ema.averagedVariables(second));
        assertTrue(ema.update(first));
    }

    @Test
    void aVariableThatChangedShapeIsRefusedAndNothingChanges() {
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).everyIteration().writeBack().build();
        SameDiff sd = trainedWith(sma);
        byte[] average = averageBits(sma);
        sd.getVariable("w1").setArray(Nd4j.ones(DataType.FLOAT, Graphs.HIDDEN + 1, Graphs.CLASSES));
        byte[] weights = Graphs.bits(sd, MLP);

        IllegalStateException e = assertThrows(IllegalStateException.class, () -> sma.update(sd));
        assertMessage(e, "changed while averaging", "'w1' has shape [6, 3] here, [5, 3] in the state",
                "may not change shape or type", "Nothing was changed");
        assertArrayEquals(weights, Graphs.bits(sd, MLP), "write-back wrote nothing");
        assertArrayEquals(average, averageBits(sma));
        assertEquals(4, sma.snapshotCount());
    }

    @Test
    void aVariableThatChangedTypeIsRefused() {
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).build();
        SameDiff sd = Graphs.mlp(DataType.FLOAT, 43);
        sma.update(sd);
        sd.convertDataTypes(Map.of("b0", DataType.DOUBLE));
        assertMessage(assertThrows(IllegalStateException.class, () -> sma.update(sd)),
                "variable 'b0' is DOUBLE here, FLOAT in the average");
        assertEquals(1, sma.snapshotCount());
    }

    @Test
    void anArrayReplacedByOneOfTheSameShapeIsAveragedThroughItsNewView() {
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).build();
        SameDiff sd = Graphs.mlp(DataType.DOUBLE, 44);
        sma.update(sd);
        double[] first = Graphs.flat(sd, MLP);
        // a same-shape setArray copies into the array SameDiff holds; an F-order one replaces the array object
        INDArray replacement = Nd4j.ones(DataType.DOUBLE, Graphs.FEATURES, Graphs.HIDDEN).dup('f');
        sd.getVariable("w0").setArray(replacement);
        INDArray held = sd.getArrForVarName("w0");
        assertMessage(assertThrows(IllegalStateException.class, () -> sma.update(sd)),
                "variable 'w0' holds an array that is not contiguous in C order", "setArray(array.dup('c'))",
                "(got: order f, shape [6, 5], stride [1, 6])");
        assertEquals(1, sma.snapshotCount());

        sd.getVariable("w0").setArray(Nd4j.ones(DataType.DOUBLE, 1, Graphs.FEATURES * Graphs.HIDDEN)
                .reshape(Graphs.FEATURES, Graphs.HIDDEN).dup('c'));
        assertNotSame(held, sd.getArrForVarName("w0"), "SameDiff replaced the array object again");
        assertTrue(sma.update(sd));
        double[] second = Graphs.flat(sd, MLP);
        double[] mean = new double[first.length];
        for (int j = 0; j < mean.length; j++) {
            mean[j] = (first[j] + second[j]) / 2;
        }
        assertArrayEquals(mean, Graphs.flat(sma.averagedVariables(sd), MLP), 1e-15);
    }

    @Test
    void aNonFiniteUpdateUnderFailThrowsAndChangesNothing() {
        SameDiffAverager seed = SameDiffAverager.builder(AveragingRule.seed()).writeBack().failOnNonFinite().build();
        SameDiff sd = Graphs.mlp(DataType.FLOAT, 45);
        seed.update(sd);
        sd.fit(Graphs.data(DataType.FLOAT), 1);
        sd.getArrForVarName("w1").putScalar(2, Double.NaN);
        sd.getArrForVarName("b0").putScalar(0, Double.POSITIVE_INFINITY);
        byte[] weights = Graphs.bits(sd, MLP);
        byte[] average = averageBits(seed);

        NonFiniteParametersException e = assertThrows(NonFiniteParametersException.class, () -> seed.update(sd));
        assertMessage(e, "2 NaN or infinite parameter value(s) at step 2", "unchanged", "NonFinitePolicy.SKIP");
        assertArrayEquals(weights, Graphs.bits(sd, MLP));
        assertArrayEquals(average, averageBits(seed));
        assertEquals(1, seed.snapshotCount());
    }

    @Test
    void aNonFiniteUpdateUnderSkipIsCountedAndChangesNothing() {
        SameDiffAverager ema = SameDiffAverager.exponential(0.5).build();
        SameDiff sd = trainedWith(ema);
        byte[] average = averageBits(ema);
        sd.getArrForVarName("w0").putScalar(0, Double.NaN);
        assertFalse(ema.update(sd));
        assertEquals(1, ema.skippedUpdates());
        assertEquals(4, ema.snapshotCount());
        assertArrayEquals(average, averageBits(ema));
    }

    @Test
    void attachedTwiceIsRefusedBeforeTheFirstIterationTrains() {
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).everyIteration().build();
        SameDiff sd = Graphs.mlp(DataType.FLOAT, 46);
        byte[] untrained = Graphs.bits(sd, MLP);
        sd.addListeners(sma);
        assertMessage(assertThrows(IllegalStateException.class, () -> sd.fit(Graphs.data(DataType.FLOAT), 1, sma)),
                "called twice for one iteration", "attached twice", "Attach it once", "(got: iteration 0)");
        assertArrayEquals(untrained, Graphs.bits(sd, MLP));
        assertEquals(0, sma.snapshotCount());
    }

    @Test
    void trainingWhileASwapIsOpenIsRefusedBeforeItTrains() {
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).everyIteration().build();
        SameDiff sd = trainedWith(sma);
        byte[] training = Graphs.bits(sd, MLP);
        try (AverageSwap swap = sma.swapIn(sd)) {
            byte[] swapped = Graphs.bits(sd, MLP);
            assertMessage(assertThrows(IllegalStateException.class,
                    () -> sd.fit(Graphs.data(DataType.FLOAT), 1, sma)), "cannot update", "is swapped into the graph",
                    "Close every AverageSwap");
            assertMessage(assertThrows(IllegalStateException.class, () -> sd.fit(Graphs.data(DataType.FLOAT).next(),
                    sma)), "cannot update");
            assertArrayEquals(swapped, Graphs.bits(sd, MLP), "nothing trained");
            File file = dir.resolve("swapped.fb").toFile();
            assertMessage(assertThrows(IllegalStateException.class, () -> SameDiffAverager.save(sd, file, sma)),
                    "cannot save while the average", "nothing was written");
            assertFalse(file.exists());
        }
        assertArrayEquals(training, Graphs.bits(sd, MLP));
        assertEquals(4, sma.snapshotCount());
    }

    @Test
    void selectionsThatDoNotFitTheGraphAreRefusedWithItsTrainableVariables() {
        SameDiff sd = Graphs.mlp(DataType.FLOAT, 47);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager
                        .builder(AveragingRule.simple()).variables("w0", "nope").build().update(sd)),
                "names [nope]", "[b0, b1, w0, w1]");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager
                        .builder(AveragingRule.simple()).variables("scale").build().update(sd)),
                "names [scale]", "trainable variables");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager
                        .builder(AveragingRule.simple()).variables(ParameterSelection.allExcept("b0", "b1", "w0", "w1"))
                        .build().update(sd)), "selects none");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager
                        .builder(AveragingRule.simple()).variables(ParameterSelection.layers("0"))),
                "selected by name", "(got: layers[0])");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager
                        .builder(AveragingRule.simple()).variables(ParameterSelection.allExceptBatchNormStatistics())),
                "(got: allExceptBatchNormStatistics)");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager
                .builder(AveragingRule.simple()).variables((ParameterSelection) null)), "(got: null)");
    }

    @Test
    void graphsWithoutTrainableVariablesOrWithMixedTypesAreRefused() {
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).build();
        assertMessage(assertThrows(IllegalArgumentException.class, () -> sma.update(null)), "(got: null)");
        SameDiff constants = SameDiff.create();
        constants.constant("c", Nd4j.ones(DataType.FLOAT, 3));
        assertMessage(assertThrows(IllegalStateException.class, () -> sma.update(constants)),
                "has no trainable variable", "sd.var(...)");
        SameDiff mixed = SameDiff.create();
        mixed.var("a", Nd4j.ones(DataType.FLOAT, 3));
        mixed.var("b", Nd4j.ones(DataType.DOUBLE, 3));
        assertMessage(assertThrows(IllegalArgumentException.class, () -> sma.update(mixed)),
                "should share one floating-point type", "(got: {DOUBLE=[b], FLOAT=[a]})");
        assertEquals(0, sma.snapshotCount());
        assertTrue(sma.update(Graphs.mlp(DataType.FLOAT, 48)), "the refusals left it unbound");
    }

    @Test
    void builderAndManualUpdateValidateTheirArguments() {
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager.builder(null)),
                "(got: null)");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager.exponential(1.0)),
                "(got: 1.0)");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager
                .builder(AveragingRule.simple()).everyIteration().startingAfter(10).everyEpoch()),
                "a start keeps its unit");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager
                .builder(AveragingRule.simple()).name("two words")), "(got: 'two words')");
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).build();
        assertMessage(assertThrows(IllegalArgumentException.class, () -> sma.update(Graphs.mlp(DataType.FLOAT, 49),
                0)), "step should be >= 1 (got: 0)");
        assertEquals(0, sma.snapshotCount());
    }

    @Test
    void twoAveragersWithOneNameOnOneGraphAreRefused() {
        SameDiff sd = Graphs.mlp(DataType.FLOAT, 50);
        SameDiffAverager.builder(AveragingRule.simple()).build().update(sd);
        SameDiffAverager twin = SameDiffAverager.builder(AveragingRule.simple()).build();
        assertMessage(assertThrows(IllegalStateException.class, () -> twin.update(sd)),
                "both named 'simple'", "SameDiffAverager.Builder.name");
    }

    @Test
    void aStateIsRestoredOnlyIntoTheGraphItBelongsTo() throws Exception {
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).everyIteration().build();
        SameDiff sd = trainedWith(sma);
        File file = dir.resolve("graph.fb").toFile();
        SameDiffAverager.save(sd, file, sma);

        SameDiff otherWeights = Graphs.mlp(DataType.FLOAT, 41);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager.restore(file,
                otherWeights)), "was saved with other weights", "epoch 1, iteration 4", "epoch 0, iteration 0",
                "acceptOtherWeights()");
        SameDiffAverager moved = SameDiffAverager.restore(file, otherWeights,
                RestoreOptions.defaults().acceptOtherWeights());
        assertEquals(4, moved.snapshotCount());

        SameDiff doubles = Graphs.mlp(DataType.DOUBLE, 41);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager.restore(file, doubles,
                RestoreOptions.defaults().acceptOtherWeights())), "does not fit", "parameter type DOUBLE here, FLOAT");
        SameDiff fewer = SameDiff.create();
        fewer.var("w0", Nd4j.ones(DataType.FLOAT, Graphs.FEATURES, Graphs.HIDDEN));
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager.restore(file, fewer,
                RestoreOptions.defaults().acceptOtherWeights())), "does not fit", "'b0' missing here");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager.restore(
                dir.resolve("missing.fb").toFile(), sd)), "(got: " + dir.resolve("missing.fb") + ")");
        File bare = dir.resolve("bare.fb").toFile();
        sd.save(bare, true);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager.restore(bare, sd)),
                "no averaging state beside", "bare.fb.dl4j-ema.zip", "(got: no such file)");
        assertTrue(SameDiffAverager.restoreAll(bare, sd).isEmpty());
    }

    @Test
    void severalStatesNeedANameAndACustomRuleMustBeGivenAgain() throws Exception {
        AveragingRule halves = (averaged, step) -> 0.5;
        SameDiffAverager custom = SameDiffAverager.builder(halves).everyIteration().name("halves").build();
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).everyIteration().build();
        SameDiff sd = Graphs.mlp(DataType.FLOAT, 51);
        sd.fit(Graphs.data(DataType.FLOAT), 1, custom, sma);
        File file = dir.resolve("two.fb").toFile();
        SameDiffAverager.save(sd, file, custom, sma);

        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager.restore(file, sd)),
                "holds 2 averaging states [halves, simple]", "RestoreOptions.named(name)");
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager.restore(file, sd,
                RestoreOptions.named("halves"))), "custom rule", "RestoreOptions.named(\"halves\").rule(yourRule)");
        SameDiffAverager back = SameDiffAverager.restore(file, sd, RestoreOptions.named("halves").rule(halves));
        assertArrayEquals(averageBits(custom), averageBits(back));
        assertEquals(4, SameDiffAverager.restore(file, sd, RestoreOptions.named("simple")).snapshotCount());
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager.save(sd, file, sma,
                SameDiffAverager.builder(AveragingRule.seed()).name("simple").build())), "a second averager named "
                + "'simple'");
    }

    @Test
    void aNetworksStateIsNotAGraphsState() {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 1);
        EmaListener layers = EmaListener.builder(AveragingRule.simple()).parameters(ParameterSelection.layers("0"))
                .build();
        layers.update(net);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager.fromState(layers.state(),
                Graphs.mlp(DataType.FLOAT, 52), true)), "a DL4J network's parameters", "EmaListener.restore");
        EmaListener all = EmaListener.builder(AveragingRule.simple()).name("all").build();
        all.update(net);
        assertMessage(assertThrows(IllegalArgumentException.class, () -> SameDiffAverager.fromState(all.state(),
                Graphs.mlp(DataType.FLOAT, 52), true)), "does not fit", "key '0_W' missing here");
    }

    @Test
    void aFailedStateWriteLeavesTheOldStateFile() throws Exception {
        SameDiffAverager sma = SameDiffAverager.builder(AveragingRule.simple()).everyIteration().build();
        SameDiff sd = trainedWith(sma);
        File file = dir.resolve("graph.fb").toFile();
        SameDiffAverager.save(sd, file, sma);
        File states = SameDiffAverager.stateFile(file);
        byte[] before = Files.readAllBytes(states.toPath());
        sd.fit(Graphs.data(DataType.FLOAT), 1, sma);
        ModelZip.writeThrough = out -> new java.io.FilterOutputStream(out) {
            @Override
            public void write(int b) throws java.io.IOException {
                throw new java.io.IOException("No space left on device (injected)");
            }

            @Override
            public void write(byte[] b, int off, int len) throws java.io.IOException {
                throw new java.io.IOException("No space left on device (injected)");
            }
        };
        assertThrows(java.io.IOException.class, () -> sma.saveTo(file));
        assertArrayEquals(before, Files.readAllBytes(states.toPath()));
        try (var list = Files.list(dir)) {
            assertEquals(List.of("graph.fb", "graph.fb.dl4j-ema.zip"), list.map(p -> p.getFileName().toString())
                    .sorted().toList(), "no temporary file left");
        }
        assertMessage(assertThrows(IllegalArgumentException.class, () -> sma.saveTo(dir.resolve("none.fb").toFile())),
                "existing file written by sd.save(file, true)", "none.fb)");
    }
}
