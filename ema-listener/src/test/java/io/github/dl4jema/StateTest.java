package io.github.dl4jema;

import static io.github.dl4jema.Snapshots.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

/** Saving the state in DL4J's model zip and resuming gives the run that never stopped, bit for bit. */
class StateTest {

    @TempDir
    Path dir;

    private void resumeEqualsUninterrupted(EmaListener.Builder builder, DataType type) throws Exception {
        MultiLayerNetwork straight = Networks.mlp(type, true, 11);
        EmaListener straightEma = builder.build();
        straight.addListeners(straightEma);
        straight.fit(Networks.data(type), 6);

        MultiLayerNetwork first = Networks.mlp(type, true, 11);
        EmaListener firstEma = builder.build();
        first.addListeners(firstEma);
        first.fit(Networks.data(type), 3);
        File file = dir.resolve("model.zip").toFile();
        ModelSerializer.writeModel(first, file, true);
        firstEma.saveTo(file);

        MultiLayerNetwork resumed = MultiLayerNetwork.load(file, true);
        EmaListener resumedEma = EmaListener.restore(file, resumed);
        resumed.addListeners(resumedEma);
        resumed.fit(Networks.data(type), 3);

        assertArrayEquals(values(straight.params()), values(resumed.params()), "weights");
        assertArrayEquals(values(straightEma.averagedParams(straight)), values(resumedEma.averagedParams(resumed)),
                "average");
        assertEquals(straightEma.snapshotCount(), resumedEma.snapshotCount());
        assertEquals(straightEma.lastStep(), resumedEma.lastStep());
    }

    @Test
    void seedWriteBackResumedAfterThreeEpochsEqualsSixUninterruptedEpochs() throws Exception {
        resumeEqualsUninterrupted(EmaListener.seedRule(), DataType.DOUBLE);
    }

    @Test
    void perIterationShadowAverageResumedEqualsUninterrupted() throws Exception {
        resumeEqualsUninterrupted(EmaListener.builder(AveragingRule.exponentialWithWarmup(0.95)).everyIteration()
                .startingAfter(5), DataType.FLOAT);
    }

    @Test
    void twoAveragersSavedWithTheModelInOneZipBothResumeBitForBit() throws Exception {
        DataType type = DataType.FLOAT;
        ComputationGraph straight = Networks.graph(type, 5);
        EmaListener straightSma = EmaListener.simpleMovingAverage().startingAfter(2).build();
        EmaListener straightEma = EmaListener.exponential(0.8).build();
        straight.addListeners(straightSma, straightEma);
        straight.fit(Networks.data(type), 4);

        ComputationGraph first = Networks.graph(type, 5);
        EmaListener sma = EmaListener.simpleMovingAverage().startingAfter(2).build();
        EmaListener ema = EmaListener.exponential(0.8).build();
        first.addListeners(sma, ema);
        first.fit(Networks.data(type), 2);
        File file = dir.resolve("graph.zip").toFile();
        EmaListener.save(first, file, sma, ema);

        ComputationGraph resumed = ComputationGraph.load(file, true);
        List<EmaListener> restored = EmaListener.restoreAll(file, resumed);
        assertEquals(List.of("simple", "exponential-0.8"), restored.stream().map(EmaListener::name).toList());
        resumed.addListeners(restored.toArray(new EmaListener[0]));
        resumed.fit(Networks.data(type), 2);

        assertArrayEquals(values(straight.params()), values(resumed.params()), "weights");
        assertArrayEquals(values(straightSma.averagedParams(straight)),
                values(restored.get(0).averagedParams(resumed)), "simple average");
        assertArrayEquals(values(straightEma.averagedParams(straight)),
                values(restored.get(1).averagedParams(resumed)), "exponential average");
    }

