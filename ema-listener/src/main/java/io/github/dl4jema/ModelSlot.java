package io.github.dl4jema;

import java.lang.ref.Cleaner;
import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * What every averager of one model shares, for a DL4J network ({@link EmaListener}) and a SameDiff graph
 * ({@link SameDiffAverager}) alike: the names of the averagers bound to it, the swaps open on it and the one backup of
 * the training weights they restore, and, for a network, the views into its parameter buffer.
 *
 * <p>One slot per live model, found by identity ({@code MultiLayerNetwork.equals} compares parameters, so a
 * {@code WeakHashMap} would confuse two networks with equal weights). The registry holds models weakly and a slot
 * never refers to its model, so a model with averagers attached is collected as soon as the user drops it, and its
 * views and backup with it.
 *
 * <p>Swaps: whichever averager opened them, while any swap is open every averager on the model refuses to update
 * (before any of them writes), and closing the swaps in any order ends with the training weights: the first swap
 * backs up the training weights (the arrays it is given: a network's flat parameter buffer, a graph's variables),
 * each close restores them and re-applies the latest swap still open. The one exception is the epoch-end swap of an
 * averager that scores on its average ({@code scoreOnAverage}): the other averagers update on the training weights
 * underneath it, and its owner closes it at the next epoch start.
 */
final class ModelSlot {

    private static final List<Entry> SLOTS = new ArrayList<>();
    /** Drops a model's slot (and with it the views and backup it holds) once the model itself is collected. */
    private static final Cleaner CLEANER = Cleaner.create();

    private final List<Swap> openSwaps = new ArrayList<>();
    private final List<Named> names = new ArrayList<>();
    private final List<Views> views = new ArrayList<>();
    /** What the model is called in messages, and the builder that names its averagers. */
    private final String noun;
    private final String builder;
    /** While a swap is open: the arrays swapped (the training arrays) and their backup. */
    private INDArray[] swapped;
    private INDArray[] trainingWeights;
    private DataBuffer root;
    private long generation;

    private ModelSlot(Object model) {
        boolean graph = model instanceof SameDiff;
        this.noun = graph ? "graph" : "network";
        this.builder = graph ? "SameDiffAverager.Builder" : "EmaListener.Builder";
    }

    /** @return the slot of {@code model} (a DL4J network or a SameDiff graph), created on first use */
    static ModelSlot of(Object model) {
        synchronized (SLOTS) {
            for (int i = 0; i < SLOTS.size(); i++) {
                Entry entry = SLOTS.get(i);
                if (entry.get() == model) {
                    return entry.slot;
                }
            }
            Entry entry = new Entry(model, new ModelSlot(model));
            SLOTS.add(entry);
            CLEANER.register(model, () -> {
                synchronized (SLOTS) {
                    SLOTS.remove(entry);
                }
            });
            return entry.slot;
        }
    }

    // ---------------------------------------------------------------- names

    /**
     * Records that {@code owner}, named {@code name}, averages this model. With {@code takeOver} (a restored
     * averager) it replaces an averager of that name, which it supersedes.
     *
     * @param scores true if the averager scores on its average at epoch ends: at most one per network
     * @throws IllegalStateException if another live averager on this model has the same name, or also scores on
     *                               its average
     */
    synchronized void register(String name, Object owner, boolean scores, boolean takeOver) {
        names.removeIf(n -> n.owner.get() == null || (takeOver && n.name.equals(name)));
        for (Named n : names) {
            Object other = n.owner.get();
            if (other == owner) {
                continue;
            }
            if (n.name.equals(name)) {
                throw new IllegalStateException("two averagers on one " + noun + " are both named '" + name + "' ("
                        + other + " and " + owner + "); their saved states would overwrite each other. Give each "
                        + "its own name with " + builder + ".name(...)");
            }
            if (scores && n.scores) {
                throw new IllegalStateException("two averagers on one " + noun + " both score on their average ("
                        + other + " and " + owner + "); between epochs the network can hold only one average. "
                        + "Use scoreOnAverage() on one of them and swapIn(net) to evaluate the others");
            }
        }
        if (names.stream().noneMatch(n -> n.owner.get() == owner)) {
            names.add(new Named(name, new WeakReference<>(owner), scores));
        }
    }

    /** @return the live averagers registered on this model, in the order they bound */
    synchronized List<Object> averagers() {
        List<Object> live = new ArrayList<>();
        for (Named n : names) {
            Object owner = n.owner.get();
            if (owner != null) {
                live.add(owner);
            }
        }
        return live;
    }

    // ---------------------------------------------------------------- parameter views

