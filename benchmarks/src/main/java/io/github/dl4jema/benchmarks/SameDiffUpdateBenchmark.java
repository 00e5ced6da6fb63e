package io.github.dl4jema.benchmarks;

import io.github.dl4jema.SameDiffAverager;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
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

/**
 * The kernel choice for SameDiff graphs, whose variables are separate arrays: blend each variable into its slice of
 * one flat average ({@code perVariable*}, what {@link SameDiffAverager} does), or copy the variables into one flat
 * scratch vector and blend that in one call ({@code flatCopy*}; write-back then copies the slices back). Both run the
 * non-finite check and the blend of the library's kernel ({@link BlendKernelProbe}); {@code averager*} is the whole
 * update through the public API, and {@code copyFloor} an ND4J {@code assign} of N values (8N bytes), all in one fork
 * per graph.
 *
 * <p>Graphs: {@code TYPE:VARIABLES:N}, N parameters in VARIABLES equal variables: 62 tensors as the network-shaped
 * workload of {@link UpdateBenchmark}, and 1,000 small ones, where a per-call cost would show.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@Measurement(iterations = 6, time = 500, timeUnit = TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g", "-Xms512m"})
public class SameDiffUpdateBenchmark {

    private static final double DECAY = 0.999;

    /** Data type, number of variables and total parameter count. */
    @Param({"FLOAT:62:100000", "FLOAT:62:1000000", "FLOAT:62:11700000", "FLOAT:1000:1000000"})
    public String graph;

    private SameDiff sd;
    private INDArray[] variables;
    private INDArray average;
    private INDArray[] averageSlices;
    private INDArray flat;
    private INDArray[] flatSlices;
    /** The kernel over each variable and its slice of the average, and over the flat copy and the whole average. */
    private BlendKernelProbe[] perVariable;
    private BlendKernelProbe flatProbe;
    private INDArray copy;
    private SameDiffAverager shadow;
    private SameDiffAverager writeBack;

    /** Builds the graph's variables, the flat average and its slices, the flat scratch and the averagers. */
    @Setup(Level.Trial)
    public void setUp() {
        String[] parts = graph.split(":");
        DataType type = DataType.valueOf(parts[0]);
        int count = Integer.parseInt(parts[1]);
        long each = Long.parseLong(parts[2]) / count;
        Nd4j.getRandom().setSeed(1);
        sd = SameDiff.create();
        variables = new INDArray[count];
        for (int i = 0; i < count; i++) {
            INDArray values = Nd4j.rand(type, each);
            sd.var(String.format("v%04d", i), values);
            variables[i] = sd.getArrForVarName(String.format("v%04d", i));
        }
        long n = each * count;
        average = Nd4j.rand(type, n);
        flat = Nd4j.create(type, n);
        copy = Nd4j.create(type, n);
        averageSlices = new INDArray[count];
        flatSlices = new INDArray[count];
        for (int i = 0; i < count; i++) {
            averageSlices[i] = average.get(NDArrayIndex.interval(i * each, (i + 1) * each));
            flatSlices[i] = flat.get(NDArrayIndex.interval(i * each, (i + 1) * each));
        }
        perVariable = new BlendKernelProbe[count];
        for (int i = 0; i < count; i++) {
            perVariable[i] = new BlendKernelProbe(averageSlices[i], variables[i], null);
        }
        flatProbe = new BlendKernelProbe(average, flat, null);
        shadow = SameDiffAverager.exponential(DECAY).name("shadow").build();
        writeBack = SameDiffAverager.exponential(DECAY).writeBack().name("writeback").build();
        shadow.update(sd);
        writeBack.update(sd);
    }

    /** Releases the arrays. */
    @TearDown(Level.Trial)
    public void tearDown() {
        sd = null;
        variables = null;
        perVariable = null;
        flatProbe = null;
        average = null;
        flat = null;
        copy = null;
    }

    /** @return the non-finite check and the blend of each variable into its slice of the average */
    @Benchmark
    public long perVariableShadow() {
        long nonFinite = 0;
        for (BlendKernelProbe probe : perVariable) {
            nonFinite += probe.countNonFinite();
        }
        for (BlendKernelProbe probe : perVariable) {
            probe.blend(DECAY, false);
        }
        return nonFinite;
    }

    /** @return as {@link #perVariableShadow()}, with the average written back into each variable */
    @Benchmark
    public long perVariableWriteBack() {
        long nonFinite = 0;
        for (BlendKernelProbe probe : perVariable) {
            nonFinite += probe.countNonFinite();
        }
        for (BlendKernelProbe probe : perVariable) {
            probe.blend(DECAY, true);
        }
        return nonFinite;
    }

    /** @return every variable copied into the flat scratch, then one check and one blend over it */
    @Benchmark
    public long flatCopyShadow() {
        for (int i = 0; i < variables.length; i++) {
            flatSlices[i].assign(variables[i]);
        }
        long nonFinite = flatProbe.countNonFinite();
        flatProbe.blend(DECAY, false);
        return nonFinite;
    }

    /** @return as {@link #flatCopyShadow()}, with the blended flat vector copied back into every variable */
    @Benchmark
    public long flatCopyWriteBack() {
        for (int i = 0; i < variables.length; i++) {
            flatSlices[i].assign(variables[i]);
        }
        long nonFinite = flatProbe.countNonFinite();
        flatProbe.blend(DECAY, true);
        for (int i = 0; i < variables.length; i++) {
            variables[i].assign(flatSlices[i]);
        }
        return nonFinite;
    }

    /** @return the whole update through the public API, shadow mode: {@code SameDiffAverager.update(sd)} */
    @Benchmark
    public boolean averagerShadow() {
        return shadow.update(sd);
    }

    /** @return the whole update through the public API, write-back mode */
    @Benchmark
    public boolean averagerWriteBack() {
        return writeBack.update(sd);
    }

    /** @return ND4J {@code assign} of N values: 8N bytes for FLOAT */
    @Benchmark
    public INDArray copyFloor() {
        return copy.assign(average);
    }

    /**
     * The same variants measured in pairs in one JVM, for ratios that survive a shared machine (JMH's forks of
     * different variants run minutes apart): each round runs every variant once, in a rotating order, and the ratio
     * of two variants is taken within each round; the median over rounds is printed. Arguments: the graphs
     * ({@code TYPE:VARIABLES:N}, default those of {@link #graph}), then {@code -rounds R} (default 200).
     *
     * <pre>
     * java -cp benchmarks/target/classes:... io.github.dl4jema.benchmarks.SameDiffUpdateBenchmark FLOAT:62:11700000
     * </pre>
     *
     * @param args graphs and options
     */
    public static void main(String[] args) {
        List<String> graphs = new ArrayList<>();
        int rounds = 200;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("-rounds")) {
                rounds = Integer.parseInt(args[++i]);
            } else {
                graphs.add(args[i]);
            }
        }
        if (graphs.isEmpty()) {
            graphs = List.of("FLOAT:62:100000", "FLOAT:62:1000000", "FLOAT:62:11700000", "FLOAT:1000:1000000");
        }
        for (String g : graphs) {
            SameDiffUpdateBenchmark b = new SameDiffUpdateBenchmark();
            b.graph = g;
            b.setUp();
            Map<String, Runnable> variants = new LinkedHashMap<>();
            variants.put("perVariableShadow", b::perVariableShadow);
            variants.put("flatCopyShadow", b::flatCopyShadow);
            variants.put("perVariableWriteBack", b::perVariableWriteBack);
            variants.put("flatCopyWriteBack", b::flatCopyWriteBack);
            variants.put("averagerShadow", b::averagerShadow);
            variants.put("averagerWriteBack", b::averagerWriteBack);
            variants.put("copyFloor", b::copyFloor);
            List<String> names = new ArrayList<>(variants.keySet());
            int warmup = Math.max(3, rounds / 10);
            double[][] recorded = new double[names.size()][rounds];
            for (int round = 0; round < warmup + rounds; round++) {
                for (int k = 0; k < names.size(); k++) {
                    int v = (k + round) % names.size();
                    long start = System.nanoTime();
                    variants.get(names.get(v)).run();
                    double ms = (System.nanoTime() - start) / 1e6;
                    if (round >= warmup) {
                        recorded[v][round - warmup] = ms;
                    }
                }
            }
            System.out.printf("%s, %d rounds (medians, ms):%n", g, rounds);
            for (int v = 0; v < names.size(); v++) {
                System.out.printf("  %-22s %10.4f%n", names.get(v), median(recorded[v]));
            }
            String[][] ratios = {{"flatCopyShadow", "perVariableShadow"}, {"flatCopyWriteBack", "perVariableWriteBack"},
                {"averagerShadow", "perVariableShadow"}, {"averagerWriteBack", "perVariableWriteBack"},
                {"averagerShadow", "copyFloor"}, {"averagerWriteBack", "copyFloor"}};
            for (String[] pair : ratios) {
                double[] r = new double[rounds];
                double[] num = recorded[names.indexOf(pair[0])];
                double[] den = recorded[names.indexOf(pair[1])];
                for (int i = 0; i < rounds; i++) {
                    r[i] = num[i] / den[i];
                }
                System.out.printf("  %s / %s: %.2f (median of per-round ratios)%n", pair[0], pair[1], median(r));
            }
            b.tearDown();
        }
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted[sorted.length / 2];
    }
}
