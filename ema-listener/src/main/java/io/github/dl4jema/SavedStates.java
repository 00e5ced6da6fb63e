package io.github.dl4jema;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.zip.ZipFile;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.util.ModelSerializer;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Averaging states in DL4J model zips: saving one or several beside the network, and restoring them into the network
 * loaded from the same file, refusing one that does not belong to it. The public entry points are
 * {@link EmaListener#saveTo(File)}, {@link EmaListener#save(Model, File, EmaListener...)},
 * {@link EmaListener#restore(File, Model, RestoreOptions)} and {@link EmaListener#restoreAll(File, Model)}; the format
 * of one state is {@link EmaState}'s, and every rewrite is atomic ({@link ModelZip}).
 */
final class SavedStates {

    private SavedStates() {
    }

    /** Writes {@code state} into an existing model zip, replacing a state of the same name. */
    static void saveInto(File modelZip, EmaState state) throws IOException {
        if (modelZip == null || !modelZip.isFile()) {
            throw new IllegalArgumentException("model file should be an existing DL4J model zip written by "
                    + "ModelSerializer.writeModel (got: " + modelZip + ")");
        }
        String folder = EmaState.folder(state.config().name());
        ModelZip.rewrite(modelZip, entry -> entry.startsWith(folder), state::writeTo);
    }

    /**
     * Writes the network (with its updater state) and the averagers' states into one new zip, atomically; with the
     * training weights and the states as they are beneath any average swapped in.
     */
    static void save(Model net, File modelZip, EmaListener... averagers) throws IOException {
        NetworkBinding.require(net);
        if (modelZip == null || averagers == null) {
            throw new IllegalArgumentException("file and averagers should be given (got: " + modelZip + ", "
                    + (averagers == null ? "null" : averagers.length + " averagers") + ")");
        }
        Set<String> names = new LinkedHashSet<>();
        for (EmaListener ema : averagers) {
            if (ema == null || !names.add(ema.name())) {
                throw new IllegalArgumentException("averagers should be distinct and named distinctly (got: "
                        + (ema == null ? "null" : "a second averager named '" + ema.name() + "'") + ")");
            }
        }
        File model = ModelZip.temporaryBeside(modelZip, ".model.tmp").toFile();
        try {
            List<EmaState> states = ModelSlot.of(net).withTrainingWeights(() -> {
                List<EmaState> taken = new ArrayList<>();
                for (EmaListener ema : averagers) {
                    taken.add(ema.stateOf(net));
                }
                ModelSerializer.writeModel(net, model, true);
                return taken;
            });
            ModelZip.rebuild(model, modelZip, entry -> entry.startsWith(EmaState.ZIP_FOLDER), zip -> {
                for (EmaState s : states) {
                    s.writeTo(zip);
                }
            });
        } finally {
            Files.deleteIfExists(model.toPath());
        }
    }

    /** The one state {@code options} names (or the only one) in the zip, attached to {@code net}. */
    static EmaListener restore(File modelZip, Model net, RestoreOptions options) throws IOException {
        if (options == null) {
            throw new IllegalArgumentException("options should be RestoreOptions such as RestoreOptions.defaults() "
                    + "(got: null)");
        }
        NetworkBinding.require(net);
        try (ZipFile zip = open(modelZip)) {
            List<String> names = EmaState.names(zip);
            String name = options.name();
            if (name == null) {
                if (names.size() != 1) {
                    throw new IllegalArgumentException(noStateMessage(zip, modelZip, names));
                }
                name = names.get(0);
            }
            EmaState state = EmaState.read(zip, name, options.rule(), modelZip.toString());
            return attach(state, net, options.acceptsOtherWeights());
        }
    }

    /** Every state in the zip, attached to {@code net}, in the order they were saved. */
    static List<EmaListener> restoreAll(File modelZip, Model net) throws IOException {
        NetworkBinding.require(net);
        List<EmaListener> restored = new ArrayList<>();
        try (ZipFile zip = open(modelZip)) {
            for (String name : EmaState.names(zip)) {
                restored.add(attach(EmaState.read(zip, name, null, modelZip.toString()), net, false));
            }
        }
        return restored;
    }

    /**
     * A listener resuming {@code state}, bound to {@code net}, after checking that the state belongs to it: the same
     * parameter layout and, unless {@code acceptOtherWeights}, the very weights it was saved with.
     */
    static EmaListener attach(EmaState state, Model net, boolean acceptOtherWeights) {
        if (state == null) {
            throw new IllegalArgumentException("state should be an EmaState (got: null)");
        }
        NetworkBinding.require(net);
        ParameterLayout here = ParameterLayout.of(net);
        if (state.layout() != null) {
            String difference = here.differenceFrom(state.layout());
            if (difference != null) {
                throw new IllegalArgumentException("averaging state '" + state.config().name() + "' does not fit "
                        + NetworkBinding.describe(net) + ": " + difference + ". A state is restored only into a "
                        + "network of the architecture it was saved with.");
            }
        }
        if (!acceptOtherWeights && state.weightsDigest() != null
                && !state.weightsDigest().equals(ParameterLayout.digest(net.params()))) {
            throw new IllegalArgumentException("averaging state '" + state.config().name() + "' was saved with "
                    + "other weights than " + NetworkBinding.describe(net) + " holds (the state was saved at the "
                    + "network's epoch " + state.networkEpoch() + ", iteration " + state.networkIteration() + "; "
                    + "this network is at epoch " + NetworkBinding.epochCount(net) + ", iteration "
                    + NetworkBinding.iterationCount(net) + "). Averaging on would mix two unrelated runs. Restore "
                    + "into the network loaded from the same file, or pass "
                    + "RestoreOptions.defaults().acceptOtherWeights() to carry the average over on purpose.");
        }
        INDArray average = state.average() == null ? null : detachedCopy(state.average());
        return EmaListener.resumed(state, average, net, here);
    }

    /** @return a copy of {@code source} as a flat vector, outside any workspace */
    static INDArray detachedCopy(INDArray source) {
        INDArray copy;
        try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
            copy = Nd4j.createUninitialized(source.dataType(), source.length());
        }
        return copy.assign(source.reshape(source.length()));
    }

    private static ZipFile open(File modelZip) throws IOException {
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
}
