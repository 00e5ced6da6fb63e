package io.github.dl4jema.benchmarks;

import io.github.dl4jema.EmaListener;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.StringJoiner;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.blas.Level1;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.reduce.longer.MatchCondition;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.conditions.Conditions;

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
    /** Times recorded inside a variant (one per call of it), reported beside the variants. */
    private final Map<String, List<Double>> inside = new LinkedHashMap<>();

    private Interleaved() {
    }

    /**
     * The update variants of {@link UpdateBenchmark} on one workload.
     *
     * @param type       FLOAT or DOUBLE
     * @param parameters approximate parameter count
     * @param withSeed   whether to include the (slow) seed-style baseline
     * @return the measurement, ready to {@link #run}
     */
    static Interleaved updates(DataType type, long parameters, boolean withSeed) {
        Interleaved m = new Interleaved();
        MultiLayerNetwork shadowNet = Workloads.squareMlp(type, parameters);
        EmaListener shadow = EmaListener.exponential(DECAY).build();
        m.variants.put("emaShadow", () -> shadow.update(shadowNet));
        MultiLayerNetwork writeBackNet = Workloads.squareMlp(type, parameters);
        EmaListener writeBack = EmaListener.exponential(DECAY).writeBack().build();
        m.variants.put("emaWriteBack", () -> writeBack.update(writeBackNet));
        INDArray params = shadowNet.params();
        INDArray copy = params.dup();
        m.variants.put("copyFloor", () -> copy.assign(params));
        // the update in its parts, on separate arrays: the check alone, and the blend alone in each mode
        INDArray kernelAverage = params.dup();
        INDArray kernelParams = params.dup();
        m.variants.put("checkOnly", () -> BlendKernelProbe.countNonFinite(kernelParams));
        m.variants.put("blendShadowOnly", () -> BlendKernelProbe.blend(kernelAverage, kernelParams, DECAY, false));
        m.variants.put("blendWriteBackOnly", () -> BlendKernelProbe.blend(kernelAverage, kernelParams, DECAY, true));
        // the kernel this module replaced: MatchCondition, then BLAS scal and axpy over the whole vector, then assign
        INDArray previousAverage = params.dup();
        INDArray previousParams = params.dup();
        Level1 level1 = Nd4j.getBlasWrapper().level1();
        long n = params.length();
        m.variants.put("previousShadow", () -> {
            Nd4j.getExecutioner().exec(new MatchCondition(previousParams, Conditions.notFinite())).getLong(0);
            level1.scal(n, DECAY, previousAverage);
            level1.axpy(n, 1 - DECAY, previousParams, previousAverage);
        });
        m.variants.put("previousWriteBack", () -> {
            Nd4j.getExecutioner().exec(new MatchCondition(previousParams, Conditions.notFinite())).getLong(0);
            level1.scal(n, DECAY, previousAverage);
            level1.axpy(n, 1 - DECAY, previousParams, previousAverage);
            previousParams.assign(previousAverage);
        });
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
        if (withSeed) {
            MultiLayerNetwork averageNet = Workloads.squareMlp(type, parameters);
            Map<String, INDArray> paramTable = writeBackNet.paramTable();
            Map<String, INDArray> averageTable = averageNet.paramTable();
            INDArray seedParams = writeBackNet.params();
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
                long start = System.nanoTime();
                variants.get(name).run();
                double ms = (System.nanoTime() - start) / 1e6;
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
