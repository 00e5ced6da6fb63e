package io.github.dl4jema.benchmarks;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Environment;
import org.nd4j.linalg.factory.Nd4j;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;

/**
 * Runs the whole measurement: the off-heap probe, the paired in-process measurement ({@link Interleaved}; skip it
 * with {@code -no-interleaved}), then {@code rounds} rounds of every JMH benchmark with one fork each,
 * so that forks of different variants interleave in time and each round's ratios come from forks run minutes apart
 * at most. Writes {@code offheap.json}, {@code interleaved.json} and {@code round-<r>.json} (JMH's JSON) into the output directory, which
 * {@code benchmarks/report.py} turns into {@code docs/PERFORMANCE.md}.
 *
 * <p>The paired measurement runs the listener on one thread ({@code Environment.setMaxMasterThreads(1)}) beside
 * PyTorch's fastest update on one thread ({@link TorchPeer}, skipped with a message where no Python has torch), then
 * the listener with 1, 2, 4, ... and all threads on the {@code -scaling} workloads, then the training iterations at
 * ND4J's default threading. The JMH forks run the listener on one thread too.
 *
 * <p>Arguments: {@code -rounds R} (default 3), {@code -out DIR} (default {@code target/jmh}), {@code -include REGEX}
 * (default all benchmarks), {@code -workload TYPE:N[,TYPE:N]} (default all of {@link UpdateBenchmark#workload}),
 * {@code -scaling TYPE:N[,TYPE:N]} (default {@code FLOAT:25600000,FLOAT:2000000}; empty for none), {@code -python
 * PATH} (the interpreter for the PyTorch reference, repeatable; default {@code python3}, then {@code /usr/bin/python3}),
 * {@code -no-torch}, {@code -no-interleaved}, {@code -quick} (one short iteration each, to check that everything
 * runs).
 */
public final class BenchmarkMain {

