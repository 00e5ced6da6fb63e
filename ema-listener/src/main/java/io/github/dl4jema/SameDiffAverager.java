package io.github.dl4jema;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.ref.WeakReference;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.autodiff.listeners.At;
import org.nd4j.autodiff.listeners.BaseListener;
import org.nd4j.autodiff.listeners.ListenerResponse;
import org.nd4j.autodiff.listeners.Loss;
import org.nd4j.autodiff.listeners.Operation;
import org.nd4j.autodiff.listeners.records.LossCurve;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * Weight averaging for SameDiff graphs: a SameDiff {@code Listener} that keeps a moving average of a graph's
 * trainable variables while {@code sd.fit(...)} trains it, with the rules, schedules, placements, state and guarantees
 * of {@link EmaListener} (which does the same for {@code MultiLayerNetwork} and {@code ComputationGraph}), from the
 * same core: the rule gives each update's decay, the in-place lerp kernel blends, the NaN guard and the placement
 * (write-back or shadow) are the network listener's own.
 *
 * <pre>{@code
 * SameDiffAverager ema = SameDiffAverager.exponential(0.99).build();   // shadow average, updated every iteration
 * sd.fit(trainIterator, 10, ema);                                       // or sd.addListeners(ema) once
 * try (AverageSwap swap = ema.swapIn(sd)) {
 *     sd.evaluate(testIterator, "out", evaluation);                     // scored on the averaged weights
 * }                                                                     // training weights restored, bit for bit
 * }</pre>
 *
 * <p>What is averaged: the graph's trainable variables, those of {@code VariableType.VARIABLE} with a
 * floating-point type (the ones {@code fit} updates), or a selection of them by name
 * ({@link Builder#variables(String...)}). They are laid end to end in name order: each update blends each variable's
 * own array, seen as a vector, into its range of one flat average (no copy of the weights), allocation-free after the
 * first update. Constants and placeholders are never touched.
 *
 * <p>When: epoch updates run in {@code epochEnd}, iteration updates in {@code iterationDone}, which
 * {@code SameDiff.fit} calls after the updater has changed the variables (it calls it on the graph's gradient
 * function, which shares the variables' arrays; the averager maps it to the graph). Epochs and iterations are counted
 * by the averager itself from the first one it sees, never read from the graph's {@code TrainingConfig}; a restored
 * averager counts on. {@code sd.fit(DataSet)} and {@code sd.fit(MultiDataSet)} train one minibatch without epoch
 * events: with them, use an iteration schedule or call {@link #update(SameDiff)} yourself.
 *
 * <p>One averager averages one graph: the first update binds it (held weakly), and it refuses any other from then on,
 * before that graph trains. Several averagers can ride one graph, each with its own average and
 * {@linkplain Builder#name(String) name}; while any of them has its average swapped in, all of them refuse to update
 * (a {@code fit} they listen to fails at its first iteration, before it trains). Attach an averager once: as a
 * graph-wide listener ({@code sd.addListeners}) or in {@code fit}'s listeners, not both (SameDiff would call it twice
 * per event; it refuses).
 *
 * <p>The state survives a restart: {@link #save(SameDiff, File, SameDiffAverager...)} writes the graph with its
 * updater state (the file {@code sd.save(file, true)} writes) and the averagers' states beside it, in
 * {@link #stateFile(File)}; {@link #restore(File, SameDiff)} attaches a state to the graph loaded from that file
 * ({@code SameDiff.load(file, true)}), after checking the variables' names, shapes and type and a digest of their
 * weights. Bad input never corrupts anything: every check runs before the first write, so a rejected update leaves
 * the graph and the average exactly as they were.
 */
public final class SameDiffAverager extends BaseListener {

    private static final String SUBJECT = "a SameDiff graph";

    private final EmaConfig config;

    /** Null until the first update binds the averager (or a restore creates it bound). */
    private SameDiffBinding binding;
    private RunningAverage average;
    /** The graph of the last {@code iterationStart}: {@code iterationDone} comes from its gradient function. */
    private WeakReference<SameDiff> training = new WeakReference<>(null);
    /** The {@code At} of the last {@code iterationStart} and its iteration: a second call with both is a duplicate. */
    private At lastStart;
    private int lastStartIteration;

    private SameDiffAverager(EmaConfig config) {
        this.config = config;
    }

    /**
     * A builder for an averager with the given rule; every other option starts at its default (every epoch, shadow,
     * all trainable variables, skip NaN/infinite updates, named after the rule).
     *
     * @param rule the averaging rule, such as {@link AveragingRule#simple()}
     * @return a builder
     * @throws IllegalArgumentException if {@code rule} is null
     */
    public static Builder builder(AveragingRule rule) {
        return new Builder(EmaListener.builder(rule));
    }

    /**
     * The seed's reference configuration, as {@link EmaListener#seedRule()}: the {@link AveragingRule#seed()} rule at
     * the end of every epoch, written back into the graph's variables. Beware: restarting every epoch from the
     * cumulative average slows learning (see {@link EmaListener#seedRule()} for the numbers).
     *
     * @return a builder with the seed's settings
     */
    public static Builder seedRule() {
        return new Builder(EmaListener.seedRule());
    }

    /**
     * The paper's reference code, as {@link EmaListener#simpleMovingAverage()}: the simple average of the weights
     * after iterations 99, 100, …, N (1-based), kept as a shadow ({@code startingAfter(98)} iterations).
     *
     * @return a builder with the paper's reference settings
     */
    public static Builder simpleMovingAverage() {
        return new Builder(EmaListener.simpleMovingAverage());
    }

    /**
     * An exponential moving average updated after every iteration and kept as a shadow, as
     * {@link EmaListener#exponential(double)}. Match the decay to the number of updates: 0.999 needs thousands of
     * iterations, 0.99 suits hundreds.
     *
     * @param decay the decay, in {@code (0, 1)}
     * @return a builder
     * @throws IllegalArgumentException if {@code decay} is NaN or outside {@code (0, 1)}
     */
    public static Builder exponential(double decay) {
        return new Builder(EmaListener.exponential(decay));
    }

    // ---------------------------------------------------------------- saving and restoring

    /**
     * Where the averaging states of the graph saved in {@code sameDiffFile} are kept: the zip
     * {@code <sameDiffFile>.dl4j-ema.zip} beside it, with the entries of {@link EmaState} ({@code dl4j-ema/<name>/}).
     * SameDiff's own file is FlatBuffers, which has no room for other entries.
     *
     * @param sameDiffFile the graph's file
     * @return the state file beside it
     * @throws IllegalArgumentException if {@code sameDiffFile} is null
     */
    public static File stateFile(File sameDiffFile) {
        if (sameDiffFile == null) {
            throw new IllegalArgumentException("file should be the graph's file (got: null)");
        }
        return new File(sameDiffFile.getPath() + ".dl4j-ema.zip");
    }

    /**
     * Writes the graph with its updater state (what {@code sd.save(file, true)} writes, so that training resumes
     * exactly) and the states of the given averagers into {@link #stateFile(File)} beside it, each file atomically
     * (a new copy beside it, renamed over the old one). A state file left from an earlier save is replaced. Resume
     * with {@code SameDiff.load(file, true)} and {@link #restoreAll(File, SameDiff)}.
     *
     * <p>The two files are written one after the other: if the second write fails, the graph file is new and the
     * state file old, and restoring refuses the old states (their weights digest differs) instead of mixing them.
     *
     * @param sd           the graph
     * @param sameDiffFile the file to write the graph to; replaced if it exists
     * @param averagers    averagers bound to {@code sd} (or not yet bound)
     * @throws IOException              if a file cannot be written; it is then unchanged
     * @throws IllegalArgumentException if an argument is null, two averagers share a name, or one averages another
     *                                  graph
     * @throws IllegalStateException    if an average is swapped into the graph
     */
    public static void save(SameDiff sd, File sameDiffFile, SameDiffAverager... averagers) throws IOException {
        SameDiffStates.save(sd, sameDiffFile, averagers);
    }

    /**
     * Saves this averager's state into {@link #stateFile(File)} beside a graph file, replacing a state of the same
     * name there and keeping the others. Call it right after {@code sd.save(sameDiffFile, true)}: the state records a
     * digest of the graph's current weights, and {@link #restore(File, SameDiff)} refuses a graph holding others.
     * Or use {@link #save(SameDiff, File, SameDiffAverager...)} to write both. The state file is replaced atomically.
     *
     * @param sameDiffFile an existing graph file written by {@code sd.save}
     * @throws IOException              if the state file cannot be read or written; it is then unchanged
     * @throws IllegalArgumentException if {@code sameDiffFile} does not exist
     * @throws IllegalStateException    if an average is swapped into the graph
     */
    public void saveTo(File sameDiffFile) throws IOException {
        SameDiffStates.saveBeside(sameDiffFile, stateForSaving(null));
    }

    /**
     * The averager saved beside a graph file, attached to {@code sd}, the graph loaded from that file
     * ({@code SameDiff.load(file, true)}): training goes on as if it had never stopped. The state file must hold
     * exactly one state; see {@link #restore(File, SameDiff, RestoreOptions)} and {@link #restoreAll(File, SameDiff)}.
     *
     * @param sameDiffFile the graph's file
     * @param sd           the graph to attach to; it must hold the weights the state was saved with
     * @return the restored averager, bound to {@code sd} (add it to the graph's listeners or to {@code fit})
     * @throws IOException              if the state file cannot be read
     * @throws IllegalArgumentException if there is no state, several, or one that does not belong to {@code sd}
     *                                  (the message says what differs)
     */
    public static SameDiffAverager restore(File sameDiffFile, SameDiff sd) throws IOException {
        return SameDiffStates.restore(sameDiffFile, sd, RestoreOptions.defaults());
    }

    /**
     * The averager saved beside a graph file, attached to {@code sd}, with options: a name, a custom rule, or
     * {@link RestoreOptions#acceptOtherWeights()} to attach it to a graph with other weights on purpose.
     *
     * @param sameDiffFile the graph's file
     * @param sd           the graph to attach to
     * @param options      which state and how strictly
     * @return the restored averager, bound to {@code sd}
     * @throws IOException              if the state file cannot be read
     * @throws IllegalArgumentException if the state is missing, malformed, needs a custom rule, or does not belong
     *                                  to {@code sd}
     */
    public static SameDiffAverager restore(File sameDiffFile, SameDiff sd, RestoreOptions options)
            throws IOException {
        return SameDiffStates.restore(sameDiffFile, sd, options);
    }

    /**
     * Every averager saved beside a graph file, attached to {@code sd}, in the order they were saved.
     *
     * @param sameDiffFile the graph's file
     * @param sd           the graph loaded from it
     * @return the restored averagers, bound to {@code sd}; empty if there is no state file
     * @throws IOException              if the state file cannot be read
     * @throws IllegalArgumentException as {@link #restore(File, SameDiff)}
     */
    public static List<SameDiffAverager> restoreAll(File sameDiffFile, SameDiff sd) throws IOException {
        return SameDiffStates.restoreAll(sameDiffFile, sd);
    }

    /**
     * An averager that resumes from a state taken with {@link #state()}, attached to {@code sd}, with the same
     * checks as {@link #restore(File, SameDiff)}.
     *
     * @param state              the state
     * @param sd                 the graph to attach to
     * @param acceptOtherWeights true to accept a graph whose weights differ from those of the state
     * @return the averager, bound to {@code sd}, holding a copy of the state's average
     * @throws IllegalArgumentException if an argument is null or the state does not belong to {@code sd}
     */
    public static SameDiffAverager fromState(EmaState state, SameDiff sd, boolean acceptOtherWeights) {
        return SameDiffStates.attach(state, sd, acceptOtherWeights);
    }

    /** An averager bound to {@code sd} that continues {@code state} with {@code savedAverage}; checks done. */
    static SameDiffAverager resumed(EmaState state, INDArray savedAverage, SameDiff sd,
                                    Map<String, INDArray> selected, ParameterLayout layout) {
        SameDiffAverager averager = new SameDiffAverager(state.config());
        averager.bindTo(sd, selected, layout, true);
        averager.average.resume(savedAverage, state.snapshots(), state.lastStep(), state.skippedUpdates());
        return averager;
    }

    /**
     * The state to save beside {@code sd} (or beside the bound graph if null).
     *
     * @throws IllegalStateException if a swap is open on the graph, or {@code sd} is another graph
     */
    synchronized EmaState stateForSaving(SameDiff sd) {
        if (sd != null) {
            bind(sd, false);
        }
        SameDiff bound = binding == null ? null : binding.graph();
        if (bound != null) {
            ModelSlot.of(bound).refuseSaveWhileSwapped();
        }
        return state();
    }

    // ---------------------------------------------------------------- callbacks

    /**
     * Only training: SameDiff also calls listeners in inference and validation, where there is nothing to average.
     *
     * @param operation the operation SameDiff is running
     * @return true for {@code Operation.TRAINING}
     */
    @Override
    public boolean isActive(Operation operation) {
        return operation == Operation.TRAINING;
    }

    /**
     * Refuses to start an epoch of another graph than the bound one, or while an average is swapped into the graph,
     * before anything trains.
     */
    @Override
    public synchronized void epochStart(SameDiff sd, At at) {
        bind(sd, false);
        ModelSlot.of(sd).refuseUpdateWhileSwapped(this);
    }

    /**
     * Refuses an iteration of another graph than the bound one, while an average is swapped in, or when SameDiff
     * calls this averager twice for one event (attached both graph-wide and in {@code fit}), before the iteration
     * trains; remembers the graph, whose gradient function will call {@link #iterationDone}.
     */
    @Override
    public synchronized void iterationStart(SameDiff sd, At at, MultiDataSet data, long etlTimeMs) {
        if (at != null && at == lastStart && at.iteration() == lastStartIteration) {
            throw new IllegalStateException(label() + " was called twice for one iteration: it is attached twice, "
                    + "as a graph-wide listener (sd.addListeners/setListeners) and in fit(..., listeners), or twice "
                    + "in one of them. Attach it once; nothing was changed (got: iteration " + at.iteration() + ")");
        }
        lastStart = at;
        lastStartIteration = at == null ? -1 : at.iteration();
        bind(sd, false);
        ModelSlot.of(sd).refuseUpdateWhileSwapped(this);
        if (training.get() != sd) {
            training = new WeakReference<>(sd);
        }
    }

    /**
     * Takes a snapshot if the schedule counts iterations and this iteration is due; the iteration is the averager's
     * own 1-based count of iterations it has seen. SameDiff calls it after the updater changed the variables.
     */
    @Override
    public synchronized void iterationDone(SameDiff sd, At at, MultiDataSet dataSet, Loss loss) {
        if (config.schedule().unit() == UpdateSchedule.Unit.ITERATION) {
            unitEnded(SameDiffBinding.trainingGraph(training.get(), sd));
        }
    }

    /**
     * Takes a snapshot if the schedule counts epochs and this epoch is due; the epoch is the averager's own 1-based
     * count of epoch ends it has seen.
     *
     * @return {@code ListenerResponse.CONTINUE}: the averager never stops training
     */
    @Override
    public synchronized ListenerResponse epochEnd(SameDiff sd, At at, LossCurve lossCurve, long epochTimeMillis) {
        if (config.schedule().unit() == UpdateSchedule.Unit.EPOCH) {
            unitEnded(sd);
        }
        return ListenerResponse.CONTINUE;
    }

    private void unitEnded(SameDiff sd) {
        bind(sd, true);
        long step = average.lastStep() + 1;
        if (!config.schedule().isDue(step)) {
            average.pass(step);
            return;
        }
        snapshot(sd, step);
    }

    // ---------------------------------------------------------------- manual update

    /**
     * Takes a snapshot now, as the next step: {@code update(sd, lastStep() + 1)}. The schedule is not consulted.
     *
     * @param sd the graph this averager averages
     * @return true if the snapshot was taken, false if it was skipped for NaN/infinite values
     * @throws IllegalArgumentException if {@code sd} is null or the selection does not fit it
     * @throws IllegalStateException    if the graph has no trainable variable, is not the one this averager is bound
     *                                  to, changed the shape or type of a variable, an average is swapped into it, or
     *                                  the rule returned an invalid decay
     * @throws NonFiniteParametersException under {@link NonFinitePolicy#FAIL} if the variables hold NaN/infinity
     */
    public synchronized boolean update(SameDiff sd) {
        return update(sd, (average == null ? 0 : average.lastStep()) + 1);
    }

    /**
     * Takes a snapshot now, as 1-based step {@code step} (the value a custom rule sees). The schedule is not
     * consulted. All checks run before anything is written: a rejected update leaves the graph and the average
     * exactly as they were.
     *
     * @param sd   the graph this averager averages
     * @param step the 1-based step number, {@code ≥ 1}
     * @return true if the snapshot was taken, false if it was skipped for NaN/infinite values
     * @throws IllegalArgumentException if {@code sd} is null, or {@code step < 1}
     * @throws IllegalStateException    as {@link #update(SameDiff)}
     * @throws NonFiniteParametersException as {@link #update(SameDiff)}
     */
    public synchronized boolean update(SameDiff sd, long step) {
        if (step < 1) {
            throw new IllegalArgumentException("step should be >= 1 (got: " + step + ")");
        }
        bind(sd, true);
        return snapshot(sd, step);
    }

    private boolean snapshot(SameDiff sd, long step) {
        ModelSlot.of(sd).refuseUpdateWhileSwapped(this);
        return average.update(binding.vectors(sd), step, SUBJECT);
    }

    // ---------------------------------------------------------------- access to the average

    /**
     * Copies of the selected variables with the average in place of their values, by name (in name order), in the
     * variables' shapes and type; before the first snapshot, copies of the variables themselves (the average follows
     * the weights until it starts).
     *
     * @param sd the graph this averager averages
     * @return new arrays, detached from any workspace
     * @throws IllegalArgumentException if {@code sd} is null or the selection does not fit it
     * @throws IllegalStateException    if the graph is not the bound one or its variables changed
     */
    public synchronized Map<String, INDArray> averagedVariables(SameDiff sd) {
        bind(sd, false);
        Map<String, INDArray> current;
        if (binding == null) {
            SameDiffBinding.require(sd);
            current = SameDiffBinding.selected(sd, config.selection());
        } else {
            current = binding.arrays(sd);
        }
        Map<String, INDArray> copies = new LinkedHashMap<>();
        INDArray[] vectors = new INDArray[current.size()];
        int i = 0;
        for (Map.Entry<String, INDArray> e : current.entrySet()) {
            INDArray copy = SavedStates.detachedCopy(e.getValue()).reshape('c', e.getValue().shape());
            copies.put(e.getKey(), copy);
            vectors[i++] = copy.reshape('c', new long[] {copy.length()});
        }
        if (average != null && average.average() != null) {
            average.writeInto(vectors);
        }
        return copies;
    }

    /**
     * Puts the average into the graph's variables until the returned swap is closed, which restores the training
     * weights exactly. For evaluation in shadow mode: {@code try (AverageSwap s = ema.swapIn(sd)) { sd.output(...); }}.
     * While it is open, every averager on the graph refuses to update and to save, and a {@code fit} they listen to
     * fails at its first iteration. Swaps of several averagers may be open at once and closed in any order. The first
     * swap backs up every trainable variable of the graph; the last close releases the backup.
     *
     * @param sd the graph this averager averages
     * @return the open swap (one that changes nothing before the first snapshot)
     * @throws IllegalArgumentException if {@code sd} is null
     * @throws IllegalStateException    if the graph is not the bound one or its variables changed
     */
    public synchronized AverageSwap swapIn(SameDiff sd) {
        bind(sd, false);
        if (average == null || average.average() == null) {
            return () -> { };
        }
        INDArray[] vectors = binding.vectors(sd);
        RunningAverage held = average;
        return ModelSlot.of(sd).open(SameDiffBinding.trainable(sd).values().toArray(new INDArray[0]), this,
                () -> held.writeInto(vectors), false);
    }

    /**
     * A new graph carrying the averaged variables ({@link #averagedVariables(SameDiff)}), for saving or serving; the
     * training graph is not touched. The copy is {@code sd}'s FlatBuffers form read back, as {@code sd.dup()}, but
     * without the updater state: it has the graph's training configuration and no listeners, and fine-tuning it starts
     * a fresh optimizer.
     *
     * @param sd the graph this averager averages
     * @return the new graph
     * @throws IllegalArgumentException if {@code sd} is null
     * @throws IllegalStateException    if the graph is not the bound one or its variables changed
     */
    public synchronized SameDiff averagedCopy(SameDiff sd) {
        Map<String, INDArray> averaged = averagedVariables(sd);
        SameDiff copy;
        try {
            copy = SameDiff.fromFlatBuffers(sd.asFlatBuffers(false), false);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot copy " + SameDiffBinding.describe(sd), e);
        }
        for (Map.Entry<String, INDArray> e : averaged.entrySet()) {
            copy.getArrForVarName(e.getKey()).assign(e.getValue());
        }
        return copy;
    }

    // ---------------------------------------------------------------- state

    /** @return the configuration */
    public EmaConfig config() {
        return config;
    }

    /** @return the averager's name, the key of its state in the state file */
    public String name() {
        return config.name();
    }

    /** @return the number of snapshots in the average, 0 before the first update */
    public synchronized long snapshotCount() {
        return average == null ? 0 : average.snapshots();
    }

    /** @return the averager's own 1-based count of the last epoch or iteration it saw (or manual step), 0 if none */
    public synchronized long lastStep() {
        return average == null ? 0 : average.lastStep();
    }

    /** @return the number of updates skipped because the variables held NaN or infinite values */
    public synchronized long skippedUpdates() {
        return average == null ? 0 : average.skippedUpdates();
    }

    /**
     * A copy of the state: configuration, average (the selected variables end to end, in name order), counts, and
     * what it belongs to (the variables' names, shapes and type, a digest of their current weights, and the graph's
     * {@code TrainingConfig} epoch and iteration counts).
     *
     * @return the state, independent of this averager
     */
    public synchronized EmaState state() {
        if (average == null) {
            return new EmaState(config, null, null, 0, 0, 0, null, -1, -1);
        }
        SameDiff bound = binding.graph();
        return new EmaState(config, binding.layout(),
                average.average() == null ? null : SavedStates.detachedCopy(average.average()),
                average.snapshots(), average.lastStep(), average.skippedUpdates(),
                bound == null ? null : binding.digest(bound), SameDiffBinding.epochCount(bound),
                SameDiffBinding.iterationCount(bound));
    }

    /**
     * Prints the configuration and the snapshot count.
     *
     * @return a description of this averager
     */
    @Override
    public String toString() {
        return "SameDiffAverager{" + config + ", snapshots=" + (average == null ? 0 : average.snapshots()) + "}";
    }

    // ---------------------------------------------------------------- binding

    /**
     * Checks the graph and, with {@code forUpdate}, binds to it. Writes nothing that a failure could undo. Only
     * updates bind: reading the average from an unbound averager leaves it unbound.
     */
    private void bind(SameDiff sd, boolean forUpdate) {
        if (binding != null && binding.isFor(sd)) {
            return;
        }
        if (sd == null) {
            throw new IllegalArgumentException("graph should be a SameDiff instance (got: null)");
        }
        if (binding != null) {
            throw binding.otherGraph(sd, label());
        }
        if (forUpdate) {
            SameDiffBinding.require(sd);
            Map<String, INDArray> selected = SameDiffBinding.selected(sd, config.selection());
            bindTo(sd, selected, SameDiffBinding.layoutOf(selected), false);
        }
    }

    private void bindTo(SameDiff sd, Map<String, INDArray> selected, ParameterLayout layout, boolean restoring) {
        SameDiffBinding bound = SameDiffBinding.bind(sd, selected, layout, config, this, restoring);
        average = new RunningAverage(config, bound.ranges(), layout.length(), layout.type());
        binding = bound;
    }

    private String label() {
        return "SameDiffAverager '" + config.name() + "'";
    }

    // ---------------------------------------------------------------- builder

    /**
     * Builds a {@link SameDiffAverager}; every method validates its argument at once, with the checks and messages
     * of {@link EmaListener.Builder}. Defaults: every epoch ({@link UpdateSchedule#DEFAULT}),
     * {@link AverageMode#SHADOW}, all trainable variables ({@link ParameterSelection#all()}),
     * {@link NonFinitePolicy#SKIP}, the name {@link EmaConfig#defaultName(AveragingRule)}.
     */
    public static final class Builder {

        private final EmaListener.Builder options;

        private Builder(EmaListener.Builder options) {
            this.options = options;
        }

        /**
         * The averager's name: the key its state is saved under in the state file. Averagers on one graph need
         * distinct names. Default {@link EmaConfig#defaultName(AveragingRule)}, such as {@code simple}.
         *
         * @param name 1 to 64 letters, digits, {@code .}, {@code _} or {@code -}
         * @return this builder
         * @throws IllegalArgumentException if {@code name} is not such a name
         */
        public Builder name(String name) {
            options.name(name);
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
            options.schedule(schedule);
            return this;
        }

        /**
         * @return this builder, with a snapshot at every epoch end, in {@code epochEnd} (keeps the start)
         * @throws IllegalArgumentException if a start was already given in iterations
         */
        public Builder everyEpoch() {
            options.everyEpoch();
            return this;
        }

        /**
         * A snapshot at the end of every {@code n}-th epoch (keeps the start, which must be in epochs).
         *
         * @param n epochs between snapshots, {@code ≥ 1}
         * @return this builder
         * @throws IllegalArgumentException if {@code n < 1}, or a start was already given in iterations
         */
        public Builder everyNEpochs(long n) {
            options.everyNEpochs(n);
            return this;
        }

        /**
         * @return this builder, with a snapshot after every iteration, in {@code iterationDone} (keeps the start)
         * @throws IllegalArgumentException if a start was already given in epochs
         */
        public Builder everyIteration() {
            options.everyIteration();
            return this;
        }

        /**
         * A snapshot after every {@code n}-th iteration (keeps the start, which must be in iterations).
         *
         * @param n iterations between snapshots, {@code ≥ 1}
         * @return this builder
         * @throws IllegalArgumentException if {@code n < 1}, or a start was already given in epochs
         */
        public Builder everyNIterations(long n) {
            options.everyNIterations(n);
            return this;
        }

        /**
         * Averaging starts after this many epochs or iterations, in the unit the schedule counts now (so choose the
         * unit first); before, the average follows the weights. Default 0.
         *
         * @param units units to train first, {@code ≥ 0}
         * @return this builder
         * @throws IllegalArgumentException if {@code units < 0}
         */
        public Builder startingAfter(long units) {
            options.startingAfter(units);
            return this;
        }

        /**
         * Averaging starts after a fraction of a planned run of {@code totalUnits} epochs or iterations, in the unit
         * the schedule counts now (so choose the unit first). See
         * {@link UpdateSchedule#startingAtFraction(double, long)}.
         *
         * @param fraction   in {@code [0, 1)}
         * @param totalUnits the planned run length, {@code ≥ 1}
         * @return this builder
         * @throws IllegalArgumentException if an argument is out of range
         */
        public Builder startingAtFraction(double fraction, long totalUnits) {
            options.startingAtFraction(fraction, totalUnits);
            return this;
        }

        /**
         * Where the average lives. Default {@link AverageMode#SHADOW}.
         *
         * @param mode the mode
         * @return this builder
         * @throws IllegalArgumentException if {@code mode} is null
         */
        public Builder mode(AverageMode mode) {
            options.mode(mode);
            return this;
        }

        /** @return this builder in {@link AverageMode#WRITE_BACK}: the variables are replaced by the average */
        public Builder writeBack() {
            options.writeBack();
            return this;
        }

        /** @return this builder in {@link AverageMode#SHADOW}: the variables are never touched by an update */
        public Builder shadow() {
            options.shadow();
            return this;
        }

        /**
         * Which trainable variables are averaged: {@link ParameterSelection#all()} (the default),
         * {@link ParameterSelection#keys(String...)} (these variables) or
         * {@link ParameterSelection#allExcept(String...)}, by variable name. Every name must be a trainable variable
         * of the graph, or the first update fails with a message listing them.
         *
         * @param selection the selection
         * @return this builder
         * @throws IllegalArgumentException if {@code selection} is null or selects by something other than name
         *                                  (layers, batch-norm statistics: DL4J network notions)
         */
        public Builder variables(ParameterSelection selection) {
            if (selection == null || !selection.byNameOnly()) {
                throw new IllegalArgumentException("variables should be selected by name: ParameterSelection.all(), "
                        + "keys(...) or allExcept(...) (got: " + selection + ")");
            }
            options.parameters(selection);
            return this;
        }

        /**
         * Exactly these trainable variables: {@code variables(ParameterSelection.keys(names))}.
         *
         * @param names one or more variable names
         * @return this builder
         * @throws IllegalArgumentException if no name is given or a name is null or blank
         */
        public Builder variables(String... names) {
            return variables(ParameterSelection.keys(names));
        }

        /**
         * What an update does with NaN/infinite values. Default {@link NonFinitePolicy#SKIP}.
         *
         * @param policy the policy
         * @return this builder
         * @throws IllegalArgumentException if {@code policy} is null
         */
        public Builder nonFinite(NonFinitePolicy policy) {
            options.nonFinite(policy);
            return this;
        }

        /** @return this builder with {@link NonFinitePolicy#FAIL} */
        public Builder failOnNonFinite() {
            options.failOnNonFinite();
            return this;
        }

        /** @return the averager, unbound: it binds to the first graph it updates */
        public SameDiffAverager build() {
            return new SameDiffAverager(options.config());
        }

        /** @return the configuration this builder would build */
        public EmaConfig config() {
            return options.config();
        }

        /**
         * Prints the configuration.
         *
         * @return a description of this builder
         */
        @Override
        public String toString() {
            return "SameDiffAverager.Builder{" + options.config() + "}";
        }
    }
}
