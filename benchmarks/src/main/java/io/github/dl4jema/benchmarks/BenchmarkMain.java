package io.github.dl4jema.benchmarks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.StringJoiner;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Runs the whole measurement: the off-heap probe, then {@code rounds} rounds of every JMH benchmark with one fork each,
 * so that forks of different variants interleave in time and each round's ratios come from forks run minutes apart
 * at most. Writes {@code offheap.json} and {@code round-<r>.json} (JMH's JSON) into the output directory, which
 * {@code benchmarks/report.py} turns into {@code docs/PERFORMANCE.md}.
 *
 * <p>Arguments: {@code -rounds R} (default 3), {@code -out DIR} (default {@code target/jmh}), {@code -include REGEX}
 * (default all benchmarks), {@code -workload TYPE:N[,TYPE:N]} (default all of
 * {@link UpdateBenchmark#workload}), {@code -quick} (one short iteration each, to check that everything runs).
 */
public final class BenchmarkMain {

    private BenchmarkMain() {
    }

    /**
     * @param args see the class comment
     * @throws RunnerException      if JMH fails
     * @throws InterruptedException if interrupted while the probe waits for ND4J's deallocators
     */
    public static void main(String[] args) throws RunnerException, InterruptedException {
        int rounds = 3;
        Path out = Path.of("target", "jmh");
        String include = "io\\.github\\.dl4jema\\.benchmarks\\..*";
        boolean quick = false;
        String[] workloads = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "-rounds" -> rounds = Integer.parseInt(args[++i]);
                case "-out" -> out = Path.of(args[++i]);
                case "-include" -> include = args[++i];
                case "-quick" -> quick = true;
                case "-workload" -> workloads = args[++i].split(",");
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + "; expected -rounds R, -out DIR, -include REGEX -workload TYPE:N or -quick");
            }
        }
        try {
            Files.createDirectories(out);
            StringJoiner json = new StringJoiner(",\n", "{\n", "\n}\n");
            for (long n : new long[] {1_000_000L, 25_600_000L}) {
                Map<String, Double> bytes = OffHeapProbe.bytesPerUpdate(n, quick ? 3 : 20);
                StringJoiner entry = new StringJoiner(", ", "{", "}");
                bytes.forEach((k, v) -> entry.add("\"" + k + "\": " + v));
                json.add("  \"" + n + "\": " + entry);
                System.out.println("off-heap bytes per update, N ~ " + n + ": " + bytes);
            }
            Files.writeString(out.resolve("offheap.json"), json.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        for (int round = 1; round <= rounds; round++) {
            ChainedOptionsBuilder options = new OptionsBuilder()
                    .include(include)
                    .forks(1)
                    .resultFormat(ResultFormatType.JSON)
                    .result(out.resolve("round-" + round + ".json").toString());
            if (workloads != null) {
                options.param("workload", workloads);
            }
            if (quick) {
                options.warmupIterations(1).measurementIterations(1)
                        .warmupTime(org.openjdk.jmh.runner.options.TimeValue.milliseconds(200))
                        .measurementTime(org.openjdk.jmh.runner.options.TimeValue.milliseconds(200));
            }
            new Runner(options.build()).run();
        }
    }
}
