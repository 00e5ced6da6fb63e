package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.deeplearning4j.nn.api.Model;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Hand-made parameter snapshots, their expected averages in double precision, and comparisons. */
final class Snapshots {

    private Snapshots() {
    }

    /** The k-th snapshot (k = 1, 2, ...): {@code θₖ[j] = sin(0.7k + 0.3j)·(1 + 0.1k)}. */
    static double[] theta(int k, int length) {
        double[] theta = new double[length];
        for (int j = 0; j < length; j++) {
            theta[j] = Math.sin(0.7 * k + 0.3 * j) * (1 + 0.1 * k);
        }
        return theta;
    }

    /** Puts snapshot k into the network. */
    static void load(Model net, int k) {
        INDArray params = net.params();
        net.setParams(Nd4j.create(theta(k, (int) params.length())).castTo(params.dataType()));
    }

    static INDArray asArray(double[] values) {
        return Nd4j.createFromArray(values);
    }

    static double[] values(INDArray array) {
        return array.castTo(DataType.DOUBLE).reshape(array.length()).toDoubleVector();
    }

    /** Asserts equality up to a relative tolerance suited to the data type. */
    static void assertClose(double[] expected, INDArray actual, DataType type) {
        double tolerance = type == DataType.DOUBLE ? 1e-12 : type == DataType.FLOAT ? 2e-6 : 2e-3;
        double[] got = values(actual);
        assertEquals(expected.length, got.length, "length");
        for (int j = 0; j < expected.length; j++) {
            assertEquals(expected[j], got[j], tolerance * Math.max(1.0, Math.abs(expected[j])), "element " + j);
        }
    }
}
