package io.github.dl4jema.parallel;

import io.github.dl4jema.EmaListener;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;

/**
 * Weight averaging for {@code ParallelWrapper}: fits a number of epochs and updates each averager on the master
 * network (the one the wrapper was built with) after every epoch.
 *
 * <pre>{@code
 * EmaListener sma = EmaListener.builder(AveragingRule.simple()).shadow().build();   // not added to net
 * try (ParallelWrapper wrapper = new ParallelWrapper.Builder<>(net).workers(2).averagingFrequency(2)
 *         .trainingMode(ParallelWrapper.TrainingMode.AVERAGING).build()) {
 *     ParallelAveraging.fit(wrapper, trainIterator, 20, sma);
 * }
 * }</pre>
 *
 * <p>{@code ParallelWrapper} fires no epoch events on the master network, and its workers call the wrapper's listeners
 * with their replicas (an {@link EmaListener} there fails the fit with this recipe). So this class calls
 * {@link EmaListener#update(Model)} on the master after each {@code wrapper.fit(...)}: in shadow mode the average waits
 * on the master; in write-back mode it replaces the master's parameters, which the next epoch trains from. Worker 0
 * trains the master in place; the other workers copy the master when the next {@code fit} starts their threads, which
 * DL4J 1.0.0-M2.1 does not order before worker 0's first step, so a replica sometimes starts from the master after
 * worker 0's first minibatch (in this project's probe, in 15 of 40 fits). Each epoch is one snapshot, whatever the
 * averager's schedule says; a custom rule sees the averager's own 1-based step.
 *
 * <p><b>AVERAGING mode and the averaging frequency.</b> A round hands one minibatch to each worker, so an epoch of
 * {@code n} minibatches on {@code w} workers is {@code ceil(n / w)} rounds; the wrapper averages the workers after
 * every {@code averagingFrequency}-th round, counted over all its fits. After a fit the master holds the workers' mean
 * only if the fit's last round was an averaging round; otherwise it holds worker 0's own weights since the last
 * averaging, and the other workers' last rounds are lost. This class checks that after every fit (from the wrapper's
 * round counter) and, if the last round was not an averaging round, throws before updating any averager, with the
 * frequencies that would fit. Choose an {@code averagingFrequency} that divides the rounds per epoch. Also make the
 * minibatches per epoch a multiple of the number of workers: in a last round with fewer minibatches than workers, the
 * wrapper averages only the workers that trained in it. In {@code SHARED_GRADIENTS} mode there are no averaging
 * rounds and nothing is checked: the master is the model that worker 0 trains with the shared updates (this
 * project's tests cover AVERAGING mode; DL4J 1.0.0-M2.1's SHARED_GRADIENTS mode deadlocked in one of four probe
 * runs).
 */
public final class ParallelAveraging {

    /** Divisors listed in the message when the averaging frequency does not fit the epoch. */
    private static final int DIVISORS_SHOWN = 12;

    private ParallelAveraging() {
    }

    /**
     * Fits {@code data} for {@code epochs} epochs ({@code wrapper.fit(data)} once per epoch) and, after each, updates
     * every averager on the master network ({@code wrapper.getModel()}), in the order given. The wrapper resets the
     * iterator between epochs.
     *
     * @param wrapper   the wrapper, built on a {@code MultiLayerNetwork} or {@code ComputationGraph}
     * @param data      the training data; it must support {@code reset()} when {@code epochs > 1}
     * @param epochs    the number of epochs, {@code ≥ 1}
     * @param averagers one or more distinct averagers; no {@link EmaListener} may be among the wrapper's listeners
     * @throws IllegalArgumentException if an argument is null, {@code epochs < 1}, no averager is given or one is given
     *                                  twice, the iterator cannot be reset for a second epoch, an averager rides the
     *                                  wrapper's listeners, or the wrapper averages (AVERAGING mode) with an
     *                                  {@code averagingFrequency} below 1; nothing was trained
     * @throws IllegalStateException    after an epoch whose last round was not an averaging round (AVERAGING mode);
     *                                  that epoch's snapshot was not taken. Also from {@link EmaListener#update(Model)}
     */
    public static void fit(ParallelWrapper wrapper, DataSetIterator data, int epochs, EmaListener... averagers) {
        check(wrapper, data, epochs, averagers);
        if (epochs > 1 && !data.resetSupported()) {
            throw notResettable(data);
        }
        train(wrapper, () -> wrapper.fit(data), epochs, averagers);
    }

