package io.github.dl4jema;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.optimize.listeners.Checkpoint;
import org.deeplearning4j.optimize.listeners.CheckpointListener;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * DL4J's {@link CheckpointListener} with the averaging state in every checkpoint: add it to the network in place of
 * the {@code CheckpointListener} it wraps, in any position among the averagers, and every checkpoint zip also carries
 * the state of every averager on the network, taken at the same moment as the weights in it. Optionally it writes,
 * beside each checkpoint, the averaged model of each averager (what one would deploy), kept and deleted with the
 * checkpoint by the {@code CheckpointListener}'s own keep-last / keep-every policy.
 *
 * <pre>{@code
 * CheckpointListener checkpoints = new CheckpointListener.Builder(dir).saveEveryEpoch().keepLast(3).build();
 * net.setListeners(ema, sma, AverageCheckpoints.of(checkpoints).withAveragedModels());
 * net.fit(train, 40);
 *
 * // resume from checkpoint 2 (the end of the third epoch), in a new process:
 * MultiLayerNetwork net = CheckpointListener.loadCheckpointMLN(dir, 2);
 * List<EmaListener> averagers = EmaListener.restoreAll(CheckpointListener.getFileForCheckpoint(dir, 2), net);
 * }</pre>
 *
 * <p>How: DL4J calls listeners in list order, so at an epoch end (or iteration) this listener first runs the update
 * of every averager listed on the network that has not handled this event yet (their own call, later in the list, is
 * then ignored), then lets the {@code CheckpointListener} decide and write, and when it has written a checkpoint,
 * rewrites that file atomically ({@link EmaListener#save(Model, File, EmaListener...)}): the network with its updater
 * state and its training weights (beneath any average swapped in, such as the epoch-end swap of
 * {@link EmaListener.Builder#scoreOnAverage()}), and the state of every averager of the network: those in its
 * listener list and those updated by hand ({@link EmaListener#update(Model)}). Resuming from any checkpoint with
 * {@code CheckpointListener.loadCheckpointMLN/CG} and {@link EmaListener#restoreAll(File, Model)} continues exactly
 * like the uninterrupted run.
 *
 * <p>Costs: the checkpoint is written twice (once by DL4J, once with the states); between checkpoints, one file
 * status call per event. DL4J applies layer constraints after {@code iterationDone}, so a checkpoint written at an
 * iteration holds unconstrained weights (DL4J's own behaviour); epoch-end checkpoints do not have that problem.
 */
public final class AverageCheckpoints extends BaseTrainingListener {

    private static final Pattern AVERAGED_MODEL =
            Pattern.compile("checkpoint_(\\d+)_average_(.+)_(MultiLayerNetwork|ComputationGraph|Model)\\.zip");

    private final CheckpointListener checkpoints;
    private final boolean averagedModels;
    private int lastCheckpoint = -1;
    private File recordFile;
    private long recordLength = -1;

    private AverageCheckpoints(CheckpointListener checkpoints, boolean averagedModels) {
        this.checkpoints = checkpoints;
        this.averagedModels = averagedModels;
    }

    /**
     * Wraps a {@code CheckpointListener}; add the result to the network instead of it.
     *
     * @param checkpoints DL4J's checkpoint listener, configured as usual (directory, frequency, keep policy)
     * @return the wrapper, without averaged-model copies
     * @throws IllegalArgumentException if {@code checkpoints} is null
     */
    public static AverageCheckpoints of(CheckpointListener checkpoints) {
        if (checkpoints == null) {
            throw new IllegalArgumentException("checkpoints should be a CheckpointListener built with "
                    + "new CheckpointListener.Builder(dir)... (got: null)");
        }
        return new AverageCheckpoints(checkpoints, false);
    }

    /**
     * Also writes each averager's averaged model beside each checkpoint, as
     * {@code checkpoint_<n>_average_<name>_<MultiLayerNetwork|ComputationGraph>.zip} (the network's configuration with
     * the averaged parameters, no updater state: see {@link EmaListener#averagedCopy(Model)}); it is deleted when the
     * {@code CheckpointListener}'s keep policy deletes checkpoint {@code n}. Find it with
     * {@link #averagedModelFile(File, int, String)}.
     *
     * @return a wrapper of the same {@code CheckpointListener} that writes the averaged models too
     */
    public AverageCheckpoints withAveragedModels() {
        return new AverageCheckpoints(checkpoints, true);
    }

    /**
     * The averaged model of averager {@code name} written beside checkpoint {@code checkpointNum} by
     * {@link #withAveragedModels()}.
     *
     * @param directory     the checkpoint directory
     * @param checkpointNum the 0-based checkpoint number, as DL4J numbers them
     * @param name          the averager's name ({@link EmaListener#name()})
     * @return the file
     * @throws IllegalArgumentException if there is no such file; the message lists the averaged models there are
     */
    public static File averagedModelFile(File directory, int checkpointNum, String name) {
        List<String> found = new ArrayList<>();
        String[] files = directory == null ? null : directory.list();
        if (files != null) {
            for (String file : files) {
                Matcher m = AVERAGED_MODEL.matcher(file);
                if (m.matches()) {
                    if (Integer.parseInt(m.group(1)) == checkpointNum && m.group(2).equals(name)) {
                        return new File(directory, file);
                    }
                    found.add(file);
                }
            }
        }
        Collections.sort(found);
        throw new IllegalArgumentException("no averaged model of averager '" + name + "' for checkpoint "
                + checkpointNum + " in " + directory + "; the averaged models there are " + found
                + " (got: checkpoint " + checkpointNum + ", name '" + name + "')");
    }

    /** @return the wrapped {@code CheckpointListener} */
    public CheckpointListener checkpointListener() {
        return checkpoints;
    }

    // ---------------------------------------------------------------- callbacks

    @Override
    public void onEpochStart(Model model) {
        checkpoints.onEpochStart(model);
    }

    /** Runs the averagers' epoch-end updates, then the {@code CheckpointListener}, then adds the states. */
    @Override
    public void onEpochEnd(Model model) {
        if (NetworkBinding.isNetwork(model)) {
            for (EmaListener averager : listed(model)) {
                averager.epochEndBeforeCheckpoint(model);
            }
        }
        checkpoints.onEpochEnd(model);
        afterCheckpointListener(model);
    }

    /** Runs the averagers' iteration updates, then the {@code CheckpointListener}, then adds the states. */
    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        if (NetworkBinding.isNetwork(model)) {
            for (EmaListener averager : listed(model)) {
                averager.iterationBeforeCheckpoint(model, iteration, epoch);
            }
        }
        checkpoints.iterationDone(model, iteration, epoch);
        afterCheckpointListener(model);
    }

    @Override
    public void onForwardPass(Model model, List<INDArray> activations) {
        checkpoints.onForwardPass(model, activations);
    }

    @Override
    public void onForwardPass(Model model, Map<String, INDArray> activations) {
        checkpoints.onForwardPass(model, activations);
    }

    @Override
    public void onGradientCalculation(Model model) {
        checkpoints.onGradientCalculation(model);
    }

    @Override
    public void onBackwardPass(Model model) {
        checkpoints.onBackwardPass(model);
    }

    // ---------------------------------------------------------------- checkpoints

    private void afterCheckpointListener(Model model) {
        if (!NetworkBinding.isNetwork(model)) {
            return;
        }
        Checkpoint written = newCheckpoint();
        if (written == null) {
            return;
        }
        File file = checkpoints.getFileForCheckpoint(written);
        List<EmaListener> averagers = all(model);
        try {
            EmaListener.save(model, file, averagers.toArray(new EmaListener[0]));
            if (averagedModels) {
                writeAveragedModels(model, file.getParentFile(), written, averagers);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not add the averaging states to checkpoint " + file + " (it holds "
                    + "the network as DL4J wrote it, without them)", e);
        }
    }

    /**
     * The checkpoint the {@code CheckpointListener} wrote since the last call, or null. Cheap between checkpoints:
     * once the checkpoint record file is known, one file status call.
     */
    private Checkpoint newCheckpoint() {
        if (recordFile != null) {
            long length = recordFile.length();
            if (length == recordLength) {
                return null;
            }
        }
        Checkpoint last = checkpoints.lastCheckpoint();
        if (last == null || last.getCheckpointNum() == lastCheckpoint) {
            return null;
        }
        lastCheckpoint = last.getCheckpointNum();
        recordFile = new File(checkpoints.getFileForCheckpoint(last).getParentFile(), "checkpointInfo.txt");
        recordLength = recordFile.length();
        return last;
    }

    private static void writeAveragedModels(Model model, File directory, Checkpoint written,
                                            List<EmaListener> averagers) throws IOException {
        for (EmaListener averager : averagers) {
            Model copy = ModelSlot.of(model).withTrainingWeights(() -> averager.averagedCopy(model));
            File target = new File(directory, "checkpoint_" + written.getCheckpointNum() + "_average_"
                    + averager.name() + "_" + written.getModelType() + ".zip");
            ModelZip.replace(target, out -> ModelSerializer.writeModel(copy, out, false));
        }
        String[] files = directory.list();
        if (files == null) {
            return;
        }
        for (String file : files) {
            Matcher m = AVERAGED_MODEL.matcher(file);
            if (m.matches() && !new File(directory, "checkpoint_" + m.group(1) + "_" + m.group(3) + ".zip").exists()) {
                java.nio.file.Files.deleteIfExists(new File(directory, file).toPath());
            }
        }
    }

    /**
     * @return the averagers in the network's listener list
     * @throws IllegalStateException if the wrapped {@code CheckpointListener} is on the list too: it would write
     *                               checkpoints of its own, without the averaging states
     */
    private List<EmaListener> listed(Model model) {
        List<EmaListener> averagers = new ArrayList<>();
        for (TrainingListener listener : NetworkBinding.listeners(model)) {
            if (listener instanceof EmaListener averager) {
                averagers.add(averager);
            } else if (listener == checkpoints) {
                throw new IllegalStateException("the CheckpointListener wrapped by AverageCheckpoints is also a "
                        + "listener of the network itself, so it would write every checkpoint twice, once without the "
                        + "averaging states: add AverageCheckpoints.of(checkpoints) in its place, not beside it "
                        + "(got: " + checkpoints + " and " + this + " both on the network)");
            }
        }
        return averagers;
    }

    /** @return every averager of the network: listed ones first, then those bound to it and updated by hand */
    private List<EmaListener> all(Model model) {
        Set<EmaListener> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        List<EmaListener> averagers = new ArrayList<>();
        for (EmaListener listed : listed(model)) {
            if (seen.add(listed)) {
                averagers.add(listed);
            }
        }
        for (Object bound : ModelSlot.of(model).averagers()) {
            if (bound instanceof EmaListener averager && seen.add(averager)) {
                averagers.add(averager);
            }
        }
        return averagers;
    }

    @Override
    public String toString() {
        return "AverageCheckpoints{" + checkpoints + (averagedModels ? ", averagedModels" : "") + "}";
    }
}
