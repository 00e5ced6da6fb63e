package io.github.dl4jema;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class BlendKernelTest {

    /** Crosses several of HostBlend's blocks and ends in a partial one. */
    private static final int LENGTH = 3 * HostBlend.BLOCK + 17;
    private static final int OFFSET = 1001;
    private static final int TAIL = 29;
    private static final double DECAY = 0.93;

    /**
     * The test switch really routes: {@link PortablePathTest} runs this class again with it set. Only the portable
     * ND4J path needs a scratch vector, so without one a blend fails there and runs on the host.
     */
    @Test
    void theTestSwitchDecidesWhichPathBlends() {
        INDArray[] average = {Nd4j.zeros(DataType.FLOAT, 16)};
        INDArray[] snapshot = {Nd4j.ones(DataType.FLOAT, 16)};
        assertEquals(BlendKernel.portableOnly, BlendKernel.needsScratch(DataType.FLOAT));
        assertEquals(!BlendKernel.portableOnly, BlendKernel.onHost(DataType.FLOAT));
        if (BlendKernel.portableOnly) {
            assertThrows(RuntimeException.class, () -> BlendKernel.blend(average, snapshot, null, 0.5, null));
        } else {
            BlendKernel.blend(average, snapshot, null, 0.5, null);
            assertEquals(0.5, average[0].getDouble(15), 0.0);
        }
    }

    @Test
    void shadowBlendOfAnOffsetFloatViewMatchesDoublePrecisionHandComputation() {
        checkAgainstHandComputation(DataType.FLOAT, false, 1e-6);
    }

    @Test
    void writeBackBlendOfAnOffsetFloatViewMatchesHandComputation() {
        checkAgainstHandComputation(DataType.FLOAT, true, 1e-6);
    }

    @Test
    void shadowBlendOfAnOffsetDoubleViewMatchesHandComputation() {
        checkAgainstHandComputation(DataType.DOUBLE, false, 1e-14);
    }

    @Test
    void writeBackBlendOfAnOffsetDoubleViewMatchesHandComputation() {
        checkAgainstHandComputation(DataType.DOUBLE, true, 1e-14);
    }

    @Test
    void stridedArraysTakeTheNd4jPathAndGiveTheSameBlend() {
        Random random = new Random(3);
        double[][] a = randomMatrix(random, 50, 4);
        double[][] p = randomMatrix(random, 50, 4);
        INDArray average = Nd4j.create(a).castTo(DataType.FLOAT).getColumn(2);
        INDArray params = Nd4j.create(p).castTo(DataType.FLOAT).getColumn(2);
        BlendKernel.blend(new INDArray[] {average}, new INDArray[] {params},
                new INDArray[] {Nd4j.createUninitialized(DataType.FLOAT, 50)}, 1 - DECAY, null);
        for (int i = 0; i < 50; i++) {
            assertEquals(DECAY * a[i][2] + (1 - DECAY) * p[i][2], average.getDouble(i), 1e-6);
        }
    }

    @Test
    void countNonFiniteIsZeroForFiniteValuesAndCountsNanAndInfinityInAView() {
        for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
            INDArray flat = Nd4j.rand(type, OFFSET + LENGTH + TAIL).subi(0.5);
            INDArray view = flat.get(NDArrayIndex.interval(OFFSET, OFFSET + LENGTH));
            assertEquals(0, count(view));
            flat.putScalar(OFFSET - 1, Double.NaN);
            flat.putScalar(OFFSET + LENGTH, Double.POSITIVE_INFINITY);
            assertEquals(0, count(view), "values outside the view are not counted");
            view.putScalar(0, Double.NaN);
            view.putScalar(LENGTH - 1, Double.NEGATIVE_INFINITY);
            view.putScalar(HostBlend.BLOCK + 5, Double.POSITIVE_INFINITY);
            assertEquals(3, count(view), type.toString());
        }
    }

    @Test
    void infinityFacingZeroOrItsOwnNegativeAndALoneLastElementOfAnOddLengthAreCounted() {
        for (DataType type : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
            int n = 2 * HostBlend.BLOCK + 7;
            INDArray values = Nd4j.zeros(type, n);
            values.putScalar(3, Double.POSITIVE_INFINITY);
            assertEquals(1, count(values), "infinity against a zero of the other half");
            values.putScalar(n / 2 + 3, 1.0);
            values.putScalar(n / 2 + 4, Double.NEGATIVE_INFINITY);
            values.putScalar(4, 1.0);
            assertEquals(2, count(values), "opposite infinities in different products");
            INDArray odd = Nd4j.ones(type, n);
            assertEquals(0, count(odd));
            odd.putScalar(n - 1, Double.NaN);
            assertEquals(1, count(odd), "the element without a partner in the other half");
        }
    }

    @Test
    void hugeFiniteValuesWhoseProductsOverflowAreNotCountedAsNonFinite() {
        INDArray values = Nd4j.valueArrayOf(new long[] {4}, 3e38f, DataType.FLOAT);
        assertEquals(0, count(values));
    }

    @Test
    void updatesInSteadyStateAllocateNoOffHeapMemory() throws InterruptedException {
        for (boolean writeBack : new boolean[] {false, true}) {
            MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, true, 7);
            EmaListener.Builder builder = EmaListener.exponential(0.9);
            EmaListener ema = (writeBack ? builder.writeBack() : builder).build();
            for (int i = 0; i < 5; i++) {
                ema.update(net);
            }
            assertEquals(0, offHeapBytesAllocatedBy(() -> {
                for (int i = 0; i < 50; i++) {
                    ema.update(net);
                }
            }), writeBack ? "write-back" : "shadow");
        }
    }

    /**
     * Bytes that libnd4j counts as allocated on the host while {@code work} runs. ND4J frees buffers only after the
     * JVM collects their arrays, so garbage from earlier code can make the count drop during a window; a window
     * that shows exactly zero is proof of no allocation (allocations can only raise it), so up to three are tried.
     */
    private static long offHeapBytesAllocatedBy(Runnable work) throws InterruptedException {
        long delta = 0;
        for (int attempt = 0; attempt < 3; attempt++) {
            System.gc();
            Thread.sleep(200);
            long before = Nd4j.getEnvironment().getDeviceCouner(0);
            work.run();
            delta = Nd4j.getEnvironment().getDeviceCouner(0) - before;
            if (delta == 0) {
                return 0;
            }
        }
        return delta;
    }

    private static void checkAgainstHandComputation(DataType type, boolean writeBack, double tolerance) {
        Random random = new Random(type.ordinal() * 2L + (writeBack ? 1 : 0));
        int total = OFFSET + LENGTH + TAIL;
        double[] a = randomVector(random, total);
        double[] p = randomVector(random, total);
        INDArray averageFlat = Nd4j.createFromArray(a).castTo(type);
        INDArray paramsFlat = Nd4j.createFromArray(p).castTo(type);
        // read back what the typed arrays hold, so that rounding to float is not counted as error
        double[] a0 = averageFlat.toDoubleVector();
        double[] p0 = paramsFlat.toDoubleVector();
        INDArray average = averageFlat.get(NDArrayIndex.interval(OFFSET, OFFSET + LENGTH));
        INDArray params = paramsFlat.get(NDArrayIndex.interval(OFFSET, OFFSET + LENGTH));
        assertTrue(average.offset() > 0 && params.offset() > 0, "views with an offset");

        INDArray[] scratch = BlendKernel.needsScratch(type) ? new INDArray[] {Nd4j.createUninitialized(type, LENGTH)}
                : null;
        BlendKernel.blend(new INDArray[] {average}, new INDArray[] {params}, scratch, 1 - DECAY,
                writeBack ? new INDArray[] {params} : null);

        double[] a1 = averageFlat.toDoubleVector();
        double[] p1 = paramsFlat.toDoubleVector();
        for (int i = 0; i < total; i++) {
            boolean inside = i >= OFFSET && i < OFFSET + LENGTH;
            double expected = inside ? DECAY * a0[i] + (1 - DECAY) * p0[i] : a0[i];
            assertEquals(expected, a1[i], tolerance, "average[" + i + "]");
            if (writeBack && inside) {
                assertEquals(a1[i], p1[i], 0.0, "params[" + i + "] equals the average bitwise");
            } else {
                assertEquals(p0[i], p1[i], 0.0, "params[" + i + "] untouched");
            }
        }
    }

    private static long count(INDArray values) {
        return BlendKernel.countNonFinite(new INDArray[] {values});
    }

    private static double[] randomVector(Random random, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = random.nextGaussian();
        }
        return v;
    }

    private static double[][] randomMatrix(Random random, int rows, int columns) {
        double[][] m = new double[rows][];
        for (int r = 0; r < rows; r++) {
            m[r] = randomVector(random, columns);
        }
        return m;
    }
}