    /** The workloads of {@link UpdateBenchmark#workload}, for the interleaved measurement. */
    private static final String[] UPDATE_WORKLOADS =
            {"FLOAT:100000", "FLOAT:1000000", "FLOAT:11700000", "FLOAT:25600000", "DOUBLE:11700000"};

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
        boolean interleaved = true;
        List<String> pythons = new ArrayList<>();
        boolean torchWanted = true;
        String[] scaling = {"FLOAT:25600000", "FLOAT:2000000"};
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "-rounds" -> rounds = Integer.parseInt(args[++i]);
                case "-out" -> out = Path.of(args[++i]);
                case "-include" -> include = args[++i];
                case "-quick" -> quick = true;
                case "-no-interleaved" -> interleaved = false;
                case "-workload" -> workloads = args[++i].split(",");
                case "-scaling" -> scaling = args[++i].isEmpty() ? new String[0] : args[i].split(",");
                case "-python" -> pythons.add(args[++i]);
                case "-no-torch" -> torchWanted = false;
                default -> throw new IllegalArgumentException("unknown argument " + args[i]
                        + "; expected -rounds R, -out DIR, -include REGEX, -workload TYPE:N[,TYPE:N], "
                        + "-scaling TYPE:N[,TYPE:N], -python PATH, -no-torch, -no-interleaved or -quick");
            }
        }
        try {
            Files.createDirectories(out);
            String loadBefore = loadAverage();
            Files.writeString(out.resolve("run-start.json"), "{\"start\": \"" + java.time.Instant.now()
                    + "\", \"java\": \"" + System.getProperty("java.vm.name") + " "
                    + System.getProperty("java.runtime.version") + "\", \"processors\": "
                    + Runtime.getRuntime().availableProcessors() + ", \"loadavg\": \"" + loadBefore + "\"}\n");
            StringJoiner offHeap = new StringJoiner(",\n", "{\n", "\n}\n");
            for (long n : new long[] {1_000_000L, 25_600_000L}) {
                Map<String, Double> bytes = OffHeapProbe.bytesPerUpdate(n, quick ? 3 : 20);
                StringJoiner entry = new StringJoiner(", ", "{", "}");
                bytes.forEach((k, v) -> entry.add("\"" + k + "\": " + v));
                offHeap.add("  \"" + n + "\": " + entry);
                System.out.println("off-heap bytes per update, N ~ " + n + ": " + bytes);
            }
            Files.writeString(out.resolve("offheap.json"), offHeap.toString());
            if (interleaved) {
                Environment environment = Nd4j.getEnvironment();
                int defaultThreads = environment.maxMasterThreads();
                List<String> reasons = new ArrayList<>();
                TorchPeer torch = !torchWanted ? null : TorchPeer.start(
                        pythons.isEmpty() ? List.of("python3", "/usr/bin/python3") : pythons, reasons);
                if (torchWanted && torch == null) {
                    System.out.println("PyTorch reference skipped: no Python with torch (" + String.join("; ", reasons)
                            + "); on Debian: apt-get install python3-torch");
                }
                StringJoiner paired = new StringJoiner(",\n", "{\n", "\n}\n");
                StringJoiner loads = new StringJoiner(", ", "{", "}");
                // one core each: the listener's kernel follows ND4J's setting, PyTorch runs with one thread
                environment.setMaxMasterThreads(1);
                for (String workload : workloads == null ? UPDATE_WORKLOADS : workloads) {
                    String[] parts = workload.split(":");
                    long n = Long.parseLong(parts[1]);
                    System.out.println("interleaved updates, " + workload);
                    loads.add("\"" + workload + "\": \"" + loadAverage() + "\"");
                    if (torch != null) {
                        torch.setUp(parts[0], n);
                    }
                    String result = Interleaved.updates(DataType.valueOf(parts[0]), n, true, torch)
                            .run(quick ? 2 : 10, quick ? 3 : (n > 5_000_000L ? 30 : 200), quick ? 1 : 5);
                    paired.add("\"" + workload + "\": " + result);
                }
                if (torch != null) {
                    paired.add("\"torch\": \"" + torch.description().replace("\"", "'") + "\"");
                    torch.close();
                }
                int[] threads = threadCounts(Math.min(environment.maxThreads(),
                        Runtime.getRuntime().availableProcessors()));
                StringJoiner counts = new StringJoiner(", ", "[", "]");
                for (int k : threads) {
                    counts.add(Integer.toString(k));
                }
                paired.add("\"threads\": " + counts);
                for (String workload : scaling) {
                    String[] parts = workload.split(":");
                    long n = Long.parseLong(parts[1]);
                    System.out.println("interleaved thread scaling, " + workload);
                    loads.add("\"threads " + workload + "\": \"" + loadAverage() + "\"");
                    String result = Interleaved.threads(DataType.valueOf(parts[0]), n, threads)
                            .run(quick ? 2 : 10, quick ? 3 : (n > 5_000_000L ? 30 : 200), 0);
                    paired.add("\"threads " + workload + "\": " + result);
                }
                environment.setMaxMasterThreads(defaultThreads);
                System.out.println("interleaved training iterations");
                loads.add("\"training\": \"" + loadAverage() + "\"");
                paired.add("\"training\": " + Interleaved.training().run(quick ? 2 : 10, quick ? 3 : 60, 0));
                paired.add("\"loads\": " + loads);
                Files.writeString(out.resolve("interleaved.json"), paired.toString());
            }
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
        try {
            Files.writeString(out.resolve("run-end.json"), "{\"end\": \"" + java.time.Instant.now()
                    + "\", \"loadavg\": \"" + loadAverage() + "\"}\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** @return 1, 2, 4, ... up to {@code all}, and {@code all} itself */
    private static int[] threadCounts(int all) {
        List<Integer> counts = new ArrayList<>();
        for (int k = 1; k < all; k *= 2) {
            counts.add(k);
        }
        counts.add(all);
        return counts.stream().mapToInt(Integer::intValue).toArray();
    }

    /** @return the first three fields of /proc/loadavg (1, 5, 15 minutes), or "n/a" off Linux */
    private static String loadAverage() {
        try {
            String[] fields = Files.readString(Path.of("/proc/loadavg")).trim().split(" ");
            return fields[0] + " " + fields[1] + " " + fields[2];
        } catch (IOException e) {
            return "n/a";
        }
    }
}
