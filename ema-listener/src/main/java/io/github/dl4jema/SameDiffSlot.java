package io.github.dl4jema;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * What every averager of one SameDiff graph shares, as {@link NetworkSlot} is for a DL4J network: the names of the
 * averagers bound to it, and the swaps open on it with the one backup of the training weights they restore.
 *
 * <p>One slot per live graph, found by identity. The registry holds graphs weakly and a slot never refers to its
 * graph (a swap refers to the variables' arrays only), so a graph with averagers attached is collected as soon as the
 * user drops it; dead entries are dropped at the next lookup.
 *
 * <p>Swaps: whichever averager opened them, while any swap is open every averager on the graph refuses to update
 * (before any of them writes), and closing the swaps in any order ends with the training weights: the first swap
 * backs up every trainable variable of the graph, each close restores them and re-applies the latest swap still open.
 */
final class SameDiffSlot {

    private static final List<Entry> SLOTS = new ArrayList<>();

    private final List<Swap> openSwaps = new ArrayList<>();
    private final List<Named> names = new ArrayList<>();
    private INDArray[] trainingArrays;
    private INDArray[] trainingWeights;

    private SameDiffSlot() {
    }

    /** @return the slot of {@code sd}, created on first use */
    static SameDiffSlot of(SameDiff sd) {
        synchronized (SLOTS) {
            SameDiffSlot found = null;
            for (int i = SLOTS.size() - 1; i >= 0; i--) {
                SameDiff graph = SLOTS.get(i).get();
                if (graph == null) {
                    SLOTS.remove(i);
                } else if (graph == sd) {
                    found = SLOTS.get(i).slot;
                }
            }
            if (found == null) {
                found = new SameDiffSlot();
                SLOTS.add(new Entry(sd, found));
            }
            return found;
        }
    }

    /**
     * Records that {@code owner}, named {@code name}, averages this graph. With {@code takeOver} (a restored
     * averager) it replaces an averager of that name, which it supersedes.
     *
     * @throws IllegalStateException if another live averager on this graph has the same name
     */
    synchronized void register(String name, Object owner, boolean takeOver) {
        names.removeIf(n -> n.owner.get() == null || (takeOver && n.name.equals(name)));
        for (Named n : names) {
            Object other = n.owner.get();
            if (n.name.equals(name) && other != owner) {
                throw new IllegalStateException("two averagers on one graph are both named '" + name + "' (" + other
                        + " and " + owner + "); their saved states would overwrite each other. Give each its own "
                        + "name with SameDiffAverager.Builder.name(...)");
            }
        }
        if (names.stream().noneMatch(n -> n.owner.get() == owner)) {
            names.add(new Named(name, new WeakReference<>(owner)));
        }
    }

    /**
     * @throws IllegalStateException if a swap is open on this graph; says which averager opened it
     */
    synchronized void refuseUpdateWhileSwapped(Object updater) {
        if (!openSwaps.isEmpty()) {
            throw new IllegalStateException(updater + " cannot update: the average of "
                    + openSwaps.get(openSwaps.size() - 1).owner + " is swapped into the graph, so its variables are "
                    + "not the training weights. Close every AverageSwap (swapIn(...)) on this graph before training "
                    + "or updating; nothing was changed.");
        }
    }

    /**
     * @throws IllegalStateException if a swap is open on this graph: its variables hold an average in place of the
     *                               training weights, so neither a graph nor a state saved now would be right
     */
    synchronized void refuseSaveWhileSwapped() {
        if (!openSwaps.isEmpty()) {
            throw new IllegalStateException("cannot save while the average of "
                    + openSwaps.get(openSwaps.size() - 1).owner + " is swapped into the graph: a graph written now "
                    + "would hold an average as its training weights. Close the AverageSwap first; nothing was "
                    + "written.");
        }
    }

    /**
     * Puts an average into the graph until the returned swap is closed. The first swap backs up every trainable
     * variable of {@code sd}.
     *
     * @param owner the averager (for messages)
     * @param apply writes the owner's average into the graph's variables
     */
    synchronized AverageSwap open(SameDiff sd, Object owner, Runnable apply) {
        if (openSwaps.isEmpty()) {
            Map<String, INDArray> trainable = SameDiffBinding.trainable(sd);
            INDArray[] arrays = trainable.values().toArray(new INDArray[0]);
            INDArray[] backup = new INDArray[arrays.length];
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                for (int i = 0; i < arrays.length; i++) {
                    backup[i] = arrays[i] == null ? null : arrays[i].dup();
                }
            }
            trainingArrays = arrays;
            trainingWeights = backup;
        }
        Swap swap = new Swap(owner, apply);
        openSwaps.add(swap);
        apply.run();
        return swap;
    }

    private synchronized void close(Swap swap) {
        if (!openSwaps.remove(swap)) {
            return;
        }
        for (int i = 0; i < trainingArrays.length; i++) {
            if (trainingArrays[i] != null) {
                trainingArrays[i].assign(trainingWeights[i]);
            }
        }
        if (openSwaps.isEmpty()) {
            trainingArrays = null;
            trainingWeights = null;
        } else {
            openSwaps.get(openSwaps.size() - 1).apply.run();
        }
    }

    /** @return true if the backup of the training weights is held (only while a swap is open) */
    synchronized boolean holdsBackup() {
        return trainingWeights != null;
    }

    private final class Swap implements AverageSwap {
        final Object owner;
        final Runnable apply;

        Swap(Object owner, Runnable apply) {
            this.owner = owner;
            this.apply = apply;
        }

        @Override
        public void close() {
            SameDiffSlot.this.close(this);
        }
    }

    private record Named(String name, WeakReference<Object> owner) {
    }

    private static final class Entry extends WeakReference<SameDiff> {
        final SameDiffSlot slot;

        Entry(SameDiff sd, SameDiffSlot slot) {
            super(sd);
            this.slot = slot;
        }
    }
}
