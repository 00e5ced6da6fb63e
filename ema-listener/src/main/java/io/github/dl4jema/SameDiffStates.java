package io.github.dl4jema;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Averaging states of SameDiff graphs: saved in a zip beside the graph's file ({@link SameDiffAverager#stateFile}),
 * in {@link EmaState}'s format, and restored into the graph loaded from that file, refusing one that does not belong
 * to it. The SameDiff counterpart of {@link SavedStates}; every write is atomic ({@link ModelZip}).
 */
final class SameDiffStates {

    private SameDiffStates() {
    }

    /** Writes {@code state} into the state file beside {@code sameDiffFile}, replacing a state of the same name. */
    static void saveBeside(File sameDiffFile, EmaState state) throws IOException {
        if (sameDiffFile == null || !sameDiffFile.isFile()) {
            throw new IllegalArgumentException("graph file should be an existing file written by sd.save(file, true) "
                    + "(got: " + sameDiffFile + ")");
        }
        File states = SameDiffAverager.stateFile(sameDiffFile);
        if (states.isFile()) {
            String folder = EmaState.folder(state.config().name());
            ModelZip.rewrite(states, entry -> entry.startsWith(folder), state::writeTo);
        } else {
            writeStates(states, List.of(state));
        }
    }

    /** Writes the graph (with its updater state), then all the averagers' states beside it, each atomically. */
    static void save(SameDiff sd, File sameDiffFile, SameDiffAverager... averagers) throws IOException {
        SameDiffBinding.require(sd);
        if (sameDiffFile == null || averagers == null) {
            throw new IllegalArgumentException("file and averagers should be given (got: " + sameDiffFile + ", "
                    + (averagers == null ? "null" : averagers.length + " averagers") + ")");
        }
        List<EmaState> states = new ArrayList<>();
        Set<String> names = new LinkedHashSet<>();
        for (SameDiffAverager averager : averagers) {
            if (averager == null || !names.add(averager.name())) {
                throw new IllegalArgumentException("averagers should be distinct and named distinctly (got: "
                        + (averager == null ? "null" : "a second averager named '" + averager.name() + "'") + ")");
            }
            states.add(averager.stateForSaving(sd));
        }
        ModelSlot.of(sd).refuseSaveWhileSwapped();
        ByteBuffer graph = sd.asFlatBuffers(true);
        ModelZip.replace(sameDiffFile, out -> out.write(graph.array(), graph.position(),
                graph.array().length - graph.position()));
        writeStates(SameDiffAverager.stateFile(sameDiffFile), states);
    }

    private static void writeStates(File target, List<EmaState> states) throws IOException {
        ModelZip.replace(target, out -> {
            ZipOutputStream zip = new ZipOutputStream(out);
            for (EmaState state : states) {
                state.writeTo(zip);
            }
            zip.finish();
        });
    }

    /** The one state {@code options} names (or the only one) beside the graph file, attached to {@code sd}. */
    static SameDiffAverager restore(File sameDiffFile, SameDiff sd, RestoreOptions options) throws IOException {
        if (options == null) {
            throw new IllegalArgumentException("options should be RestoreOptions such as RestoreOptions.defaults() "
                    + "(got: null)");
        }
        SameDiffBinding.require(sd);
        File states = existingStateFile(sameDiffFile);
        try (ZipFile zip = new ZipFile(states)) {
            List<String> names = EmaState.names(zip);
            String name = options.name();
            if (name == null) {
                if (names.size() != 1) {
                    throw new IllegalArgumentException(names.isEmpty()
                            ? states + " holds no averaging state; save one with ema.saveTo(file) after "
                                    + "sd.save(file, true), or with SameDiffAverager.save(sd, file, ema)"
                            : states + " holds " + names.size() + " averaging states " + names + ": pick one with "
                                    + "RestoreOptions.named(name), or restore them all with "
                                    + "SameDiffAverager.restoreAll(file, sd)");
                }
                name = names.get(0);
            }
            EmaState state = EmaState.read(zip, name, options.rule(), states.toString());
            return attach(state, sd, options.acceptsOtherWeights());
        }
    }

