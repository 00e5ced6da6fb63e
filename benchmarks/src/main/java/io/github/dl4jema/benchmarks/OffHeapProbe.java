package io.github.dl4jema.benchmarks;

import com.sun.management.ThreadMXBean;
import io.github.dl4jema.EmaListener;
import java.lang.management.ManagementFactory;
import java.util.LinkedHashMap;
import java.util.Map;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Bytes allocated per update in steady state, off the heap and on it. Off the heap: libnd4j counts every host buffer
 * it allocates outside a workspace ({@code Environment.getDeviceCouner(0)}, which is {@code MemoryCounter} in
 * libnd4j); buffers are freed only after the JVM collects their arrays, so the count's growth over a run of updates
 * with no collection is the bytes those updates allocated. On the CUDA backend the counter does not see device
 * memory; the probe then reports what it sees on the host. On the heap: the JVM's per-thread allocation counters of
 * the updating thread and the kernel's helpers.
 */
final class OffHeapProbe {

    private static final double DECAY = 0.999;

    private OffHeapProbe() {
    }

    /**
     * Measures the listener's updates and the seed-style baseline on a network of about {@code parameters} floats.
     *
     * @param parameters the approximate parameter count
     * @param updates    updates per measured run
     * @return bytes per update, by variant
     */
    static Map<String, Double> bytesPerUpdate(long parameters, int updates) throws InterruptedException {
        Map<String, Double> result = new LinkedHashMap<>();
        MultiLayerNetwork net = Workloads.squareMlp(DataType.FLOAT, parameters);
        EmaListener shadow = EmaListener.exponential(DECAY).build();
        result.put("emaShadow", perCall(() -> shadow.update(net), updates, result, "emaShadow"));
        result.put("emaShadowHeap", heapPerCall(() -> shadow.update(net), updates));
        MultiLayerNetwork other = Workloads.squareMlp(DataType.FLOAT, parameters);
        EmaListener writeBack = EmaListener.exponential(DECAY).writeBack().build();
        result.put("emaWriteBack", perCall(() -> writeBack.update(other), updates, result, "emaWriteBack"));
        result.put("emaWriteBackHeap", heapPerCall(() -> writeBack.update(other), updates));
        INDArray params = net.params();
        INDArray copy = params.dup();
        result.put("copyFloor", perCall(() -> copy.assign(params), updates, result, "copyFloor"));
        MultiLayerNetwork average = Workloads.squareMlp(DataType.FLOAT, parameters);
        Map<String, INDArray> paramTable = net.paramTable();
        Map<String, INDArray> averageTable = average.paramTable();
        result.put("seedStyle", perCall(() -> {
            for (Map.Entry<String, INDArray> entry : paramTable.entrySet()) {
                INDArray avg = averageTable.get(entry.getKey());
                avg.assign(avg.mul(DECAY).add(entry.getValue().mul(1 - DECAY)));
            }
            params.assign(average.params());
        }, Math.min(updates, 5), result, "seedStyle"));
        result.put("parameters", (double) params.length());
        return result;
    }

    /**
     * Java heap bytes allocated per call over {@code calls} calls, by the calling thread and the kernel's helper
     * threads ({@code dl4j-ema-blend-*}), from the JVM's per-thread allocation counters; the smallest of three windows
     * (a counter only grows, so the smallest window is the one the JIT or a class load disturbed least).
     */
    private static double heapPerCall(Runnable update, int calls) {
        ThreadMXBean bean = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        long[] ids = Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t == Thread.currentThread() || t.getName().startsWith("dl4j-ema-blend"))
                .mapToLong(Thread::getId).toArray();
        long[] before = new long[ids.length];
        double best = Double.MAX_VALUE;
        for (int window = 0; window < 3; window++) {
            for (int k = 0; k < ids.length; k++) {
                before[k] = bean.getThreadAllocatedBytes(ids[k]);
            }
            for (int i = 0; i < calls; i++) {
                update.run();
            }
            long bytes = 0;
            for (int k = 0; k < ids.length; k++) {
                bytes += bean.getThreadAllocatedBytes(ids[k]) - before[k];
            }
            best = Math.min(best, (double) bytes / calls);
        }
        return best;
    }

    /**
     * Bytes allocated per call over {@code calls} calls with no collection forced in between; also records the
     * milliseconds per call under {@code name + "Ms"}: for the seed style, its time as it runs in practice, paying for
     * its own garbage.
     */
    private static double perCall(Runnable update, int calls, Map<String, Double> result, String name)
            throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            update.run();
        }
        System.gc();
        Thread.sleep(300);
        long before = Nd4j.getEnvironment().getDeviceCouner(0);
        long start = System.nanoTime();
        for (int i = 0; i < calls; i++) {
            update.run();
        }
        long after = Nd4j.getEnvironment().getDeviceCouner(0);
        result.put(name + "Ms", (System.nanoTime() - start) / 1e6 / calls);
        System.gc();
        Thread.sleep(300);
        return (double) (after - before) / calls;
    }
}
