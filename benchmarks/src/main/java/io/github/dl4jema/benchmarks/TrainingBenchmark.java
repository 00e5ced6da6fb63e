package io.github.dl4jema.benchmarks;

import io.github.dl4jema.EmaListener;
import java.util.concurrent.TimeUnit;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.dataset.DataSet;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * One training iteration of the MLP 784-1024-1024-10 (batch 128, Adam) at ND4J's default threading: {@code fit} on
 * one minibatch without a listener, and with an exponential average updated after every iteration, in shadow and in
 * write-back mode. The difference is the per-iteration mode's overhead.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 1, timeUnit = TimeUnit.SECONDS)
@Measurement(iterations = 8, time = 1, timeUnit = TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xmx2g"})
public class TrainingBenchmark {

    private MultiLayerNetwork net;
    private DataSet batch;

    /**
     * Builds the network, and the listener the running benchmark uses.
     *
     * @param benchmark JMH's description of the running benchmark
     */
    @Setup(Level.Trial)
    public void setUp(BenchmarkParams benchmark) {
        net = Workloads.trainingMlp();
        batch = Workloads.minibatch();
        String name = benchmark.getBenchmark();
        if (name.endsWith("fitEmaShadow")) {
            net.addListeners(EmaListener.exponential(0.99).build());
        } else if (name.endsWith("fitEmaWriteBack")) {
            net.addListeners(EmaListener.exponential(0.99).writeBack().build());
        }
    }

    /** @return the network after {@code fit} on one minibatch, no listener */
    @Benchmark
    public MultiLayerNetwork fitPlain() {
        net.fit(batch);
        return net;
    }

    /** @return the network after {@code fit} on one minibatch with a shadow average updated every iteration */
    @Benchmark
    public MultiLayerNetwork fitEmaShadow() {
        net.fit(batch);
        return net;
    }

    /** @return the network after {@code fit} on one minibatch with a write-back average updated every iteration */
    @Benchmark
    public MultiLayerNetwork fitEmaWriteBack() {
        net.fit(batch);
        return net;
    }
}