    /** Every state beside the graph file, attached to {@code sd}, in the order they were saved. */
    static List<SameDiffAverager> restoreAll(File sameDiffFile, SameDiff sd) throws IOException {
        SameDiffBinding.require(sd);
        List<SameDiffAverager> restored = new ArrayList<>();
        File states = SameDiffAverager.stateFile(sameDiffFile);
        if (!states.isFile()) {
            existingGraphFile(sameDiffFile);
            return restored;
        }
        try (ZipFile zip = new ZipFile(states)) {
            for (String name : EmaState.names(zip)) {
                restored.add(attach(EmaState.read(zip, name, null, states.toString()), sd, false));
            }
        }
        return restored;
    }

    /**
     * An averager resuming {@code state}, bound to {@code sd}, after checking that the state belongs to it: the same
     * variables (names, shapes, type) and, unless {@code acceptOtherWeights}, the very weights it was saved with.
     */
    static SameDiffAverager attach(EmaState state, SameDiff sd, boolean acceptOtherWeights) {
        if (state == null) {
            throw new IllegalArgumentException("state should be an EmaState (got: null)");
        }
        SameDiffBinding.require(sd);
        if (!state.config().selection().byNameOnly()) {
            throw new IllegalArgumentException("averaging state '" + state.config().name() + "' selects "
                    + state.config().selection() + ", a DL4J network's parameters, not a SameDiff graph's variables: "
                    + "restore it with EmaListener.restore");
        }
        Map<String, INDArray> selected;
        try {
            selected = SameDiffBinding.selected(sd, state.config().selection());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("averaging state '" + state.config().name() + "' does not fit "
                    + SameDiffBinding.describe(sd) + ": " + e.getMessage(), e);
        }
        ParameterLayout here = SameDiffBinding.layoutOf(selected);
        if (state.layout() != null) {
            String difference = here.differenceFrom(state.layout());
            if (difference != null) {
                throw new IllegalArgumentException("averaging state '" + state.config().name() + "' does not fit "
                        + SameDiffBinding.describe(sd) + ": " + difference + ". A state is restored only into a graph "
                        + "with the variables it was saved with.");
            }
        }
        if (!acceptOtherWeights && state.weightsDigest() != null
                && !state.weightsDigest().equals(ParameterLayout.digest(selected.values().toArray(new INDArray[0])))) {
            throw new IllegalArgumentException("averaging state '" + state.config().name() + "' was saved with "
                    + "other weights than " + SameDiffBinding.describe(sd) + " holds (the state was saved at the "
                    + "graph's epoch " + state.networkEpoch() + ", iteration " + state.networkIteration() + "; this "
                    + "graph is at epoch " + SameDiffBinding.epochCount(sd) + ", iteration "
                    + SameDiffBinding.iterationCount(sd) + "). Averaging on would mix two unrelated runs. Restore "
                    + "into the graph loaded from the same file (SameDiff.load(file, true)), or pass "
                    + "RestoreOptions.defaults().acceptOtherWeights() to carry the average over on purpose.");
        }
        INDArray average = state.average() == null ? null : SavedStates.detachedCopy(state.average());
        return SameDiffAverager.resumed(state, average, sd, selected, here);
    }

    private static File existingStateFile(File sameDiffFile) {
        existingGraphFile(sameDiffFile);
        File states = SameDiffAverager.stateFile(sameDiffFile);
        if (!states.isFile()) {
            throw new IllegalArgumentException("no averaging state beside " + sameDiffFile + ": the states of a "
                    + "SameDiff graph are kept in " + states + ", written by ema.saveTo(file) or "
                    + "SameDiffAverager.save(sd, file, averagers...) (got: no such file)");
        }
        return states;
    }

    private static void existingGraphFile(File sameDiffFile) {
        if (sameDiffFile == null || !sameDiffFile.isFile()) {
            throw new IllegalArgumentException("graph file should be an existing file written by sd.save(file, true) "
                    + "(got: " + sameDiffFile + ")");
        }
    }
}