    /**
     * Fits {@code data} for {@code epochs} epochs ({@code wrapper.fit(data)} once per epoch, for a
     * {@code ComputationGraph}) and, after each, updates every averager on the master network, in the order given.
     *
     * @param wrapper   the wrapper, built on a {@code ComputationGraph}
     * @param data      the training data; it must support {@code reset()} when {@code epochs > 1}
     * @param epochs    the number of epochs, {@code ≥ 1}
     * @param averagers one or more distinct averagers; no {@link EmaListener} may be among the wrapper's listeners
     * @throws IllegalArgumentException as {@link #fit(ParallelWrapper, DataSetIterator, int, EmaListener...)}
     * @throws IllegalStateException    as {@link #fit(ParallelWrapper, DataSetIterator, int, EmaListener...)}
     */
    public static void fit(ParallelWrapper wrapper, MultiDataSetIterator data, int epochs, EmaListener... averagers) {
        check(wrapper, data, epochs, averagers);
        if (epochs > 1 && !data.resetSupported()) {
            throw notResettable(data);
        }
        train(wrapper, () -> wrapper.fit(data), epochs, averagers);
    }

    private static void train(ParallelWrapper wrapper, Runnable epoch, int epochs, EmaListener[] averagers) {
        boolean averaging = wrapper.getGradientsAccumulator() == null;
        Model master = wrapper.getModel();
        for (int e = 1; e <= epochs; e++) {
            long roundsBefore = wrapper.getIterationsCounter().get();
            epoch.run();
            long rounds = wrapper.getIterationsCounter().get();
            int frequency = wrapper.getAveragingFrequency();
            if (averaging && rounds % frequency != 0) {
                throw new IllegalStateException(unaveragedEnd(e, rounds, rounds - roundsBefore, frequency,
                        wrapper.getWorkers()));
            }
            for (EmaListener averager : averagers) {
                averager.update(master);
            }
        }
    }

    private static String unaveragedEnd(int epoch, long rounds, long roundsThisFit, int frequency, int workers) {
        List<Long> divisors = new ArrayList<>();
        for (long d = 1; d <= roundsThisFit && divisors.size() < DIVISORS_SHOWN; d++) {
            if (roundsThisFit % d == 0) {
                divisors.add(d);
            }
        }
        return "ParallelWrapper averages its workers every " + frequency + " rounds, and epoch " + epoch + " ended "
                + "on round " + rounds + " of the wrapper (" + roundsThisFit + " rounds in this fit; the wrapper counts "
                + "rounds over all its fits), which is not a multiple of " + frequency + ": the master network holds "
                + "worker 0's own weights since the last averaging, not the workers' mean, so no averager was updated "
                + "after this epoch. A round hands one minibatch to each of the " + workers + " workers (rounds per "
                + "epoch = minibatches / workers, rounded up). Build the wrapper with an averagingFrequency that "
                + "divides the rounds per epoch (" + roundsThisFit + ": " + divisors + ") (got: averagingFrequency "
                + frequency + ")";
    }

    private static void check(ParallelWrapper wrapper, Object data, int epochs, EmaListener[] averagers) {
        if (wrapper == null || data == null) {
            throw new IllegalArgumentException("wrapper and data should be given (got: "
                    + (wrapper == null ? "wrapper null" : "data null") + ")");
        }
        if (!(wrapper.getModel() instanceof MultiLayerNetwork || wrapper.getModel() instanceof ComputationGraph)) {
            throw new IllegalArgumentException("the wrapper should train a MultiLayerNetwork or ComputationGraph (got: "
                    + (wrapper.getModel() == null ? "null" : wrapper.getModel().getClass().getName()) + ")");
        }
        if (epochs < 1) {
            throw new IllegalArgumentException("epochs should be >= 1 (got: " + epochs + ")");
        }
        if (averagers == null || averagers.length == 0) {
            throw new IllegalArgumentException("averagers should hold at least one EmaListener to update after each "
                    + "epoch (got: " + (averagers == null ? "null" : "none") + ")");
        }
        Set<EmaListener> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (EmaListener averager : averagers) {
            if (averager == null || !seen.add(averager)) {
                throw new IllegalArgumentException("averagers should be distinct EmaListeners: each is updated once "
                        + "per epoch (got: " + (averager == null ? "null" : "the same averager twice, " + averager)
                        + ")");
            }
        }
        Collection<TrainingListener> listeners = wrapper.getListeners();
        if (listeners != null) {
            for (TrainingListener listener : listeners) {
                if (listener instanceof EmaListener) {
                    throw new IllegalArgumentException("an EmaListener is among the wrapper's listeners, where the "
                            + "workers would call it with their replicas (ParallelWrapper.Builder.build() moves the "
                            + "network's listeners to the wrapper): remove it from the network's listeners before "
                            + "building the wrapper and pass it here instead (got: " + listener + ")");
                }
            }
        }
        if (wrapper.getGradientsAccumulator() == null && wrapper.getAveragingFrequency() < 1) {
            throw new IllegalArgumentException("averagingFrequency should be >= 1 in AVERAGING mode: the wrapper "
                    + "averages its workers every averagingFrequency rounds (got: " + wrapper.getAveragingFrequency()
                    + ")");
        }
    }

    private static IllegalArgumentException notResettable(Object data) {
        return new IllegalArgumentException("data should support reset() to be read for more than one epoch (got: "
                + data.getClass().getName() + ", resetSupported() false)");
    }
}
