package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.misc.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.impl.FrozenVertex;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.transferlearning.FineTuneConfiguration;
import org.deeplearning4j.nn.transferlearning.TransferLearning;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * {@link ParameterSelection#trainable()} on networks built by DL4J's {@code TransferLearning}: the ranges it resolves
 * to, what training with it averages and writes, and that it survives a save and restore.
 */
class TrainableSelectionTest {

    /** The keys of the layers {@code setFeatureExtractor(1)} freezes in {@link #fineTunedMlp()}. */
    private static final Set<String> MLP_FROZEN = Set.of("0_W", "0_b", "1_gamma", "1_beta", "1_mean", "1_log10stdev");

    private static FineTuneConfiguration fineTune() {
        return new FineTuneConfiguration.Builder().updater(new Adam(0.05)).seed(7).build();
    }

    /**
     * A pretrained 6-8-(BN)-3 MLP with its dense and batch-norm layers frozen and a new 8-5-3 head, as in DL4J's
     * transfer-learning examples: layers 0 and 1 frozen, 2 and 3 trainable.
     */
    private static MultiLayerNetwork fineTunedMlp() {
        MultiLayerNetwork pretrained = Networks.mlp(DataType.FLOAT, true, 1);
        pretrained.fit(Networks.data(DataType.FLOAT), 2);
        return new TransferLearning.Builder(pretrained)
                .fineTuneConfiguration(fineTune())
                .setFeatureExtractor(1)
                .removeOutputLayer()
                .addLayer(new DenseLayer.Builder().nIn(8).nOut(5).activation(Activation.RELU).build())
                .addLayer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(5).nOut(Networks.CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .build();
    }

    /** {@link Networks#graph} with its layer {@code a} frozen ({@code in -> a} frozen; {@code b}, {@code out} not). */
    private static ComputationGraph fineTunedGraph(String frozenAt) {
        ComputationGraph pretrained = Networks.graph(DataType.FLOAT, 1);
        pretrained.fit(Networks.data(DataType.FLOAT), 1);
        return new TransferLearning.GraphBuilder(pretrained)
                .fineTuneConfiguration(fineTune())
                .setFeatureExtractor(frozenAt)
                .build();
    }

    /** Writes a marker through each resolved range and returns the keys whose views it filled entirely. */
    private static Set<String> keysCoveredBy(Model net, long[] ranges) {
        INDArray flat = net.params();
        INDArray saved = flat.dup();
        flat.assign(0);
        for (int i = 0; i < ranges.length; i += 2) {
            flat.get(NDArrayIndex.interval(ranges[i], ranges[i + 1])).assign(7);
        }
        Set<String> covered = new TreeSet<>();
        for (Map.Entry<String, INDArray> entry : net.paramTable().entrySet()) {
            double sum = entry.getValue().sumNumber().doubleValue();
            if (sum == 7.0 * entry.getValue().length()) {
                covered.add(entry.getKey());
            } else {
                assertEquals(0.0, sum, 0.0, entry.getKey() + " is partly covered");
            }
        }
        flat.assign(saved);
        return covered;
    }

    private static Set<String> keysExcept(Model net, Set<String> left) {
        Set<String> keys = new TreeSet<>(net.paramTable().keySet());
        keys.removeAll(left);
        return keys;
    }

    /** 1 for the elements of the flat buffer that belong to {@code keys}, 0 elsewhere. */
    private static boolean[] elementsOf(Model net, Set<String> keys) {
        boolean[] in = new boolean[(int) net.numParams()];
        for (String key : keys) {
            INDArray view = net.paramTable().get(key);
            long from = view.offset() - net.params().offset();
            for (long j = from; j < from + view.length(); j++) {
                in[(int) j] = true;
            }
        }
        return in;
    }

    @Test
    void featureExtractorOfAMultiLayerNetworkLeavesTheFrozenLayersOut() {
        MultiLayerNetwork net = fineTunedMlp();
        assertInstanceOf(FrozenLayer.class, net.getLayer(0));
        assertInstanceOf(FrozenLayer.class, net.getLayer(1));
        assertFalse(net.getLayer(2) instanceof FrozenLayer);

        long[] ranges = ParameterSelection.trainable().resolve(net);

        assertEquals(keysExcept(net, MLP_FROZEN), keysCoveredBy(net, ranges));
        assertEquals(Set.of("2_W", "2_b", "3_W", "3_b"), keysCoveredBy(net, ranges));
    }

    @Test
    void featureExtractorOfAGraphLeavesTheFrozenLayersOut() {
        ComputationGraph graph = fineTunedGraph("a");
        assertInstanceOf(FrozenLayer.class, graph.getLayer("a"));

        assertEquals(Set.of("b_W", "b_b", "out_W", "out_b"),
                keysCoveredBy(graph, ParameterSelection.trainable().resolve(graph)));
    }

    @Test
    void aFrozenMergeVertexFreezesEverythingBeforeIt() {
        ComputationGraph graph = fineTunedGraph("merge");
        // GraphBuilder puts the FrozenVertex into getVertices(), not into getVertex(name)'s map
        assertInstanceOf(FrozenVertex.class, List.of(graph.getVertices()).stream()
                .filter(v -> v.getVertexName().equals("merge")).findFirst().orElseThrow());
        assertInstanceOf(FrozenLayer.class, graph.getLayer("a"));
        assertInstanceOf(FrozenLayer.class, graph.getLayer("b"));

        assertEquals(Set.of("out_W", "out_b"), keysCoveredBy(graph, ParameterSelection.trainable().resolve(graph)));
    }

    @Test
    void frozenLayerWithBackpropIsLeftOut() {
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.FLOAT)
                .updater(new Adam(0.05)).list()
                .layer(new FrozenLayerWithBackprop(new DenseLayer.Builder().nIn(Networks.FEATURES).nOut(8)
                        .activation(Activation.TANH).build()))
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(8).nOut(Networks.CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();

        assertEquals(Set.of("1_W", "1_b"), keysCoveredBy(net, ParameterSelection.trainable().resolve(net)));
    }

    @Test
    void withoutFrozenLayersTrainableIsTheWholeBuffer() {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, true, 1);

        assertArrayEquals(new long[] {0, net.numParams()}, ParameterSelection.trainable().resolve(net));
    }

    @Test
    void aNetworkWithNothingTrainableIsRefusedAtTheFirstUpdate() {
        // DL4J refuses to freeze an output layer; a loss layer has no parameters
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder().seed(1).dataType(DataType.FLOAT).list()
                .layer(new org.deeplearning4j.nn.conf.layers.misc.FrozenLayer(new DenseLayer.Builder()
                        .nIn(Networks.FEATURES).nOut(Networks.CLASSES).build()))
                .layer(new LossLayer.Builder(LossFunctions.LossFunction.MCXENT).activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork frozen = new MultiLayerNetwork(conf);
        frozen.init();
        INDArray before = frozen.params().dup();
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).parameters(ParameterSelection.trainable())
                .build();

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ema.update(frozen));

        assertTrue(e.getMessage().contains("every layer with parameters is frozen"), e.getMessage());
        assertEquals(0, ema.snapshotCount());
        assertEquals(before, frozen.params());
    }

    @Test
    void trainableIsSavedAsTextAndReadBack() {
        ParameterSelection trainable = ParameterSelection.trainable();

        assertEquals(trainable, ParameterSelection.decode(trainable.encode()));
        assertEquals("trainable", trainable.toString());
        assertFalse(trainable.isAll());
    }

    @Test
    void averagedTrainableParametersAreTheMeanOfTheIterationsAndFrozenOnesTheNetworks() {
        MultiLayerNetwork net = fineTunedMlp();
        double[] frozenBefore = Snapshots.values(net.params());
        EmaListener sma = EmaListener.builder(AveragingRule.simple()).everyIteration()
                .parameters(ParameterSelection.trainable()).build();
        Recorder recorder = new Recorder();
        net.setListeners(sma, recorder);

        net.fit(Networks.data(DataType.FLOAT), 3);

        List<double[]> snapshots = recorder.iterationEnds;
        assertEquals(12, snapshots.size());
        boolean[] frozen = elementsOf(net, MLP_FROZEN);
        double[] now = Snapshots.values(net.params());
        double[] expected = new double[now.length];
        for (int j = 0; j < expected.length; j++) {
            if (frozen[j]) {
                expected[j] = now[j];
                assertEquals(frozenBefore[j], now[j], 0.0, "DL4J changed frozen element " + j);
            } else {
                for (double[] snapshot : snapshots) {
                    expected[j] += snapshot[j] / snapshots.size();
                }
            }
        }
        Snapshots.assertClose(expected, sma.averagedParams(net), DataType.FLOAT);
        assertTrue(Math.abs(expected[(int) net.numParams() - 1] - now[now.length - 1]) > 1e-6,
                "the trainable part moved, so the mean differs from the last weights");
    }

    @Test
    void averagedTrainableParametersOfAGraphAreTheMeanOfTheEpochs() {
        ComputationGraph graph = fineTunedGraph("a");
        EmaListener sma = EmaListener.builder(AveragingRule.simple()).parameters(ParameterSelection.trainable())
                .build();
        Recorder recorder = new Recorder();
        graph.setListeners(sma, recorder);

        graph.fit(Networks.data(DataType.FLOAT), 3);

        boolean[] frozen = elementsOf(graph, Set.of("a_W", "a_b"));
        double[] now = Snapshots.values(graph.params());
        double[] expected = new double[now.length];
        for (int j = 0; j < expected.length; j++) {
            if (frozen[j]) {
                expected[j] = now[j];
            } else {
                for (double[] snapshot : recorder.epochEnds) {
                    expected[j] += snapshot[j] / recorder.epochEnds.size();
                }
            }
        }
        Snapshots.assertClose(expected, sma.averagedParams(graph), DataType.FLOAT);
    }

    @Test
    void writeBackNeverWritesFrozenParameters() {
        MultiLayerNetwork net = fineTunedMlp();
        EmaListener sma = EmaListener.builder(AveragingRule.simple()).everyIteration().writeBack()
                .parameters(ParameterSelection.trainable()).build();
        net.setListeners(sma);
        net.fit(Networks.data(DataType.FLOAT));
        // a value no average holds: an update that wrote the frozen part would overwrite it
        net.getParam("0_W").addi(1.0);
        net.getParam("1_mean").addi(2.0);
        double[] marked = Snapshots.values(net.params());

        net.fit(Networks.data(DataType.FLOAT));

        double[] after = Snapshots.values(net.params());
        boolean[] frozen = elementsOf(net, MLP_FROZEN);
        double[] averaged = Snapshots.values(sma.averagedParams(net));
        for (int j = 0; j < after.length; j++) {
            if (frozen[j]) {
                assertEquals(marked[j], after[j], 0.0, "frozen element " + j + " was written");
            } else {
                assertEquals(averaged[j], after[j], 0.0, "write-back left trainable element " + j);
            }
        }
        assertEquals(8, sma.snapshotCount());
    }

    @Test
    void writeBackOfAllParametersDoesWriteTheFrozenOnes() {
        MultiLayerNetwork net = fineTunedMlp();
        EmaListener sma = EmaListener.builder(AveragingRule.simple()).everyIteration().writeBack().build();
        net.setListeners(sma);
        net.fit(Networks.data(DataType.FLOAT));
        double marked = net.getParam("0_W").getDouble(0) + 1.0;
        net.getParam("0_W").addi(1.0);

        net.fit(Networks.data(DataType.FLOAT));

        assertTrue(Math.abs(net.getParam("0_W").getDouble(0) - marked) > 0.1,
                "all() writes the stale average over the frozen layer: the contrast to trainable()");
    }

    @Test
    void trainableSelectionIsRestoredWithTheStateAndResolvesTheSame(@TempDir Path dir) throws Exception {
        MultiLayerNetwork net = fineTunedMlp();
        EmaListener ema = EmaListener.exponential(0.9).parameters(ParameterSelection.trainable()).build();
        net.setListeners(ema);
        net.fit(Networks.data(DataType.FLOAT), 2);
        File file = dir.resolve("fine-tuned.zip").toFile();

        EmaListener.save(net, file, ema);
        MultiLayerNetwork loaded = MultiLayerNetwork.load(file, true);
        EmaListener restored = EmaListener.restore(file, loaded);

        assertInstanceOf(FrozenLayer.class, loaded.getLayer(0));
        assertEquals(ParameterSelection.trainable(), restored.config().selection());
        assertArrayEquals(ParameterSelection.trainable().resolve(net), ParameterSelection.trainable().resolve(loaded));
        assertArrayEquals(Snapshots.values(ema.averagedParams(net)), Snapshots.values(restored.averagedParams(loaded)));
    }
}
