package io.github.dl4jema.benchmarks;

import io.github.dl4jema.EmaListener;
import io.github.dl4jema.NonFinitePolicy;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import java.util.function.DoubleSupplier;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Environment;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Paired measurements in one JVM, for ratios that survive a shared machine: every round runs each variant once, in
 * turn, so that a burst of load from another process hits the variants of a round alike; a ratio is taken per round
 * and the median over rounds is reported. JMH's forks (one variant per JVM, minutes apart) give the absolute times;
 * these give the ratios the targets are judged by.
 */
final class Interleaved {

    private static final double DECAY = 0.999;

    private final Map<String, Runnable> variants = new LinkedHashMap<>();
    private final Map<String, Runnable> offTheClock = new LinkedHashMap<>();
    /** Variants that time themselves (the PyTorch reference, timed in its own process): they return milliseconds. */
    private final Map<String, DoubleSupplier> timedElsewhere = new LinkedHashMap<>();
    /** Times recorded inside a variant (one per call of it), reported beside the variants. */
    private final Map<String, List<Double>> inside = new LinkedHashMap<>();

    private Interleaved() {
    }

    /**
     * The update variants of {@link UpdateBenchmark} on one workload, the update's parts, the kernel it replaced, and
     * PyTorch's fastest update on the same 62 tensors. The caller sets the thread count (one core each:
     * {@code Environment.setMaxMasterThreads(1)}).
     *
     * @param type       FLOAT or DOUBLE
     * @param parameters approximate parameter count
     * @param withSeed   whether to include the (slow) seed-style baseline
     * @param torch      the PyTorch reference, or null to leave it out
     * @return the measurement, ready to {@link #run}
     */
    static Interleaved updates(DataType type, long parameters, boolean withSeed, TorchPeer torch) {
        Interleaved m = new Interleaved();
        MultiLayerNetwork shadowNet = Workloads.squareMlp(type, parameters);
        EmaListener shadow = EmaListener.exponential(DECAY).build();
        m.variants.put("emaShadow", () -> shadow.update(shadowNet));
        MultiLayerNetwork lowMemoryNet = Workloads.squareMlp(type, parameters);
        EmaListener lowMemory = EmaListener.exponential(DECAY).nonFinite(NonFinitePolicy.SKIP_LOW_MEMORY).build();
        m.variants.put("emaShadowLowMemory", () -> lowMemory.update(lowMemoryNet));
        MultiLayerNetwork writeBackNet = Workloads.squareMlp(type, parameters);
        EmaListener writeBack = EmaListener.exponential(DECAY).writeBack().build();
        m.variants.put("emaWriteBack", () -> writeBack.update(writeBackNet));
        INDArray params = shadowNet.params();
        INDArray copy = params.dup();
        m.variants.put("copyFloor", () -> copy.assign(params));
        // the update in its parts, on separate arrays: the check alone, and each kernel's blend alone
        BlendKernelProbe kernel = new BlendKernelProbe(params.dup(), params.dup(), params.dup());
        m.variants.put("checkOnly", kernel::countNonFinite);
        m.variants.put("blendShadowOnly", () -> kernel.blend(DECAY, false));
        m.variants.put("blendIntoOnly", () -> kernel.blendInto(DECAY));
        m.variants.put("blendWriteBackOnly", () -> kernel.blend(DECAY, true));
        // the kernel this change replaced, on arrays of its own
        PreviousKernel previousShadow = new PreviousKernel(params.dup(), params.dup());
        m.variants.put("previousShadow", () -> previousShadow.update(DECAY, false));
        PreviousKernel previousWriteBack = new PreviousKernel(params.dup(), params.dup());
        m.variants.put("previousWriteBack", () -> previousWriteBack.update(DECAY, true));
        if (type == DataType.FLOAT) {
            float[] a = params.toFloatVector();
            float[] p = a.clone();
            float keep = (float) DECAY;
            float take = (float) (1 - DECAY);
            m.variants.put("javaFloorShadow", () -> {
                for (int i = 0; i < a.length; i++) {
                    a[i] = keep * a[i] + take * p[i];
                }
            });
            m.variants.put("javaFloorWriteBack", () -> {
                for (int i = 0; i < a.length; i++) {
                    float v = keep * a[i] + take * p[i];
                    a[i] = v;
                    p[i] = v;
                }
            });
        } else {
            double[] a = params.toDoubleVector();
            double[] p = a.clone();
            m.variants.put("javaFloorShadow", () -> {
                for (int i = 0; i < a.length; i++) {
                    a[i] = DECAY * a[i] + (1 - DECAY) * p[i];
                }
            });
            m.variants.put("javaFloorWriteBack", () -> {
                for (int i = 0; i < a.length; i++) {
                    double v = DECAY * a[i] + (1 - DECAY) * p[i];
                    a[i] = v;
                    p[i] = v;
                }
            });
        }
        if (torch != null) {
            m.timedElsewhere.put("torchShadow", () -> torch.update(false));
            m.timedElsewhere.put("torchWriteBack", () -> torch.update(true));
        }
        if (withSeed) {
            MultiLayerNetwork seedNet = Workloads.squareMlp(type, parameters);
            MultiLayerNetwork averageNet = Workloads.squareMlp(type, parameters);
            Map<String, INDArray> paramTable = seedNet.paramTable();
            Map<String, INDArray> averageTable = averageNet.paramTable();
            INDArray seedParams = seedNet.params();
            INDArray seedAverage = averageNet.params();
            m.variants.put("seedStyle", () -> {
                for (Map.Entry<String, INDArray> entry : paramTable.entrySet()) {
                    INDArray avg = averageTable.get(entry.getKey());
                    avg.assign(avg.mul(DECAY).add(entry.getValue().mul(1 - DECAY)));
                }
                seedParams.assign(seedAverage);
            });
            m.offTheClock.put("seedStyle", System::gc);
        }
        return m;
    }