    /**
     * Views into the network's parameter buffer for {@code ranges} (pairs {@code [from, to)} of the flat buffer),
     * cached per buffer: recreated only when the network's buffer is replaced ({@code init()}). Allocation-free when
     * cached, also for a {@code ComputationGraph}, whose {@code params()} makes a new reshaped view at every call: the
     * buffer is recognised through a layer's own parameter view.
     */
    synchronized INDArray[] views(Model model, long[] ranges) {
        DataBuffer current = rootBuffer(model);
        if (current != root || current == null) {
            views.clear();
            root = current;
            generation++;
        }
        for (int i = 0; i < views.size(); i++) {
            if (views.get(i).ranges == ranges) {
                return views.get(i).arrays;
            }
        }
        INDArray flat = model.params();
        INDArray[] arrays = slice(flat, ranges);
        views.add(new Views(ranges, arrays));
        return arrays;
    }

    /**
     * @return a number that changes whenever the network's parameter buffer was found replaced by {@link #views}
     *         (after {@code init()}): averagers then check that the layout is still the one they average
     */
    synchronized long generation() {
        return generation;
    }

    static INDArray[] slice(INDArray flat, long[] ranges) {
        INDArray[] arrays = new INDArray[ranges.length / 2];
        for (int i = 0; i < arrays.length; i++) {
            long from = ranges[2 * i];
            long to = ranges[2 * i + 1];
            arrays[i] = from == 0 && to == flat.length() ? flat : flat.get(NDArrayIndex.interval(from, to));
        }
        return arrays;
    }

    private static DataBuffer rootBuffer(Model model) {
        Layer[] layers = NetworkBinding.layers(model);
        if (layers != null) {
            for (Layer layer : layers) {
                INDArray p = layer.params();   // numParams() would iterate the layer's parameter map
                if (p != null && !p.isEmpty()) {
                    return p.data();
                }
            }
        }
        return null;
    }

    // ---------------------------------------------------------------- swaps

    /** An action run with the training weights in the network. */
    @FunctionalInterface
    interface WithTrainingWeights<T, E extends Exception> {
        T run() throws E;
    }

    /** @return true while a swap from any averager is open on this network */
    synchronized boolean swapped() {
        return !openSwaps.isEmpty();
    }

    /**
     * Before training touches the weights (an epoch start): refuses while a swap that is not an epoch-end scoring
     * swap is open. Scoring swaps are closed by their owners' own epoch start in the same round of callbacks.
     *
     * @throws IllegalStateException if a user's swap is open; says which averager opened it
     */
    synchronized void refuseTrainingWhileSwapped(Object updater) {
        Swap open = latest(false);
        if (open != null) {
            throw swappedIn(updater + " cannot train", open);
        }
    }

    /**
     * Before a parameter update is applied (gradient calculated): refuses while any swap is open, since the
     * gradient was then computed on an average.
     *
     * @throws IllegalStateException if a swap is open
     */
    synchronized void refuseUpdateWhileSwapped(Object updater) {
        Swap open = latest(true);
        if (open != null && open.scoring) {
            throw new IllegalStateException("a training iteration ran while the average of " + open.owner + " was "
                    + "swapped in for scoring at the last epoch end: no epoch start restored the training weights "
                    + "(fit(DataSet) after fit(DataSetIterator)?). Call restoreTrainingWeights(net) on the averager "
                    + "before such a fit, or train with fit(DataSetIterator) or DL4J's early-stopping trainer; "
                    + "the update was refused before the weights changed.");
        }
        if (open != null) {
            throw swappedIn(updater + " cannot update", open);
        }
    }

    /**
     * Before an averaging update: refuses while a user's swap is open; while only epoch-end scoring swaps are open,
     * puts the training weights back for the update (which may change them, in write-back mode) and returns true:
     * the caller then calls {@link #resumeScoringSwaps()} when the update is done. Allocation-free.
     *
     * @return true if scoring swaps were suspended
     * @throws IllegalStateException if a user's swap is open
     */
    synchronized boolean suspendScoringSwaps(Object updater) {
        Swap open = latest(false);
        if (open != null) {
            throw swappedIn(updater + " cannot update", open);
        }
        if (openSwaps.isEmpty()) {
            return false;
        }
        restoreTrainingWeights();
        return true;
    }

    /** After an update that {@link #suspendScoringSwaps} allowed: takes the new training weights, re-applies the average. */
    synchronized void resumeScoringSwaps() {
        if (!openSwaps.isEmpty()) {
            takeTrainingWeights();
            openSwaps.get(openSwaps.size() - 1).apply.run();
        }
    }

    /**
     * Runs {@code action} with the training weights in the model, whatever swaps are open, and puts the latest open
     * swap's average back afterwards. Saving uses it so that a model written while an average is swapped in holds its
     * training weights. The training weights are re-read after {@code action}, which may change them.
     */
    synchronized <T, E extends Exception> T withTrainingWeights(WithTrainingWeights<T, E> action) throws E {
        if (openSwaps.isEmpty()) {
            return action.run();
        }
        restoreTrainingWeights();
        try {
            return action.run();
        } finally {
            takeTrainingWeights();
            openSwaps.get(openSwaps.size() - 1).apply.run();
        }
    }

