package io.github.dl4jema;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.graph.vertex.impl.FrozenVertex;
import org.deeplearning4j.nn.layers.FrozenLayer;
import org.deeplearning4j.nn.layers.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Which parameters are averaged, by {@code paramTable()} key ({@code "0_W"}, {@code "0_b"} in a
 * {@code MultiLayerNetwork}; {@code "dense_W"} in a {@code ComputationGraph} whose layer is named {@code dense}).
 *
 * <p>The default, {@link #all()}, averages the whole flat parameter buffer, batch-normalization running mean and
 * variance included, as averaging PyTorch's {@code state_dict()} does. A selection is resolved once per network
 * into the few contiguous ranges of the flat buffer it covers (adjacent keys are coalesced), so an update runs a
 * handful of ND4J operations whatever the number of keys. Parameters outside the selection are never written.
 *
 * <p>For networks fine-tuned with DL4J's {@code TransferLearning}, {@link #trainable()} leaves the frozen layers out.
 * It is not the default on such networks: frozen parameters never change, so averaging them is exact (the average of a
 * constant is that constant, bit for bit), and a selection that changed with how the network was built would be a
 * surprise in a saved state. Choose it to save the memory and time the frozen part costs.
 *
 * <p>Immutable; saved with the state as text ({@link #encode()}).
 */
public final class ParameterSelection {

    /** Parameter names of DL4J's {@code BatchNormalization} layer that hold running statistics, not weights. */
    private static final List<String> BATCH_NORM_STATISTICS = List.of("mean", "var", "log10stdev");

    private enum Kind { ALL, KEYS, LAYERS, ALL_EXCEPT_KEYS, ALL_EXCEPT_BATCH_NORM_STATISTICS, TRAINABLE }

    private static final ParameterSelection ALL = new ParameterSelection(Kind.ALL, Set.of());
    private static final ParameterSelection TRAINABLE = new ParameterSelection(Kind.TRAINABLE, Set.of());

    private final Kind kind;
    private final Set<String> names;

    private ParameterSelection(Kind kind, Set<String> names) {
        this.kind = kind;
        this.names = names;
    }

    /**
     * Every parameter: the whole flat buffer, batch-norm statistics included. The default.
     *
     * @return the selection
     */
    public static ParameterSelection all() {
        return ALL;
    }

    /**
     * Exactly the given {@code paramTable()} keys. Every key must exist in the network, or the first update fails
     * with a message listing the keys the network has.
     *
     * @param keys one or more keys such as {@code "0_W"}
     * @return the selection
     * @throws IllegalArgumentException if no key is given or a key is null or blank
     */
    public static ParameterSelection keys(String... keys) {
        return new ParameterSelection(Kind.KEYS, checkedNames("keys", keys));
    }

    /**
     * Every parameter of the given layers: the keys {@code "<layer>_<param>"}. Layers of a
     * {@code MultiLayerNetwork} are named by their index ({@code "0"}, {@code "1"}, ...); layers of a
     * {@code ComputationGraph} by their vertex name. Every layer must have parameters in the network.
     *
     * @param layers one or more layer names or indices
     * @return the selection
     * @throws IllegalArgumentException if no layer is given or a name is null or blank
     */
    public static ParameterSelection layers(String... layers) {
        return new ParameterSelection(Kind.LAYERS, checkedNames("layers", layers));
    }

    /**
     * Every parameter except the given {@code paramTable()} keys. Every key must exist in the network.
     *
     * @param keys one or more keys to leave out
     * @return the selection
     * @throws IllegalArgumentException if no key is given or a key is null or blank
     */
    public static ParameterSelection allExcept(String... keys) {
        return new ParameterSelection(Kind.ALL_EXCEPT_KEYS, checkedNames("keys", keys));
    }

    /**
     * Every parameter except batch-normalization running statistics (the {@code BatchNormalization} parameters
     * {@code mean}, {@code var} and {@code log10stdev}): the weights are averaged, the statistics stay those of the
     * training weights. Without batch-norm layers this is {@link #all()}. Beware: averaged weights with the training
     * weights' statistics are inconsistent; in this project's batch-norm digits run (README, "Batch normalization")
     * this cost 1.2 points of held-out accuracy for an exponential average and 3.6 for a simple one, against averaging
     * the statistics too. Give the average statistics of its own with {@link BatchNormStatistics}.
     *
     * @return the selection
     */
    public static ParameterSelection allExceptBatchNormStatistics() {
        return new ParameterSelection(Kind.ALL_EXCEPT_BATCH_NORM_STATISTICS, Set.of());
    }

    /**
     * The trainable parameters only: every parameter except those of frozen layers and vertices, the parts of a
     * network that DL4J's {@code TransferLearning.Builder.setFeatureExtractor} and
     * {@code TransferLearning.GraphBuilder.setFeatureExtractor} freeze, or that are configured frozen by hand
     * ({@code FrozenLayer}, {@code FrozenLayerWithBackprop}, {@code FrozenVertex}). Frozen parameters are then never
     * read or written by an update: in write-back mode they keep whatever value they hold, and
     * {@code averagedParams}/{@code swapIn}/{@code averagedCopy} carry the network's own values for them. The
     * frozen layers are found when the averager binds to its network (its first update or restore). Batch-norm
     * statistics of trainable layers are trainable (DL4J updates them while training); those of frozen layers are
     * frozen. On a network with no frozen layer this is {@link #all()}; on one with nothing but frozen layers the first
     * update fails.
     *
     * <p>Not the default, on purpose: see the class comment.
     *
     * @return the selection
     */
    public static ParameterSelection trainable() {
        return TRAINABLE;
    }

    private static Set<String> checkedNames(String what, String[] given) {
        if (given == null || given.length == 0) {
            throw new IllegalArgumentException("at least one of the " + what + " should be given (got: none)");
        }
        Set<String> names = new LinkedHashSet<>();
        for (String name : given) {
            if (name == null || name.isBlank()) {
                throw new IllegalArgumentException(what + " should be non-blank names (got: "
                        + Arrays.toString(given) + ")");
            }
            names.add(name);
        }
        return Collections.unmodifiableSet(names);
    }

    /**
     * Whether this selection is the whole parameter buffer.
     *
     * @return true for {@link #all()}
     */
    public boolean isAll() {
        return kind == Kind.ALL;
    }

    private boolean selects(String key) {
        int split = key.lastIndexOf('_');
        String layer = split < 0 ? key : key.substring(0, split);
        String param = split < 0 ? key : key.substring(split + 1);
        return switch (kind) {
            case ALL -> true;
            case KEYS -> names.contains(key);
            case LAYERS -> names.contains(layer);
            case ALL_EXCEPT_KEYS -> !names.contains(key);
            case ALL_EXCEPT_BATCH_NORM_STATISTICS -> !BATCH_NORM_STATISTICS.contains(param);
            case TRAINABLE -> true;
        };
    }

    /**
     * Resolves this selection against a network into sorted, coalesced ranges of its flat parameter buffer, as
     * {@link #resolve(Map, INDArray)} does; {@link #trainable()} also leaves out the ranges of the network's frozen
     * layers and vertices.
     *
     * @param model a {@code MultiLayerNetwork} or {@code ComputationGraph}
     * @return pairs {@code [from, to)} of element offsets into {@code model.params()}, flattened
     * @throws IllegalArgumentException if a named key or layer is not in the network, or nothing is selected
     */
    long[] resolve(Model model) {
        INDArray flat = model.params();
        if (kind != Kind.TRAINABLE) {
            return resolve(model.paramTable(), flat);
        }
        List<long[]> frozen = new ArrayList<>();
        for (Layer layer : frozenLayers(model)) {
            for (INDArray view : layer.paramTable().values()) {
                if (view.length() > 0) {
                    long from = view.offset() - flat.offset();
                    frozen.add(new long[] {from, from + view.length()});
                }
            }
        }
        return resolve(model.paramTable(), flat, (from, to) -> {
            for (long[] range : frozen) {
                if (from < range[1] && range[0] < to) {
                    return false;
                }
            }
            return true;
        });
    }

    /** The layers DL4J does not train: wrapped in a frozen layer, or inside a frozen graph vertex. */
    private static List<Layer> frozenLayers(Model model) {
        List<Layer> frozen = new ArrayList<>();
        if (model instanceof MultiLayerNetwork mln) {
            for (Layer layer : mln.getLayers()) {
                if (isFrozen(layer)) {
                    frozen.add(layer);
                }
            }
        } else if (model instanceof ComputationGraph graph) {
            for (GraphVertex vertex : graph.getVertices()) {
                if (vertex.hasLayer() && (vertex instanceof FrozenVertex || isFrozen(vertex.getLayer()))) {
                    frozen.add(vertex.getLayer());
                }
            }
        }
        return frozen;
    }

    private static boolean isFrozen(Layer layer) {
        return layer instanceof FrozenLayer || layer instanceof FrozenLayerWithBackprop;
    }

    /**
     * Resolves this selection against a network's parameters into sorted, coalesced ranges of the flat buffer.
     *
     * @param paramTable the network's {@code paramTable()}: views into {@code flat}
     * @param flat       the network's {@code params()}
     * @return pairs {@code [from, to)} of element offsets into {@code flat}, flattened: {@code {from0, to0, from1, ...}}
     * @throws IllegalArgumentException if a named key or layer is not in the network, or nothing is selected
     * @throws IllegalStateException    for {@link #trainable()}, which needs the network: {@link #resolve(Model)}
     */
    long[] resolve(Map<String, INDArray> paramTable, INDArray flat) {
        if (kind == Kind.ALL) {
            return new long[] {0, flat.length()};
        }
        if (kind == Kind.TRAINABLE) {
            throw new IllegalStateException("the trainable() selection is resolved against the network's layers, "
                    + "not its parameter table alone: call resolve(model)");
        }
        return resolve(paramTable, flat, (from, to) -> true);
    }

    /** A test on a parameter's range {@code [from, to)} of the flat buffer. */
    private interface RangeFilter {
        boolean accepts(long from, long to);
    }

    private long[] resolve(Map<String, INDArray> paramTable, INDArray flat, RangeFilter filter) {
        Set<String> missing = new LinkedHashSet<>(names);
        List<long[]> ranges = new ArrayList<>();
        for (Map.Entry<String, INDArray> entry : paramTable.entrySet()) {
            String key = entry.getKey();
            int split = key.lastIndexOf('_');
            missing.remove(key);
            missing.remove(split < 0 ? key : key.substring(0, split));
            if (!selects(key) || entry.getValue().length() == 0) {
                continue;
            }
            long from = entry.getValue().offset() - flat.offset();
            long to = from + entry.getValue().length();
            if (from < 0 || to > flat.length()) {
                throw new IllegalStateException("parameter '" + key + "' is not a view into the network's flat "
                        + "parameter buffer (elements " + from + ".." + to + " of " + flat.length() + ")");
            }
            if (filter.accepts(from, to)) {
                ranges.add(new long[] {from, to});
            }
        }
        if (!missing.isEmpty() && kind != Kind.ALL_EXCEPT_BATCH_NORM_STATISTICS) {
            throw new IllegalArgumentException("parameter selection " + this + " names " + missing
                    + ", which the network does not have; its parameter keys are " + paramTable.keySet());
        }
        if (ranges.isEmpty()) {
            throw new IllegalArgumentException("parameter selection " + this + " selects no parameter of the "
                    + "network" + (kind == Kind.TRAINABLE ? ": every layer with parameters is frozen, so there is "
                    + "nothing to average; unfreeze a layer or average all()" : "") + "; its parameter keys are "
                    + paramTable.keySet());
        }
        ranges.sort((a, b) -> Long.compare(a[0], b[0]));
        List<long[]> merged = new ArrayList<>();
        for (long[] range : ranges) {
            long[] last = merged.isEmpty() ? null : merged.get(merged.size() - 1);
            if (last != null && range[0] <= last[1]) {
                last[1] = Math.max(last[1], range[1]);
            } else {
                merged.add(range.clone());
            }
        }
        long[] flatRanges = new long[merged.size() * 2];
        for (int i = 0; i < merged.size(); i++) {
            flatRanges[2 * i] = merged.get(i)[0];
            flatRanges[2 * i + 1] = merged.get(i)[1];
        }
        return flatRanges;
    }

    /**
     * Whether this selection can be resolved by name alone, as a SameDiff graph's variables are: {@link #all()},
     * {@link #keys(String...)} and {@link #allExcept(String...)}. Layers and batch-norm statistics are DL4J network
     * notions.
     *
     * @return true for the selections a {@link SameDiffAverager} accepts
     */
    boolean byNameOnly() {
        return kind == Kind.ALL || kind == Kind.KEYS || kind == Kind.ALL_EXCEPT_KEYS;
    }

    /**
     * Resolves a selection {@linkplain #byNameOnly() by name} against the names it may choose from.
     *
     * @param available the names, in the order of the result
     * @param owner     what holds them, for the messages, such as {@code "the graph's trainable variables"}
     * @return the selected names, in the order of {@code available}
     * @throws IllegalArgumentException if a name given is not available, or nothing is selected
     * @throws IllegalStateException    if this selection is not {@linkplain #byNameOnly() by name}
     */
    List<String> selectNames(List<String> available, String owner) {
        if (!byNameOnly()) {
            throw new IllegalStateException("parameter selection " + this + " is not a selection by name");
        }
        Set<String> missing = new LinkedHashSet<>(names);
        missing.removeAll(available);
        if (!missing.isEmpty()) {
            throw new IllegalArgumentException("parameter selection " + this + " names " + missing + ", which are not "
                    + "among " + owner + " " + available);
        }
        List<String> selected = new ArrayList<>();
        for (String name : available) {
            if (kind == Kind.ALL || (kind == Kind.KEYS) == names.contains(name)) {
                selected.add(name);
            }
        }
        if (selected.isEmpty()) {
            throw new IllegalArgumentException("parameter selection " + this + " selects none of " + owner + " "
                    + available);
        }
        return selected;
    }

    /** @return this selection as one line of text, read back by {@link #decode(String)} */
    String encode() {
        return names.isEmpty() ? kind.name() : kind.name() + ":" + String.join(",", names);
    }

    /**
     * @param text what {@link #encode()} wrote
     * @return the selection
     * @throws IllegalArgumentException if {@code text} is not one
     */
    static ParameterSelection decode(String text) {
        if (text == null) {
            throw new IllegalArgumentException("selection should be given (got: null)");
        }
        int colon = text.indexOf(':');
        Kind kind = Kind.valueOf(colon < 0 ? text : text.substring(0, colon));
        return switch (kind) {
            case ALL -> ALL;
            case ALL_EXCEPT_BATCH_NORM_STATISTICS -> allExceptBatchNormStatistics();
            case TRAINABLE -> TRAINABLE;
            default -> new ParameterSelection(kind, checkedNames("names", text.substring(colon + 1).split(",")));
        };
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ParameterSelection other && kind == other.kind && names.equals(other.names);
    }

    @Override
    public int hashCode() {
        return kind.hashCode() * 31 + names.hashCode();
    }

    @Override
    public String toString() {
        return switch (kind) {
            case ALL -> "all";
            case KEYS -> "keys" + names;
            case LAYERS -> "layers" + names;
            case ALL_EXCEPT_KEYS -> "allExcept" + names;
            case ALL_EXCEPT_BATCH_NORM_STATISTICS -> "allExceptBatchNormStatistics";
            case TRAINABLE -> "trainable";
        };
    }
}
