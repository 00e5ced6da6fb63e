package io.github.dl4jema.arbiter;

import io.github.dl4jema.EmaListener;
import java.io.Serial;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicLong;
import org.deeplearning4j.arbiter.optimize.api.Candidate;
import org.deeplearning4j.arbiter.task.TaskListener;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An Arbiter {@link TaskListener} that trains every search candidate with its own, fresh weight average, has Arbiter
 * score the candidate on its averaged weights, and hands the averaged network to the result saver.
 *
 * <pre>{@code
 * AveragingSpace averaging = AveragingSpace.builder().decay(0.9, 0.9999).build();
 * AveragingTaskListener averager = AveragingTaskListener.searching(averaging).build();
 * OptimizationConfiguration conf = new OptimizationConfiguration.Builder()
 *         .candidateGenerator(new RandomSearchGenerator(averaging.alongside(multiLayerSpace), null))
 *         .dataProvider(data).modelSaver(new FileModelSaver(dir)).scoreFunction(new EvaluationScoreFunction(ACCURACY))
 *         .terminationConditions(new MaxCandidatesCondition(8)).build();
 * IOptimizationRunner runner = new LocalOptimizationRunner(2, conf, new MultiLayerNetworkTaskCreator(null, averager));
 * runner.execute();
 * averager.candidates();   // what each candidate's average did, by candidate index
 * }</pre>
 * Use it with {@code MultiLayerNetworkTaskCreator(evaluator, taskListener)} or
 * {@code ComputationGraphTaskCreator(evaluator, taskListener)}.
 *
 * <h2>Scoring on the average</h2>
 * Arbiter's task trains the candidate (a fixed number of {@code fit} epochs, or DL4J's early-stopping trainer), then
 * calls the score function, then {@link #postProcess}, then the result saver. So the average has to be in the
 * network when training ends, and nothing tells a listener which epoch is the last: early stopping decides that
 * after the epoch. Each candidate's listener therefore scores on its average
 * ({@link EmaListener.Builder#scoreOnAverage()}; a factory's listener must be built with it): it swaps the average in
 * at the end of every epoch and the training weights back at the start of the next. Whatever looks at the network
 * between epochs sees the average: Arbiter's score function, early stopping's per-epoch score (so early stopping
 * selects its best epoch on averaged weights, which is the model selection the paper argues for) and its best-model
 * copy. Any score function works unchanged, and the search needs no count of epochs.
 *
 * <p>Then {@link #postProcess} makes the network hold the average for good ({@code setParams}), closes the swap and
 * removes the candidate's listener from the network, so that an in-memory saver keeps no listener or average
 * buffer; with {@link Builder#keepTrainingWeights()} it restores the training weights instead, and the saved model
 * is the one that trained (the score is still that of the average). In {@link io.github.dl4jema.AverageMode#WRITE_BACK}
 * the network already holds the average and nothing is swapped. With early stopping Arbiter saves the trainer's
 * copy of the best epoch, which holds that epoch's average whatever the option says.
 *
 * <h2>Concurrency and failures</h2>
 * {@code LocalOptimizationRunner} trains several candidates at once and shares one task listener between them. This
 * class keeps no per-candidate state in itself except {@link CandidateAveraging} records of plain values: each
 * candidate's {@link EmaListener} and its buffers hang on that candidate's network only, and go away with it. A
 * candidate that fails during training is never post-processed by Arbiter; its record stays
 * {@link CandidateAveraging.Outcome#TRAINING} and nothing of it is reachable from here. Events before epoch
 * {@code startEpoch + 1} are not forwarded to the candidate's listener.
 */
public final class AveragingTaskListener implements TaskListener {

    @Serial
    private static final long serialVersionUID = 1L;

    private static final Logger log = LoggerFactory.getLogger(AveragingTaskListener.class);

    private final AveragerFactory factory;
    private final AveragingSpace space;
    private final AveragingSettings fixed;
    private final boolean keepTrainingWeights;
    private final AtomicLong listenersMade = new AtomicLong();
    private final ConcurrentMap<Integer, CandidateAveraging> records = new ConcurrentHashMap<>();

    private AveragingTaskListener(Builder builder) {
        this.factory = builder.factory;
        this.space = builder.space;
        this.fixed = builder.fixed;
        this.keepTrainingWeights = builder.keepTrainingWeights;
    }

    /**
     * Averaging settings searched by Arbiter: each candidate gets a listener with the settings
     * {@link AveragingSpace#settingsOf(Candidate)} reads from its hyperparameters. Search
     * {@code space.alongside(networkSpace)}.
     *
     * @param space the averaging space that is part of the searched space
     * @return a builder
     * @throws IllegalArgumentException if {@code space} is null
     */
    public static Builder searching(AveragingSpace space) {
        if (space == null) {
            throw new IllegalArgumentException("space should be the AveragingSpace searched alongside the network "
                    + "space (got: null)");
        }
        return new Builder(null, space, null);
    }

    /**
     * The same averaging settings for every candidate (each still gets its own listener).
     *
     * @param settings the settings, such as {@code AveragingSettings.exponential(0.99)}
     * @return a builder
     * @throws IllegalArgumentException if {@code settings} is null
     */
    public static Builder withSettings(AveragingSettings settings) {
        if (settings == null) {
            throw new IllegalArgumentException("settings should be AveragingSettings such as "
                    + "AveragingSettings.exponential(0.99) (got: null)");
        }
        return new Builder(null, null, settings);
    }

    /**
     * Listeners made by a factory, for any {@link EmaListener} configuration:
     * {@code withFactory(c -> EmaListener.simpleMovingAverage().scoreOnAverage().build())}: the listener must score on
     * its average ({@link EmaListener.Builder#scoreOnAverage()}). Averaging starts when the listener's own
     * schedule says.
     *
     * @param factory makes a new, unbound listener per call
     * @return a builder
     * @throws IllegalArgumentException if {@code factory} is null
     */
    public static Builder withFactory(AveragerFactory factory) {
        if (factory == null) {
            throw new IllegalArgumentException("factory should make a new EmaListener per candidate (got: null)");
        }
        return new Builder(factory, null, null);
    }

    /**
     * Gives the candidate's network a fresh listener and records the settings. Called by Arbiter's task, on the
     * thread that trains the candidate, after {@code init()} and before training.
     *
     * @param model     the candidate's network
     * @param candidate the candidate
     * @param <T>       the network type
     * @return the same network, with the averaging listener added
     * @throws IllegalArgumentException if {@code model} is not a {@code MultiLayerNetwork} or {@code ComputationGraph}
     * @throws IllegalStateException    if the factory returned a listener that is null, already has an average, or
     *                                  does not score on its average
     */
    @Override
    public <T extends Model> T preProcess(T model, Candidate candidate) {
        if (!(model instanceof MultiLayerNetwork) && !(model instanceof ComputationGraph)) {
            throw new IllegalArgumentException("model should be a MultiLayerNetwork or ComputationGraph (got: "
                    + (model == null ? "null" : model.getClass().getName()) + ")");
        }
        AveragingSettings settings = space != null ? space.settingsOf(candidate) : fixed;
        EmaListener ema = settings != null ? settings.newListener() : factory.create(candidate);
        if (ema == null || ema.snapshotCount() > 0) {
            throw new IllegalStateException("the AveragerFactory should return a new, unbound EmaListener for "
                    + "candidate " + candidate.getIndex() + " (got: " + ema + ")");
        }
        if (!ema.config().scoreOnAverage()) {
            throw new IllegalStateException("the AveragerFactory should return a listener that scores on its "
                    + "average, so that Arbiter scores candidate " + candidate.getIndex() + " on it: add "
                    + ".scoreOnAverage() to its builder (got: " + ema + ")");
        }
        int startEpoch = settings == null ? 0 : settings.startEpoch();
        int index = candidate.getIndex();
        records.put(index, new CandidateAveraging(index, listenersMade.incrementAndGet(), ema.config(), settings,
                startEpoch, 0, 0, CandidateAveraging.Outcome.TRAINING));
        CandidateAverager averager = new CandidateAverager(ema, startEpoch,
                (epochs, snapshots) -> records.computeIfPresent(index, (i, r) -> r.withProgress(epochs, snapshots)));
        model.addListeners(averager);
        log.debug("Candidate {} averages with {}", index, ema);
        return model;
    }

    /**
     * Leaves the averaged weights in the network for good (or restores the training weights if so configured), and
     * removes the candidate's listener from it. Called by Arbiter after scoring, before saving.
     *
     * @param model     the trained network (with early stopping, the trainer's copy of the best epoch)
     * @param candidate the candidate
     */
    @Override
    public void postProcess(Model model, Candidate candidate) {
        if (model == null) {
            return;
        }
        CandidateAverager averager = detach(model);
        CandidateAveraging.Outcome outcome = averager == null ? CandidateAveraging.Outcome.BEST_EPOCH_COPY_SAVED
                : averager.finish(model, keepTrainingWeights);
        records.computeIfPresent(candidate.getIndex(), (i, r) -> r.withOutcome(outcome));
    }

    /**
     * What averaging did for each candidate that reached training, by Arbiter's candidate index. Safe to call
     * during the search.
     *
     * @return an immutable snapshot, sorted by index
     */
    public Map<Integer, CandidateAveraging> candidates() {
        return Collections.unmodifiableMap(new TreeMap<>(records));
    }

    /** @return the number of listeners made so far: one per candidate that reached training */
    public long listenersMade() {
        return listenersMade.get();
    }

    /** @return true if the saved model keeps the training weights instead of the average; default false */
    public boolean keepsTrainingWeights() {
        return keepTrainingWeights;
    }

    private static CandidateAverager detach(Model model) {
        Collection<TrainingListener> listeners = model instanceof MultiLayerNetwork mln ? mln.getListeners()
                : model instanceof ComputationGraph graph ? graph.getListeners() : null;
        if (listeners == null) {
            return null;
        }
        CandidateAverager found = null;
        List<TrainingListener> kept = new ArrayList<>();
        for (TrainingListener listener : listeners) {
            if (listener instanceof CandidateAverager averager) {
                found = averager;
            } else {
                kept.add(listener);
            }
        }
        if (found != null) {
            model.setListeners(kept);
        }
        return found;
    }

    @Override
    public String toString() {
        String source = space != null ? "searching " + space : fixed != null ? "settings " + fixed : "factory "
                + factory;
        return "AveragingTaskListener{" + source + ", keepTrainingWeights=" + keepTrainingWeights + "}";
    }

    /** Builds an {@link AveragingTaskListener}; start from {@link #searching}, {@link #withSettings} or {@link #withFactory}. */
    public static final class Builder {

        private final AveragerFactory factory;
        private final AveragingSpace space;
        private final AveragingSettings fixed;
        private boolean keepTrainingWeights;

        private Builder(AveragerFactory factory, AveragingSpace space, AveragingSettings fixed) {
            this.factory = factory;
            this.space = space;
            this.fixed = fixed;
        }

        /**
         * Whether the saved model keeps the training weights rather than the average. Default false: the saver gets
         * the averaged network, the one that was scored. The score is always that of the average.
         *
         * @param keep true to save the training weights
         * @return this builder
         */
        public Builder keepTrainingWeights(boolean keep) {
            this.keepTrainingWeights = keep;
            return this;
        }

        /** @return this builder, saving the training weights ({@code keepTrainingWeights(true)}) */
        public Builder keepTrainingWeights() {
            return keepTrainingWeights(true);
        }

        /** @return the task listener, to share between all tasks of one search */
        public AveragingTaskListener build() {
            return new AveragingTaskListener(this);
        }
    }
}