    /**
     * @throws IllegalStateException if a swap is open on this model: it holds an average in place of its training
     *                               weights, so a state saved beside a model written now would be wrong
     */
    synchronized void refuseSaveWhileSwapped() {
        Swap open = latest(true);
        if (open != null) {
            String saveAll = noun.equals("graph") ? "SameDiffAverager.save(sd, file, averagers...)"
                    : "EmaListener.save(net, file, averagers...)";
            throw new IllegalStateException("cannot save while the average of " + open.owner + " is swapped into the "
                    + noun + ": a model written now would hold an average as its training weights. Close the "
                    + "AverageSwap (or call restoreTrainingWeights(...) after scoring on the average) first, or save "
                    + "with " + saveAll + ", which writes the training weights; nothing was written.");
        }
    }

    private Swap latest(boolean includingScoring) {
        for (int i = openSwaps.size() - 1; i >= 0; i--) {
            if (includingScoring || !openSwaps.get(i).scoring) {
                return openSwaps.get(i);
            }
        }
        return null;
    }

    private IllegalStateException swappedIn(String what, Swap open) {
        return new IllegalStateException(what + ": the average of " + open.owner + " is swapped into the " + noun
                + ", so its parameters are not the training weights. Close every AverageSwap (swapIn(...)) on this "
                + noun + " before training or updating; nothing was changed.");
    }

    /**
     * Puts an average into the model until the returned swap is closed.
     *
     * @param weights the model's training arrays, which the first swap backs up and every close restores: a
     *                network's flat parameter buffer, a graph's variables (null entries are skipped)
     * @param owner   the averager (for messages)
     * @param apply   writes the owner's average into the model
     * @param scoring true for the epoch-end swap of an averager that scores on its average: closed by its owner at
     *                the next epoch start, and transparent to the other averagers' updates
     */
    synchronized AverageSwap open(INDArray[] weights, Object owner, Runnable apply, boolean scoring) {
        if (openSwaps.isEmpty()) {
            INDArray[] backup = new INDArray[weights.length];
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                for (int i = 0; i < weights.length; i++) {
                    backup[i] = weights[i] == null ? null
                            : Nd4j.createUninitialized(weights[i].dataType(), weights[i].shape());
                }
            }
            swapped = weights.clone();
            trainingWeights = backup;
            takeTrainingWeights();
        }
        Swap swap = new Swap(owner, apply, scoring);
        openSwaps.add(swap);
        apply.run();
        return swap;
    }

    private synchronized void close(Swap swap) {
        if (!openSwaps.remove(swap)) {
            return;
        }
        restoreTrainingWeights();
        if (openSwaps.isEmpty()) {
            swapped = null;
            trainingWeights = null;
        } else {
            openSwaps.get(openSwaps.size() - 1).apply.run();
        }
    }

    /** The swapped arrays ← the backup. */
    private void restoreTrainingWeights() {
        for (int i = 0; i < swapped.length; i++) {
            if (swapped[i] != null) {
                swapped[i].assign(trainingWeights[i]);
            }
        }
    }

    /** The backup ← the swapped arrays. */
    private void takeTrainingWeights() {
        for (int i = 0; i < swapped.length; i++) {
            if (swapped[i] != null) {
                trainingWeights[i].assign(swapped[i]);
            }
        }
    }

    /**
     * @param flat a network's flat parameter buffer, the one array its swaps back up
     * @return a copy of the network's training weights, outside any workspace: {@code flat}, or, while an average is
     *         swapped in, the backup beneath it
     */
    synchronized INDArray copyOfTrainingWeights(INDArray flat) {
        INDArray source = openSwaps.isEmpty() ? flat : trainingWeights[0];
        return SavedStates.detachedCopy(source);
    }

    /** @return true if the backup of the training weights is held (only while a swap is open) */
    synchronized boolean holdsBackup() {
        return trainingWeights != null;
    }

    private final class Swap implements AverageSwap {
        final Object owner;
        final Runnable apply;
        final boolean scoring;

        Swap(Object owner, Runnable apply, boolean scoring) {
            this.owner = owner;
            this.apply = apply;
            this.scoring = scoring;
        }

        @Override
        public void close() {
            ModelSlot.this.close(this);
        }
    }

    private record Named(String name, WeakReference<Object> owner, boolean scores) {
    }

    private record Views(long[] ranges, INDArray[] arrays) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Views v && Arrays.equals(ranges, v.ranges);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(ranges);
        }
    }

    private static final class Entry extends WeakReference<Object> {
        final ModelSlot slot;

        Entry(Object model, ModelSlot slot) {
            super(model);
            this.slot = slot;
        }
    }
}
