package io.github.dl4jema;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serial;
import java.io.Serializable;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Everything an {@link EmaListener} needs to resume: its configuration, the stored average, the number of
 * snapshots in it, the last epoch or iteration it saw and the number of skipped updates. Saved inside DL4J's model
 * zip by {@link EmaListener#saveTo(java.io.File)}; restored by {@link EmaListener#restore(java.io.File)}.
 *
 * <p>The average is written with ND4J's own binary format ({@code Nd4j.write}), which keeps its data type and every
 * bit of its values. Instances handed out by {@link EmaListener#state()} are copies, safe to keep.
 */
public final class EmaState implements Serializable {

    @Serial
    private static final long serialVersionUID = 1L;

    private final EmaConfig config;
    private transient INDArray average;
    private final long snapshots;
    private final long lastStep;
    private final long skippedUpdates;

    EmaState(EmaConfig config, INDArray average, long snapshots, long lastStep, long skippedUpdates) {
        this.config = config;
        this.average = average;
        this.snapshots = snapshots;
        this.lastStep = lastStep;
        this.skippedUpdates = skippedUpdates;
    }

    /** @return the configuration the state was made with */
    public EmaConfig config() {
        return config;
    }

    /**
     * The stored average, in the network's flat parameter layout (the order of {@code params()}), or null before
     * the first snapshot. Positions outside the parameter selection hold no meaning.
     *
     * @return the average (this state's own copy; do not modify it)
     */
    public INDArray average() {
        return average;
    }

    /** @return the number of snapshots averaged so far, 0 before the first update */
    public long snapshots() {
        return snapshots;
    }

    /** @return the 1-based number of the last epoch or iteration the listener saw, 0 if none */
    public long lastStep() {
        return lastStep;
    }

    /** @return the number of updates skipped because the parameters held NaN or infinite values */
    public long skippedUpdates() {
        return skippedUpdates;
    }

    @Serial
    private void writeObject(ObjectOutputStream out) throws IOException {
        out.defaultWriteObject();
        out.writeBoolean(average != null);
        if (average != null) {
            Nd4j.write(average, new DataOutputStream(out));
        }
    }

    @Serial
    private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
        in.defaultReadObject();
        if (in.readBoolean()) {
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                average = Nd4j.read(new DataInputStream(in));
            }
        }
    }

    @Override
    public String toString() {
        return "EmaState{snapshots=" + snapshots + ", lastStep=" + lastStep + ", skippedUpdates=" + skippedUpdates
                + ", average=" + (average == null ? "none" : average.length() + " " + average.dataType())
                + ", " + config + "}";
    }
}
