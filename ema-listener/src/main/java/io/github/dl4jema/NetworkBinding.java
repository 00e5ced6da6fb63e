package io.github.dl4jema;

import java.lang.ref.WeakReference;
import java.util.Collection;
import java.util.List;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One averager's hold on the DL4J network it averages: the network (weakly, so that a listener kept after training
 * keeps neither the network nor its updater alive), its parameter layout when the averager bound to it, the
 * selection's ranges of the flat {@code params()} buffer, and whether its layers carry constraints.
 *
 * <p>Also the one place that answers what a DL4J {@code Model} is: a network or not, its counters, its layers and
 * listeners.
 */
final class NetworkBinding {

    private final WeakReference<Model> network;
    private final ParameterLayout layout;
    private final long[] ranges;
    private final boolean constrained;
    private final String subject;
    private long generationSeen = -1;

    private NetworkBinding(Model model, ParameterLayout layout, long[] ranges) {
        this.network = new WeakReference<>(model);
        this.layout = layout;
        this.ranges = ranges;
        this.constrained = hasConstraints(model);
        this.subject = "a " + model.getClass().getSimpleName();
    }

    /**
     * Binds an averager to {@code model} and registers its name on the network.
     *
     * @param layout   the network's layout (computed by the caller, who may have checked a saved state against it)
     * @param takeOver true for a restored averager, which supersedes a live one of the same name
     * @throws IllegalArgumentException if the selection does not fit the network
     * @throws IllegalStateException    if another live averager on the network has the same name
     */
    static NetworkBinding bind(Model model, ParameterLayout layout, EmaConfig config, Object owner,
                               boolean takeOver) {
        long[] ranges = config.selection().resolve(model);
        ModelSlot.of(model).register(config.name(), owner, config.scoreOnAverage(), takeOver);
        return new NetworkBinding(model, layout, ranges);
    }

    /** @return the network, or null once it has been garbage-collected */
    Model network() {
        return network.get();
    }

    boolean isFor(Model model) {
        return model != null && network.get() == model;
    }

    ParameterLayout layout() {
        return layout;
    }

    long[] ranges() {
        return ranges;
    }

    /** @return what is averaged, for log lines: {@code a MultiLayerNetwork} or {@code a ComputationGraph} */
    String subject() {
        return subject;
    }

    /** @return true if a layer of the network has weight constraints, which DL4J applies after iterationDone */
    boolean constrained() {
        return constrained;
    }

    /**
     * @return the error for an averager bound here that was called with {@code other}
     */
    IllegalStateException otherNetwork(Model other, String averager) {
        Model bound = network.get();
        if (bound == null) {
            return new IllegalStateException("the network that " + averager + " averaged has been garbage-collected;"
                    + " a listener averages one network: create a new one for " + describe(other));
        }
        return new IllegalStateException(averager + " averages " + describe(bound) + " and was called with another "
                + "network, " + describe(other) + ". One listener averages one network: create an EmaListener per "
                + "network. A copy of the network is another network: for the averaged weights in a copy use "
                + "ema.averagedCopy(net), and to have early stopping's best model hold the average build the listener "
                + "with scoreOnAverage(). Under ParallelWrapper or Spark keep the listener off the workers and call "
                + "ema.update(net) on the master network after each fit (README, 'Scale-out').");
    }

    /**
     * The cached views of the selected ranges of the network's parameter buffer; re-checks the layout if the
     * buffer was replaced since the last call ({@code init()}).
     *
     * @throws IllegalStateException if the layout changed
     */
    INDArray[] views(Model model) {
        ModelSlot slot = ModelSlot.of(model);
        INDArray[] views = slot.views(model, ranges);
        long generation = slot.generation();
        if (generation != generationSeen) {
            String difference = ParameterLayout.of(model).differenceFrom(layout);
            if (difference != null) {
                throw new IllegalStateException("the parameters of " + describe(model) + " changed while averaging: "
                        + difference + ". The parameter layout may not change; create a new listener for the new "
                        + "network. Nothing was changed.");
            }
            generationSeen = generation;
        }
        return views;
    }

    // ---------------------------------------------------------------- what a DL4J model is

    /**
     * @throws IllegalArgumentException if {@code model} is not a {@code MultiLayerNetwork} or {@code ComputationGraph}
     * @throws IllegalStateException    if it has no parameters (not initialised)
     */
    static void require(Model model) {
        if (!isNetwork(model)) {
            throw new IllegalArgumentException("network should be a MultiLayerNetwork or ComputationGraph (got: "
                    + (model == null ? "null" : model.getClass().getName()) + ")");
        }
        INDArray params = model.params();
        if (params == null || params.length() == 0) {
            throw new IllegalStateException(describe(model) + " has no parameters: call init() on it before "
                    + "training or averaging");
        }
    }

    static boolean isNetwork(Model model) {
        return model instanceof MultiLayerNetwork || model instanceof ComputationGraph;
    }

    static Layer[] layers(Model model) {
        return model instanceof MultiLayerNetwork mln ? mln.getLayers() : ((ComputationGraph) model).getLayers();
    }

    static int epochCount(Model model) {
        return model instanceof MultiLayerNetwork mln ? mln.getEpochCount()
                : ((ComputationGraph) model).getEpochCount();
    }

    static int iterationCount(Model model) {
        return model instanceof MultiLayerNetwork mln ? mln.getIterationCount()
                : ((ComputationGraph) model).getIterationCount();
    }

    /** @return the network's listeners, never null */
    static List<TrainingListener> listeners(Model model) {
        Collection<TrainingListener> listeners = model instanceof MultiLayerNetwork mln
                ? mln.getListeners() : ((ComputationGraph) model).getListeners();
        return listeners == null ? List.of() : List.copyOf(listeners);
    }

    static String describe(Model model) {
        return model.getClass().getSimpleName() + "@" + Integer.toHexString(System.identityHashCode(model));
    }

    private static boolean hasConstraints(Model model) {
        for (Layer layer : layers(model)) {
            List<?> constraints = layer.conf() == null || layer.conf().getLayer() == null ? null
                    : layer.conf().getLayer().getConstraints();
            if (constraints != null && !constraints.isEmpty()) {
                return true;
            }
        }
        return false;
    }
}
