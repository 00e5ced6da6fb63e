package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

class ParameterSelectionTest {

    /** Writes a marker through each resolved range and checks it lands exactly in the selected keys' views. */
    private static void rangesCoverExactlyTheSelectedKeys(Model net, ParameterSelection selection,
                                                         java.util.Set<String> selected) {
        INDArray flat = net.params();
        flat.assign(0);
        long[] ranges = selection.resolve(net.paramTable(), flat);
        for (int i = 0; i < ranges.length; i += 2) {
            flat.get(NDArrayIndex.interval(ranges[i], ranges[i + 1])).assign(7);
        }
        for (Map.Entry<String, INDArray> entry : net.paramTable().entrySet()) {
            double expected = selected.contains(entry.getKey()) ? 7 * entry.getValue().length() : 0;
            assertEquals(expected, entry.getValue().sumNumber().doubleValue(), 0.0, entry.getKey());
        }
    }

    @Test
    void keysOfAMultiLayerNetworkResolveToTheirViews() {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, true, 1);
        rangesCoverExactlyTheSelectedKeys(net, ParameterSelection.keys("0_b", "1_mean", "2_W"),
                java.util.Set.of("0_b", "1_mean", "2_W"));
        rangesCoverExactlyTheSelectedKeys(net, ParameterSelection.allExceptBatchNormStatistics(),
                java.util.Set.of("0_W", "0_b", "1_gamma", "1_beta", "2_W", "2_b"));
        rangesCoverExactlyTheSelectedKeys(net, ParameterSelection.allExcept("0_W"),
                java.util.Set.of("0_b", "1_gamma", "1_beta", "1_mean", "1_log10stdev", "2_W", "2_b"));
    }

    @Test
    void layersOfAGraphResolveToTheirViews() {
        ComputationGraph graph = Networks.graph(DataType.DOUBLE, 1);
        rangesCoverExactlyTheSelectedKeys(graph, ParameterSelection.layers("b", "out"),
                java.util.Set.of("b_W", "b_b", "out_W", "out_b"));
    }

    @Test
    void adjacentKeysCoalesceIntoOneRange() {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 1);   // 0_W 48, 0_b 8, 1_W 24, 1_b 3
        assertArrayEquals(new long[] {0, 56}, ParameterSelection.keys("0_b", "0_W").resolve(net.paramTable(),
                net.params()));
        assertArrayEquals(new long[] {0, 48, 56, 83}, ParameterSelection.allExcept("0_b")
                .resolve(net.paramTable(), net.params()));
        assertArrayEquals(new long[] {0, 83}, ParameterSelection.all().resolve(net.paramTable(), net.params()));
    }

    @Test
    void printsWhatItSelectsInTheOrderGiven() {
        assertEquals("keys[0_W, 2_b, 1_W]", ParameterSelection.keys("0_W", "2_b", "1_W").toString());
        assertEquals("layers[dense, out]", ParameterSelection.layers("dense", "out").toString());
    }
}
