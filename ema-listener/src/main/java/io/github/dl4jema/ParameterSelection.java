package io.github.dl4jema;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
 * <p>Immutable; saved with the state as text ({@link #encode()}).
 */
public final class ParameterSelection {

    /** Parameter names of DL4J's {@code BatchNormalization} layer that hold running statistics, not weights. */
    private static final List<String> BATCH_NORM_STATISTICS = List.of("mean", "var", "log10stdev");

    private enum Kind { ALL, KEYS, LAYERS, ALL_EXCEPT_KEYS, ALL_EXCEPT_BATCH_NORM_STATISTICS }

    private static final ParameterSelection ALL = new ParameterSelection(Kind.ALL, Set.of());

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
     * training weights. Without batch-norm layers this is {@link #all()}.
     *
     * @return the selection
     */
    public static ParameterSelection allExceptBatchNormStatistics() {
        return new ParameterSelection(Kind.ALL_EXCEPT_BATCH_NORM_STATISTICS, Set.of());
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
        };
    }

    /**
     * Resolves this selection against a network's parameters into sorted, coalesced ranges of the flat buffer.
     *
     * @param paramTable the network's {@code paramTable()}: views into {@code flat}
     * @param flat       the network's {@code params()}
     * @return pairs {@code [from, to)} of element offsets into {@code flat}, flattened: {@code {from0, to0, from1, ...}}
     * @throws IllegalArgumentException if a named key or layer is not in the network, or nothing is selected
     */
    long[] resolve(Map<String, INDArray> paramTable, INDArray flat) {
        if (kind == Kind.ALL) {
            return new long[] {0, flat.length()};
        }
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
            ranges.add(new long[] {from, to});
        }
        if (!missing.isEmpty() && kind != Kind.ALL_EXCEPT_BATCH_NORM_STATISTICS) {
            throw new IllegalArgumentException("parameter selection " + this + " names " + missing
                    + ", which the network does not have; its parameter keys are " + paramTable.keySet());
        }
        if (ranges.isEmpty()) {
            throw new IllegalArgumentException("parameter selection " + this + " selects no parameter of the "
                    + "network; its parameter keys are " + paramTable.keySet());
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
        };
    }
}