    /**
     * The listener's update with 1, 2, ... threads (ND4J's own setting, {@code Environment.setMaxMasterThreads}, which
     * the kernel never exceeds), beside the one-thread Java floors, on one workload.
     *
     * @param type       FLOAT or DOUBLE
     * @param parameters approximate parameter count
     * @param threads    the thread counts to measure
     * @return the measurement, ready to {@link #run}
     */
    static Interleaved threads(DataType type, long parameters, int[] threads) {
        Interleaved m = new Interleaved();
        Environment environment = Nd4j.getEnvironment();
        MultiLayerNetwork shadowNet = Workloads.squareMlp(type, parameters);
        EmaListener shadow = EmaListener.exponential(DECAY).build();
        MultiLayerNetwork lowMemoryNet = Workloads.squareMlp(type, parameters);
        EmaListener lowMemory = EmaListener.exponential(DECAY).nonFinite(NonFinitePolicy.SKIP_LOW_MEMORY).build();
        MultiLayerNetwork writeBackNet = Workloads.squareMlp(type, parameters);
        EmaListener writeBack = EmaListener.exponential(DECAY).writeBack().build();
        for (int k : threads) {
            m.variants.put("emaShadow@" + k, () -> {
                environment.setMaxMasterThreads(k);
                shadow.update(shadowNet);
            });
            m.variants.put("emaShadowLowMemory@" + k, () -> {
                environment.setMaxMasterThreads(k);
                lowMemory.update(lowMemoryNet);
            });
            m.variants.put("emaWriteBack@" + k, () -> {
                environment.setMaxMasterThreads(k);
                writeBack.update(writeBackNet);
            });
        }
        float[] a = shadowNet.params().castTo(DataType.FLOAT).toFloatVector();
        float[] p = a.clone();
        float keep = (float) DECAY;
        float take = (float) (1 - DECAY);
        m.variants.put("javaFloorShadow", () -> {
            for (int i = 0; i < a.length; i++) {
                a[i] = keep * a[i] + take * p[i];
            }
        });
        return m;
    }