    @Test
    void savingAgainReplacesTheStateAndKeepsOtherAveragersEntries() throws Exception {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 2);
        EmaListener sma = EmaListener.builder(AveragingRule.simple()).everyIteration().build();
        EmaListener ema = EmaListener.exponential(0.9).build();
        net.addListeners(sma, ema);
        net.fit(Networks.data(DataType.FLOAT), 1);
        File file = dir.resolve("twice.zip").toFile();
        ModelSerializer.writeModel(net, file, true);
        sma.saveTo(file);
        ema.saveTo(file);
        sma.saveTo(file);
        try (ZipFile zip = new ZipFile(file)) {
            List<String> names = Collections.list(zip.entries()).stream().map(ZipEntry::getName).toList();
            assertEquals(1, names.stream().filter(n -> n.equals("dl4j-ema/simple/state.properties")).count());
            assertTrue(names.contains("dl4j-ema/exponential-0.9/average.bin"), names.toString());
            assertTrue(names.contains("coefficients.bin"), names.toString());
        }
        MultiLayerNetwork loaded = MultiLayerNetwork.load(file, true);
        assertArrayEquals(values(net.params()), values(loaded.params()), "the model itself is intact");
        EmaListener back = EmaListener.restore(file, loaded, RestoreOptions.named("exponential-0.9"));
        assertArrayEquals(values(ema.averagedParams(net)), values(back.averagedParams(loaded)));
        assertEquals(4, back.snapshotCount());
    }

    @Test
    void restoringIntoAFreshNetworkOfTheSameShapeIsRefusedUnlessAskedFor() throws Exception {
        MultiLayerNetwork trained = Networks.mlp(DataType.FLOAT, true, 1);
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).build();
        trained.addListeners(ema);
        trained.fit(Networks.data(DataType.FLOAT), 2);
        File file = dir.resolve("trained.zip").toFile();
        EmaListener.save(trained, file, ema);

        MultiLayerNetwork fresh = Networks.mlp(DataType.FLOAT, true, 99);
        BadInputTest.assertMessage(assertThrows(IllegalArgumentException.class, () -> EmaListener.restore(file,
                        fresh)), "saved with other weights", "epoch 2", "this network is at epoch 0",
                "acceptOtherWeights");
        EmaListener moved = EmaListener.restore(file, fresh, RestoreOptions.defaults().acceptOtherWeights());
        assertEquals(2, moved.snapshotCount());
        assertArrayEquals(values(ema.averagedParams(trained)), values(moved.averagedParams(fresh)));
    }

    @Test
    void restoringIntoAnotherArchitectureWithTheSameParameterCountSaysWhatDiffers() throws Exception {
        // 6-8-3 with batch norm has 6*8+8 + 4*8 + 8*3+3 = 115 parameters; a graph with other keys is refused by key
        MultiLayerNetwork small = Networks.mlp(DataType.FLOAT, false, 1);
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).build();
        ema.update(small);
        File file = dir.resolve("small.zip").toFile();
        EmaListener.save(small, file, ema);

        ComputationGraph graph = Networks.graph(DataType.FLOAT, 1);
        BadInputTest.assertMessage(assertThrows(IllegalArgumentException.class,
                () -> EmaListener.restore(file, graph, RestoreOptions.defaults().acceptOtherWeights())),
                "does not fit", "key '0_W' missing here", "architecture it was saved with");
        MultiLayerNetwork doubles = Networks.mlp(DataType.DOUBLE, false, 1);
        BadInputTest.assertMessage(assertThrows(IllegalArgumentException.class,
                () -> EmaListener.restore(file, doubles, RestoreOptions.defaults().acceptOtherWeights())),
                "parameter type DOUBLE here, FLOAT in the state");
    }

    @Test
    void restoringIntoAnotherArchitectureOfExactlyTheSameParameterCountIsRefused() throws Exception {
        // 6-8-3: 6*8+8 + 8*3+3 = 83 parameters; 6-5-5-3: 6*5+5 + 5*5+5 + 5*3+3 = 83 parameters
        MultiLayerNetwork saved = Networks.mlp(DataType.FLOAT, false, 1);
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).build();
        ema.update(saved);
        File file = dir.resolve("83.zip").toFile();
        EmaListener.save(saved, file, ema);

        MultiLayerNetwork other = new MultiLayerNetwork(new NeuralNetConfiguration.Builder().seed(1)
                .dataType(DataType.FLOAT).list()
                .layer(new DenseLayer.Builder().nIn(Networks.FEATURES).nOut(5).build())
                .layer(new DenseLayer.Builder().nIn(5).nOut(5).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(5).nOut(Networks.CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .build());
        other.init();
        assertEquals(saved.params().length(), other.params().length(), "the same number of parameters");
        BadInputTest.assertMessage(assertThrows(IllegalArgumentException.class,
                () -> EmaListener.restore(file, other, RestoreOptions.defaults().acceptOtherWeights())),
                "does not fit", "key '0_W' has shape [6, 5] here, [6, 8] in the state", "key '2_W' not in the state");
    }

    @Test
    void aCustomRuleMustBeSuppliedAgainAtRestore() throws Exception {
        AveragingRule half = (averaged, step) -> 0.5;
        MultiLayerNetwork net = Networks.mlp(DataType.DOUBLE, false, 3);
        EmaListener ema = EmaListener.builder(half).name("halves").build();
        Snapshots.load(net, 1);
        ema.update(net);
        Snapshots.load(net, 2);
        ema.update(net);
        File file = dir.resolve("custom.zip").toFile();
        EmaListener.save(net, file, ema);

        BadInputTest.assertMessage(assertThrows(IllegalArgumentException.class, () -> EmaListener.restore(file, net)),
                "custom rule", "RestoreOptions.named(\"halves\").rule(yourRule)");
        EmaListener back = EmaListener.restore(file, net, RestoreOptions.named("halves").rule(half));
        Snapshots.load(net, 3);
        back.update(net);
        int n = (int) net.numParams();
        double[] t1 = Snapshots.theta(1, n);
        double[] t2 = Snapshots.theta(2, n);
        double[] t3 = Snapshots.theta(3, n);
        double[] expected = new double[n];
        for (int j = 0; j < n; j++) {
            expected[j] = 0.5 * (0.5 * t1[j] + 0.5 * t2[j]) + 0.5 * t3[j];
        }
        Snapshots.assertClose(expected, back.averagedParams(net), DataType.DOUBLE);
    }

    @Test
    void aFileWithSeveralStatesNeedsANameAndAPlainModelFileSaysHowToSave() throws Exception {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 3);
        EmaListener a = EmaListener.builder(AveragingRule.simple()).name("a").build();
        EmaListener b = EmaListener.builder(AveragingRule.simple()).name("b").build();
        a.update(net);
        b.update(net);
        File both = dir.resolve("both.zip").toFile();
        EmaListener.save(net, both, a, b);
        BadInputTest.assertMessage(assertThrows(IllegalArgumentException.class, () -> EmaListener.restore(both, net)),
                "2 averaging states [a, b]", "RestoreOptions.named");

        File plain = dir.resolve("plain.zip").toFile();
        ModelSerializer.writeModel(net, plain, false);
        BadInputTest.assertMessage(assertThrows(IllegalArgumentException.class, () -> EmaListener.restore(plain, net)),
                "holds no averaging state", "saveTo");
        BadInputTest.assertMessage(assertThrows(IllegalArgumentException.class,
                () -> EmaListener.restore(dir.resolve("missing.zip").toFile(), net)), "existing DL4J model zip");
    }

    @Test
    void aStateInTheOldJavaSerializedFormatIsRefusedWithoutDeserializingIt() throws Exception {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 3);
        File file = dir.resolve("old.zip").toFile();
        ModelSerializer.writeModel(net, file, false);
        File old = dir.resolve("old2.zip").toFile();
        ModelZip.rebuild(file, old, name -> false, zip -> {
            zip.putNextEntry(new ZipEntry(EmaState.LEGACY_ENTRY));
            zip.write(new byte[] {(byte) 0xAC, (byte) 0xED, 0, 5});   // a Java serialization stream header
            zip.closeEntry();
        });
        BadInputTest.assertMessage(assertThrows(IllegalArgumentException.class, () -> EmaListener.restore(old, net)),
                "format of dl4j-ema builds before 0.1.0", "no longer read", "averagedCopy");
    }

    @Test
    void savingAStateWhileAnAverageIsSwappedInIsRefusedAndWritesNothing() throws Exception {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 3);
        EmaListener ema = EmaListener.exponential(0.5).build();
        EmaListener other = EmaListener.builder(AveragingRule.simple()).build();
        Snapshots.load(net, 1);
        ema.update(net);
        other.update(net);
        Snapshots.load(net, 2);
        ema.update(net);
        File file = dir.resolve("swapped.zip").toFile();
        ModelSerializer.writeModel(net, file, true);
        byte[] before = Files.readAllBytes(file.toPath());
        try (AverageSwap swap = other.swapIn(net)) {
            BadInputTest.assertMessage(assertThrows(IllegalStateException.class, () -> ema.saveTo(file)),
                    "cannot save while the average", "Close the AverageSwap", "EmaListener.save(net, file");
        }
        assertArrayEquals(before, Files.readAllBytes(file.toPath()));
        ema.saveTo(file);
    }

    @Test
    void savingTheNetworkWhileAnAverageIsSwappedInWritesTheTrainingWeights() throws Exception {
        MultiLayerNetwork net = Networks.mlp(DataType.DOUBLE, false, 3);
        EmaListener ema = EmaListener.exponential(0.5).build();
        EmaListener other = EmaListener.builder(AveragingRule.simple()).name("other").build();
        int n = (int) net.params().length();
        Snapshots.load(net, 1);
        ema.update(net);
        other.update(net);
        Snapshots.load(net, 2);
        ema.update(net);
        other.update(net);
        double[] training = Snapshots.theta(2, n);
        double[] otherAverage = new double[n];
        for (int j = 0; j < n; j++) {
            otherAverage[j] = (Snapshots.theta(1, n)[j] + training[j]) / 2;
        }
        File file = dir.resolve("swapped-net.zip").toFile();
        try (AverageSwap swap = other.swapIn(net)) {
            EmaListener.save(net, file, ema, other);
            Snapshots.assertClose(otherAverage, net.params(), DataType.DOUBLE);
        }
        Snapshots.assertClose(training, net.params(), DataType.DOUBLE);
        MultiLayerNetwork loaded = MultiLayerNetwork.load(file, true);
        Snapshots.assertClose(training, loaded.params(), DataType.DOUBLE);
        List<EmaListener> restored = EmaListener.restoreAll(file, loaded);
        assertEquals(List.of("exponential-0.5", "other"), restored.stream().map(EmaListener::name).toList());
        Snapshots.assertClose(otherAverage, restored.get(1).averagedParams(loaded), DataType.DOUBLE);
    }

    @Test
    void stateIsACopyWithCountsTypeAndLayout() {
        ComputationGraph graph = Networks.graph(DataType.FLOAT, 4);
        EmaListener ema = EmaListener.builder(AveragingRule.exponential(0.75)).everyNIterations(2).writeBack()
                .parameters(ParameterSelection.layers("a", "out")).failOnNonFinite().build();
        graph.addListeners(ema);
        graph.fit(Networks.data(DataType.FLOAT), 2);

        EmaState state = ema.state();
        assertEquals(ema.config(), state.config());
        assertEquals(4, state.snapshots());
        assertEquals(8, state.lastStep());
        assertEquals(DataType.FLOAT, state.average().dataType());
        assertEquals(ParameterLayout.digest(graph.params()), state.weightsDigest());
        EmaListener restored = EmaListener.fromState(state, graph, false);
        assertArrayEquals(values(ema.averagedParams(graph)), values(restored.averagedParams(graph)));
        assertNull(EmaListener.simpleMovingAverage().build().state().average());
    }

    @Test
    void javaSerializationShipsNoAverageAndTheCopyFailsAtItsFirstEventWithTheRecipe() throws Exception {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 3);
        EmaListener ema = EmaListener.exponential(0.9).build();
        net.addListeners(ema);
        net.fit(Networks.data(DataType.FLOAT), 1);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(ema);
        }
        assertTrue(bytes.size() < 2_000, "no average on the wire (" + bytes.size() + " bytes)");
        Object copy;
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            copy = in.readObject();
        }
        assertInstanceOf(WorkerMisuse.class, copy);
        MultiLayerNetwork replica = net.clone();
        replica.setListeners((org.deeplearning4j.optimize.api.TrainingListener) copy);
        DataSetIterator data = Networks.data(DataType.FLOAT);
        BadInputTest.assertMessage(assertThrows(IllegalStateException.class, () -> replica.fit(data)),
                "shipped to a worker", "call ema.update(net) on the master (driver) network");
    }

    @Test
    void listenerPrintsItsConfiguration() {
        assertEquals("EmaListener{name=seed, rule=seed(k/(k+1)), schedule=every epoch, mode=WRITE_BACK, "
                + "parameters=all, nonFinite=SKIP, snapshots=0}", EmaListener.seedRule().build().toString());
        assertEquals("EmaListener{name=simple, rule=simple(n/(n+1)), schedule=every iteration after 98 iterations, "
                + "mode=SHADOW, parameters=allExceptBatchNormStatistics, nonFinite=FAIL, snapshots=0}",
                EmaListener.simpleMovingAverage().parameters(ParameterSelection.allExceptBatchNormStatistics())
                        .failOnNonFinite().build().toString());
    }
}
