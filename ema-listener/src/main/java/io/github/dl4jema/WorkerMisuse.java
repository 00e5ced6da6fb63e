package io.github.dl4jema;

import java.io.Serial;
import java.io.Serializable;
import java.util.concurrent.atomic.AtomicBoolean;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What an {@link EmaListener} becomes when Java serialization ships it (Spark's {@code setListeners} does, to every
 * worker, at every {@code fit}): a stand-in without the average that fails the first training event it sees with
 * the recipe, so the mistake is loud instead of an average of replicas thrown away after each task. Also the one
 * place that logs such a misuse, once per JVM, at ERROR.
 */
final class WorkerMisuse extends BaseTrainingListener implements Serializable {

    @Serial
    private static final long serialVersionUID = 1L;

    /** What to do instead, said by every error about an averager on a worker. */
    static final String RECIPE = "Averagers do not work as listeners of ParallelWrapper or Spark workers: "
            + "the workers train replicas of the network and their events never reach the master network. Keep the "
            + "EmaListener off wrapper.setListeners/sparkNet.setListeners and call ema.update(net) on the master "
            + "(driver) network after each wrapper.fit(...) or sparkNet.fit(...); see the README, 'Scale-out'.";

    private static final Logger log = LoggerFactory.getLogger(EmaListener.class);
    private static final AtomicBoolean REPORTED = new AtomicBoolean();

    private final String listener;

    WorkerMisuse(String listener) {
        this.listener = listener;
    }

    /**
     * Fails loudly when a ParallelWrapper worker thread calls an averager: the workers train replicas, so an average
     * taken there is not the master network's. Logged once at ERROR, thrown every time.
     *
     * @param averager the averager, for the message
     * @throws IllegalStateException on a worker thread
     */
    static void refuseWorkerThread(Object averager) {
        Thread thread = Thread.currentThread();
        if (thread.getName().startsWith("ParallelWrapper training thread")
                || thread.getClass().getName().startsWith("org.deeplearning4j.parallelism.")) {
            String who = averager instanceof EmaListener listener ? listener.label() : String.valueOf(averager);
            IllegalStateException e = new IllegalStateException(who + " was called on a ParallelWrapper worker "
                    + "thread (" + thread.getName() + "). " + RECIPE);
            report(e);
            throw e;
        }
    }

    /** Logs the first misuse in this JVM at ERROR; later ones are only thrown. */
    static void report(IllegalStateException e) {
        if (REPORTED.compareAndSet(false, true)) {
            log.error(e.getMessage());
        }
    }

    private void fail() {
        IllegalStateException e = new IllegalStateException("a serialized copy of " + listener + " received a "
                + "training event, so it was shipped to a worker (Spark's setListeners serializes listeners to the "
                + "workers). " + RECIPE);
        report(e);
        throw e;
    }

    @Override
    public void onEpochStart(Model model) {
        fail();
    }

    @Override
    public void onEpochEnd(Model model) {
        fail();
    }

    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        fail();
    }

    @Override
    public String toString() {
        return "WorkerMisuse{" + listener + "}";
    }
}