    /**
     * {@code fit} on one minibatch of {@link Workloads#trainingMlp()}: without a listener, and with an exponential
     * average updated every iteration in shadow and in write-back mode (three networks from the same seed).
     *
     * @return the measurement
     */
    static Interleaved training() {
        Interleaved m = new Interleaved();
        DataSet batch = Workloads.minibatch();
        MultiLayerNetwork plain = Workloads.trainingMlp();
        MultiLayerNetwork shadow = Workloads.trainingMlp();
        shadow.addListeners(m.timed("updateInFitShadow", EmaListener.exponential(0.99).build()));
        MultiLayerNetwork writeBack = Workloads.trainingMlp();
        writeBack.addListeners(m.timed("updateInFitWriteBack", EmaListener.exponential(0.99).writeBack().build()));
        m.variants.put("fitPlain", () -> plain.fit(batch));
        m.variants.put("fitEmaShadow", () -> shadow.fit(batch));
        m.variants.put("fitEmaWriteBack", () -> writeBack.fit(batch));
        return m;
    }

    /**
     * Wraps a listener so that the time of each of its {@code iterationDone} calls is recorded: the listener's own cost
     * inside a training iteration, measured directly instead of as a difference of two noisy iteration times.
     */
    private TrainingListener timed(String name, EmaListener listener) {
        List<Double> times = new ArrayList<>();
        inside.put(name, times);
        return new BaseTrainingListener() {
            @Override
            public void iterationDone(Model model, int iteration, int epoch) {
                long start = System.nanoTime();
                listener.iterationDone(model, iteration, epoch);
                times.add((System.nanoTime() - start) / 1e6);
            }
        };
    }

    /**
     * Runs {@code warmup} unrecorded rounds, then {@code rounds} recorded ones; a variant with work off the clock (the
     * slow seed-style baseline) runs once to warm up and then only in the first {@code limitedRounds} recorded rounds.
     *
     * @param warmup        rounds run before recording
     * @param rounds        rounds recorded
     * @param limitedRounds rounds recorded for the slow baseline
     * @return JSON: per variant the median and minimum milliseconds, and the per-round times
     */
    String run(int warmup, int rounds, int limitedRounds) {
        List<String> names = new ArrayList<>(variants.keySet());
        names.addAll(timedElsewhere.keySet());
        Map<String, List<Double>> times = new LinkedHashMap<>();
        names.forEach(name -> times.put(name, new ArrayList<>()));
        for (int round = 0; round < warmup + rounds; round++) {
            for (int k = 0; k < names.size(); k++) {
                String name = names.get((k + round) % names.size());
                boolean limited = offTheClock.containsKey(name);
                boolean recorded = round >= warmup;
                if (limited && (recorded ? round >= warmup + limitedRounds : round > 0)) {
                    continue;
                }
                double ms;
                if (timedElsewhere.containsKey(name)) {
                    ms = timedElsewhere.get(name).getAsDouble();
                } else {
                    long start = System.nanoTime();
                    variants.get(name).run();
                    ms = (System.nanoTime() - start) / 1e6;
                }
                if (limited) {
                    offTheClock.get(name).run();
                }
                if (recorded) {
                    times.get(name).add(ms);
                }
            }
        }
        inside.forEach((name, list) -> times.put(name, list.subList(Math.min(warmup, list.size()), list.size())));
        StringJoiner json = new StringJoiner(",\n", "{\n", "\n}");
        times.forEach((name, list) -> {
            double[] sorted = list.stream().mapToDouble(Double::doubleValue).sorted().toArray();
            StringJoiner all = new StringJoiner(", ", "[", "]");
            list.forEach(t -> all.add(String.format("%.4f", t)));
            json.add(String.format("  \"%s\": {\"median\": %.4f, \"min\": %.4f, \"times\": %s}", name,
                    sorted[sorted.length / 2], sorted[0], all));
            System.out.printf("  %-20s median %10.3f ms   min %10.3f ms   (%d runs)%n", name,
                    sorted[sorted.length / 2], sorted[0], sorted.length);
        });
        return json.toString();
    }
}
