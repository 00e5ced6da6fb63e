package io.github.dl4jema;

import java.lang.ref.WeakReference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.TrainingConfig;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.autodiff.samediff.internal.Variable;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One averager's hold on the SameDiff graph it averages, and the seam between the shared averaging core
 * ({@link RunningAverage}) and SameDiff: where a graph's parameters live. A DL4J network keeps its parameters in one
 * flat buffer ({@link NetworkBinding}); a SameDiff graph keeps each variable in an array of its own. The selected
 * variables, in name order, are laid end to end as the flat layout the core sees: the vector {@code i} it reads and
 * writes is variable {@code i}'s own array seen as a vector (a view, no copy), and range {@code i} of the average is
 * that variable's.
 *
 * <p>SameDiff may give a variable a new array object (a {@code setArray} with another shape or order, a type
 * conversion, a loaded graph): each update compares the arrays it finds with those it saw, by identity, and only when
 * one was replaced checks the layout again and makes new views. A changed shape or type is refused before anything is
 * written.
 *
 * <p>Also the one place that answers what a SameDiff graph is for averaging: its trainable variables (those of
 * {@link VariableType#VARIABLE} with a floating-point type, the ones {@code fit} updates) and its counters.
 */
final class SameDiffBinding {

    /** The key of the gradient function under which {@code SameDiff.fit} runs its iterations. */
    private static final String GRADIENT_FUNCTION = "grad";

    private final WeakReference<SameDiff> graph;
    private final ParameterLayout layout;
    private final String[] names;
    private final long[] ranges;
    private final INDArray[] arrays;
    private final INDArray[] vectors;

    private SameDiffBinding(SameDiff graph, ParameterLayout layout, Map<String, INDArray> selected) {
        this.graph = new WeakReference<>(graph);
        this.layout = layout;
        this.names = selected.keySet().toArray(new String[0]);
        this.arrays = selected.values().toArray(new INDArray[0]);
        this.vectors = new INDArray[arrays.length];
        this.ranges = new long[2 * arrays.length];
        long offset = 0;
        for (int i = 0; i < arrays.length; i++) {
            vectors[i] = vectorOf(names[i], arrays[i]);
            ranges[2 * i] = offset;
            offset += arrays[i].length();
            ranges[2 * i + 1] = offset;
        }
    }

    /**
     * Binds an averager to {@code graph} and registers its name on the graph.
     *
     * @param selected the selected variables' arrays by name ({@link #selected}), whose layout is {@code layout}
     * @param takeOver true for a restored averager, which supersedes a live one of the same name
     * @throws IllegalStateException if a variable's array is not contiguous in C order, or another live averager on
     *                               the graph has the same name
     */
    static SameDiffBinding bind(SameDiff graph, Map<String, INDArray> selected, ParameterLayout layout,
                                EmaConfig config, Object owner, boolean takeOver) {
        SameDiffBinding binding = new SameDiffBinding(graph, layout, selected);
        ModelSlot.of(graph).register(config.name(), owner, false, takeOver);
        return binding;
    }

    /** @return the graph, or null once it has been garbage-collected */
    SameDiff graph() {
        return graph.get();
    }

    boolean isFor(SameDiff sd) {
        return sd != null && graph.get() == sd;
    }

    ParameterLayout layout() {
        return layout;
    }

    long[] ranges() {
        return ranges;
    }

    /**
     * The selected variables' arrays as vectors; makes new views, after checking the layout again, only if SameDiff
     * replaced an array since the last call. Allocation-free otherwise.
     *
     * @throws IllegalStateException if a selected variable is gone, or changed its shape or type
     */
    INDArray[] vectors(SameDiff sd) {
        for (int i = 0; i < names.length; i++) {
            if (sd.getArrForVarName(names[i]) != arrays[i]) {
                rebind(sd);
                break;
            }
        }
        return vectors;
    }

    /**
     * @return the selected variables' arrays by name, in layout order, after the check of {@link #vectors}
     * @throws IllegalStateException as {@link #vectors}
     */
    Map<String, INDArray> arrays(SameDiff sd) {
        vectors(sd);
        Map<String, INDArray> current = new LinkedHashMap<>();
        for (int i = 0; i < names.length; i++) {
            current.put(names[i], arrays[i]);
        }
        return current;
    }

    private void rebind(SameDiff sd) {
        Map<String, INDArray> now = new LinkedHashMap<>();
        List<String> problems = new ArrayList<>();
        for (String name : names) {
            SDVariable variable = sd.hasVariable(name) ? sd.getVariable(name) : null;
            INDArray array = variable == null ? null : sd.getArrForVarName(name);
            if (variable == null || variable.getVariableType() != VariableType.VARIABLE || array == null) {
                problems.add("variable '" + name + "' is " + (variable == null ? "gone"
                        : array == null ? "without an array" : "now of type " + variable.getVariableType()));
            } else if (array.dataType() != layout.type()) {
                problems.add("variable '" + name + "' is " + array.dataType() + " here, " + layout.type()
                        + " in the average");
            } else {
                now.put(name, array);
            }
        }
        String difference = problems.isEmpty() ? ParameterLayout.of(now, layout.type()).differenceFrom(layout)
                : String.join("; ", problems);
        if (difference != null) {
            throw new IllegalStateException("the variables of " + describe(sd) + " changed while averaging: "
                    + difference + ". The variables averaged may not change shape or type; create a new averager "
                    + "for the changed graph. Nothing was changed.");
        }
        INDArray[] newVectors = new INDArray[names.length];
        for (int i = 0; i < names.length; i++) {
            newVectors[i] = vectorOf(names[i], now.get(names[i]));
        }
        for (int i = 0; i < names.length; i++) {
            arrays[i] = now.get(names[i]);
            vectors[i] = newVectors[i];
        }
    }

    /**
     * @return a SHA-256 digest of the selected variables of {@code sd}, in layout order
     */
    String digest(SameDiff sd) {
        INDArray[] current = new INDArray[names.length];
        for (int i = 0; i < names.length; i++) {
            current[i] = sd.getArrForVarName(names[i]);
        }
        return ParameterLayout.digest(current);
    }

    /**
     * @return the error for an averager bound here that was called with {@code other}
     */
    IllegalStateException otherGraph(SameDiff other, String averager) {
        SameDiff bound = graph.get();
        if (bound == null) {
            return new IllegalStateException("the graph that " + averager + " averaged has been garbage-collected; "
                    + "an averager averages one graph: create a new one for " + describe(other));
        }
        return new IllegalStateException(averager + " averages " + describe(bound) + " and was called with another "
                + "graph, " + describe(other) + ". One averager averages one graph: create a SameDiffAverager per "
                + "graph. Nothing was changed.");
    }

    // ---------------------------------------------------------------- what a SameDiff graph is

    /**
     * @throws IllegalArgumentException if {@code sd} is null
     * @throws IllegalStateException    if it has no trainable variable
     */
    static void require(SameDiff sd) {
        if (sd == null) {
            throw new IllegalArgumentException("graph should be a SameDiff instance (got: null)");
        }
        if (trainable(sd).isEmpty()) {
            throw new IllegalStateException(describe(sd) + " has no trainable variable (of VariableType.VARIABLE and "
                    + "a floating-point type): create them with sd.var(...), or turn constants into variables with "
                    + "sd.convertToVariables(...), before training or averaging");
        }
    }

    /**
     * The graph's trainable variables: of {@link VariableType#VARIABLE} and a floating-point type, the variables
     * {@code SameDiff.fit} updates, with their arrays (null if one has none), in name order (SameDiff's own order is
     * that of its variable map, which a saved and loaded graph need not keep). Empty variables are left out.
     */
    static Map<String, INDArray> trainable(SameDiff sd) {
        Map<String, INDArray> trainable = new TreeMap<>();
        for (Variable v : sd.getVariables().values()) {
            SDVariable variable = v.getVariable();
            if (variable.getVariableType() == VariableType.VARIABLE && variable.dataType().isFPType()) {
                INDArray array = sd.getArrForVarName(v.getName());
                if (array == null || array.length() > 0) {
                    trainable.put(v.getName(), array);
                }
            }
        }
        return trainable;
    }

    /**
     * The variables {@code selection} picks among the graph's trainable ones, in name order.
     *
     * @throws IllegalArgumentException if the selection names a variable that is not trainable in the graph, selects
     *                                  nothing, is not a selection by name, or the selected variables have no array
     *                                  or differ in type
     */
    static Map<String, INDArray> selected(SameDiff sd, ParameterSelection selection) {
        if (!selection.byNameOnly()) {
            throw new IllegalArgumentException("a SameDiff graph's variables are selected by name: "
                    + "ParameterSelection.all(), keys(...) or allExcept(...) (got: " + selection + ")");
        }
        Map<String, INDArray> trainable = trainable(sd);
        List<String> chosen = selection.selectNames(new ArrayList<>(trainable.keySet()),
                "the trainable variables of " + describe(sd));
        Map<String, INDArray> selected = new LinkedHashMap<>();
        Map<DataType, List<String>> types = new TreeMap<>();
        for (String name : chosen) {
            INDArray array = trainable.get(name);
            if (array == null) {
                throw new IllegalArgumentException("variable '" + name + "' of " + describe(sd) + " has no array: "
                        + "give it one (sd.getVariable(name).setArray(...)) or leave it out of the selection");
            }
            selected.put(name, array);
            types.computeIfAbsent(array.dataType(), t -> new ArrayList<>()).add(name);
        }
        if (types.size() > 1) {
            throw new IllegalArgumentException("the selected variables of " + describe(sd) + " should share one "
                    + "floating-point type, as one average holds them; select the variables of one type with "
                    + "variables(...) (got: " + types + ")");
        }
        return Collections.unmodifiableMap(selected);
    }

    /** @return the layout of the selected variables ({@link #selected}) */
    static ParameterLayout layoutOf(Map<String, INDArray> selected) {
        return ParameterLayout.of(selected, selected.values().iterator().next().dataType());
    }

    /**
     * The graph whose iteration {@code sd} runs: {@code SameDiff.fit} calls {@code iterationStart} with the graph and
     * {@code iterationDone} with its gradient function, a second graph sharing the variables' arrays.
     *
     * @param training the graph of the last {@code iterationStart}, or null
     * @return {@code training} if {@code sd} is it or its gradient function, else {@code sd}
     */
    static SameDiff trainingGraph(SameDiff training, SameDiff sd) {
        return training != null && (training == sd || training.getFunction(GRADIENT_FUNCTION) == sd) ? training : sd;
    }

    /** @return the graph's epoch count ({@code TrainingConfig}), or -1 without a training configuration */
    static int epochCount(SameDiff sd) {
        TrainingConfig config = sd == null ? null : sd.getTrainingConfig();
        return config == null ? -1 : config.getEpochCount();
    }

    /** @return the graph's iteration count ({@code TrainingConfig}), or -1 without a training configuration */
    static int iterationCount(SameDiff sd) {
        TrainingConfig config = sd == null ? null : sd.getTrainingConfig();
        return config == null ? -1 : config.getIterationCount();
    }

    static String describe(SameDiff sd) {
        return "SameDiff@" + Integer.toHexString(System.identityHashCode(sd));
    }

    /**
     * The array of a variable as a vector over the same memory, in C order: the form the core reads and writes.
     *
     * @throws IllegalStateException if the array is not contiguous in C order, so no vector view of it exists
     */
    private static INDArray vectorOf(String name, INDArray array) {
        INDArray vector = null;
        if (contiguousInC(array)) {
            vector = array.rank() == 1 ? array : array.reshape('c', new long[] {array.length()});
        }
        if (vector == null || vector.data().address() != array.data().address()
                || vector.offset() != array.offset()) {
            throw new IllegalStateException("variable '" + name + "' holds an array that is not contiguous in C "
                    + "order, which an in-place average cannot see as a vector; give it a C-order copy with "
                    + "sd.getVariable(\"" + name + "\").setArray(array.dup('c')) (got: order " + array.ordering()
                    + ", shape " + Arrays.toString(array.shape()) + ", stride " + Arrays.toString(array.stride())
                    + ")");
        }
        return vector;
    }

    /** @return true if the elements of {@code array} lie one after the other in C order (dimensions of 1 aside) */
    private static boolean contiguousInC(INDArray array) {
        long[] shape = array.shape();
        long[] stride = array.stride();
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && stride[i] != expected) {
                return false;
            }
            expected *= shape[i];
        }
        return true;
    }
}
