package io.github.dl4jema;

import static io.github.dl4jema.Snapshots.assertClose;
import static io.github.dl4jema.Snapshots.theta;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Smoke test of the update on the CUDA backend ({@code mvn -Pcuda verify} on a machine with a CUDA 11.6 device):
 * the average computed on the GPU must match the same average computed on the host in double precision. Without
 * the CUDA backend or a device it is skipped by an assumption.
 */
class CudaBackendTest {

    private static boolean cudaBackendActive() {
        try {
            return Nd4j.getBackend().getClass().getName().equals("org.nd4j.linalg.jcublas.JCublasBackend");
        } catch (Throwable noBackend) {
            return false;
        }
    }

    @Test
    void averageOnTheGpuMatchesTheHostComputation() {
        assumeTrue(cudaBackendActive(), "the CUDA backend is not active (run with -Pcuda on a machine with a GPU)");
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, true, 1);
        int n = (int) net.numParams();
        EmaListener ema = EmaListener.builder(AveragingRule.exponential(0.75)).writeBack()
                .parameters(ParameterSelection.allExceptBatchNormStatistics()).build();
        double[] expected = null;
        for (int k = 1; k <= 5; k++) {
            Snapshots.load(net, k);
            ema.update(net);
            double[] th = theta(k, n);
            if (expected == null) {
                expected = th.clone();
            } else {
                for (int j = 0; j < n; j++) {
                    expected[j] = 0.75 * expected[j] + 0.25 * th[j];
                }
            }
        }
        double[] current = theta(5, n);
        long offset = 0;
        for (var entry : net.paramTable().entrySet()) {
            boolean statistic = entry.getKey().endsWith("_mean") || entry.getKey().endsWith("_log10stdev");
            for (long j = offset; j < offset + entry.getValue().length(); j++) {
                if (statistic) {
                    expected[(int) j] = current[(int) j];
                }
            }
            offset += entry.getValue().length();
        }
        assertClose(expected, ema.averagedParams(net), DataType.FLOAT);
        assertArrayEquals(Snapshots.values(ema.averagedParams(net)), Snapshots.values(net.params()),
                "write-back put the average into the network on the device");
    }
}
