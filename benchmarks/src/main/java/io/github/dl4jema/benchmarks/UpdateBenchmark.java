package io.github.dl4jema.benchmarks;

import io.github.dl4jema.EmaListener;
import io.github.dl4jema.NonFinitePolicy;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * One averaging update of N parameters, through the listener's public API, beside its floors and the seed-style
 * baseline, all on the same 62-tensor network-shaped workload ({@link Workloads#squareMlp}) in the same fork, on one
 * thread ({@code Environment.setMaxMasterThreads(1)}: the listener's kernel never uses more threads than that).
 *
 * <p>Floors: {@code copyFloor} is ND4J's {@code assign} of the flat vector (8N bytes); {@code javaFloorShadow} and
 * {@code javaFloorWriteBack} are one fused pass in plain Java over heap arrays, the least memory traffic an update can
 * have (12N and 16N bytes). {@code seedStyle} is the seed's formulation in
 * ND4J: per {@code paramTable()} key {@code avg.mul(w).add(p.mul(1 - w))}, assigned into the average, then the
 * average assigned into the network; its garbage is collected after every call, off the clock.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 6, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xmx3g", "-Xms1g"})
public class UpdateBenchmark {

    private static final double DECAY = 0.999;

    /** Data type and approximate parameter count. */
    @Param({"FLOAT:100000", "FLOAT:1000000", "FLOAT:11700000", "FLOAT:25600000", "DOUBLE:11700000"})
    public String workload;

    private MultiLayerNetwork net;
    private INDArray params;
    private EmaListener listener;
    private INDArray copy;
    private float[] floatAverage;
    private float[] floatParams;
    private double[] doubleAverage;
    private double[] doubleParams;
    private INDArray seedAverage;
    private Map<String, INDArray> seedParamTable;
    private Map<String, INDArray> seedAverageTable;

    /**
     * Builds only what the benchmark in this fork uses, so that large workloads fit beside each other.
     *
     * @param benchmark JMH's description of the running benchmark
     */
    @Setup(Level.Trial)
    public void setUp(BenchmarkParams benchmark) {
        // one core, as the floors and the paired measurement's PyTorch reference
        Nd4j.getEnvironment().setMaxMasterThreads(1);
        String[] parts = workload.split(":");
        DataType type = DataType.valueOf(parts[0]);
        net = Workloads.squareMlp(type, Long.parseLong(parts[1]));
        params = net.params();
        int n = Math.toIntExact(params.length());
        String name = benchmark.getBenchmark();
        if (name.endsWith("emaShadow")) {
            listener = EmaListener.exponential(DECAY).build();
            listener.update(net);
        } else if (name.endsWith("emaShadowLowMemory")) {
            listener = EmaListener.exponential(DECAY).nonFinite(NonFinitePolicy.SKIP_LOW_MEMORY).build();
            listener.update(net);
        } else if (name.endsWith("emaWriteBack")) {
            listener = EmaListener.exponential(DECAY).writeBack().build();
            listener.update(net);
        } else if (name.endsWith("copyFloor")) {
            copy = params.dup();
        } else if (name.contains("javaFloor")) {
            if (type == DataType.FLOAT) {
                floatParams = params.toFloatVector();
                floatAverage = floatParams.clone();
            } else {
                doubleParams = params.toDoubleVector();
                doubleAverage = doubleParams.clone();
            }
        } else if (name.endsWith("seedStyle")) {
            seedAverage = params.dup();
            seedParamTable = net.paramTable();
            MultiLayerNetwork shadow = Workloads.squareMlp(type, Long.parseLong(parts[1]));
            shadow.setParams(seedAverage);
            seedAverage = shadow.params();
            seedAverageTable = shadow.paramTable();
        }
    }

    /** Releases the arrays of this fork's workload. */
    @TearDown(Level.Trial)
    public void tearDown() {
        net = null;
        params = null;
        copy = null;
        floatAverage = null;
        floatParams = null;
        doubleAverage = null;
        doubleParams = null;
    }

    /**
     * Collects the garbage of the seed-style baseline after each call, off the clock: without it, ND4J frees the
     * 12N bytes per call only when the heap fills, and the baseline spends most of its time in the allocator.
     */
    @State(Scope.Thread)
    public static class CollectAfterEachCall {
        /** Runs a full collection and lets ND4J's deallocator threads free the native buffers. */
        @TearDown(Level.Invocation)
        public void collect() {
            System.gc();
        }
    }

    /** @return the listener's update in shadow mode: {@code EmaListener.update(net)} */
    @Benchmark
    public boolean emaShadow() {
        return listener.update(net);
    }

    /**
     * @return the listener's update in shadow mode with the low-memory two-pass check
     *         ({@link NonFinitePolicy#SKIP_LOW_MEMORY})
     */
    @Benchmark
    public boolean emaShadowLowMemory() {
        return listener.update(net);
    }

    /** @return the listener's update in write-back mode: {@code EmaListener.update(net)} */
    @Benchmark
    public boolean emaWriteBack() {
        return listener.update(net);
    }

    /** @return ND4J {@code assign} of the flat parameter vector: 8N bytes */
    @Benchmark
    public INDArray copyFloor() {
        return copy.assign(params);
    }

    /** @return one fused plain-Java pass, shadow mode: reads both arrays, writes the average, 12N bytes */
    @Benchmark
    public Object javaFloorShadow() {
        if (floatAverage != null) {
            float keep = (float) DECAY;
            float take = (float) (1 - DECAY);
            float[] a = floatAverage;
            float[] p = floatParams;
            for (int i = 0; i < a.length; i++) {
                a[i] = keep * a[i] + take * p[i];
            }
            return a;
        }
        double[] a = doubleAverage;
        double[] p = doubleParams;
        for (int i = 0; i < a.length; i++) {
            a[i] = DECAY * a[i] + (1 - DECAY) * p[i];
        }
        return a;
    }

    /** @return one fused plain-Java pass, write-back mode: reads both arrays, writes both, 16N bytes */
    @Benchmark
    public Object javaFloorWriteBack() {
        if (floatAverage != null) {
            float keep = (float) DECAY;
            float take = (float) (1 - DECAY);
            float[] a = floatAverage;
            float[] p = floatParams;
            for (int i = 0; i < a.length; i++) {
                float v = keep * a[i] + take * p[i];
                a[i] = v;
                p[i] = v;
            }
            return a;
        }
        double[] a = doubleAverage;
        double[] p = doubleParams;
        for (int i = 0; i < a.length; i++) {
            double v = DECAY * a[i] + (1 - DECAY) * p[i];
            a[i] = v;
            p[i] = v;
        }
        return a;
    }

    /**
     * @param gc collects this call's garbage after it, off the clock
     * @return the seed's formulation: per key {@code avg.mul(w).add(p.mul(1 - w))} assigned into the average, then
     *         the average assigned into the network (write-back, as the seed's {@code load_state_dict})
     */
    @Benchmark
    public INDArray seedStyle(CollectAfterEachCall gc) {
        for (Map.Entry<String, INDArray> entry : seedParamTable.entrySet()) {
            INDArray average = seedAverageTable.get(entry.getKey());
            average.assign(average.mul(DECAY).add(entry.getValue().mul(1 - DECAY)));
        }
        return params.assign(seedAverage);
    }
}
