package io.github.dl4jema;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.graph.vertex.impl.FrozenVertex;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.adapter.MultiDataSetIteratorAdapter;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.dataset.api.iterator.MultiDataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Recomputes the running statistics of a network's batch-normalization layers from data, for a network that carries
 * averaged weights: PyTorch's {@code torch.optim.swa_utils.update_bn} for DL4J.
 *
 * <pre>{@code
 * EmaListener ema = EmaListener.exponential(0.99).build();
 * net.addListeners(ema);
 * net.fit(trainIterator, 20);
 * MultiLayerNetwork averaged = BatchNormStatistics.recompute(ema, net, trainIterator);   // net is not touched
 * System.out.println(averaged.evaluate(testIterator).stats());
 * }</pre>
 *
 * <p>Why: a {@code BatchNormalization} layer normalizes with its running mean and variance at inference. Those were
 * estimated, by DL4J's momentum update (decay 0.9 by default), for the training weights of the last few iterations;
 * averaged weights produce other activations, and the averaged statistics (or the training ones, with
 * {@link ParameterSelection#allExceptBatchNormStatistics()}) do not describe them. Izmailov et al. (SWA, 2018)
 * recompute them with one pass over the training data; so does this class.
 *
 * <p>What it computes: one forward pass in training mode over every minibatch of the iterator, as PyTorch's
 * {@code update_bn} does (each batch-normalization layer normalizes by the batch's own statistics, and dropout is
 * active, as in training). For each {@code BatchNormalization} layer, the new running mean and variance are the
 * <b>exact mean and population variance of all the inputs the layer received in the pass</b>: over every example of
 * every minibatch for a dense layer (input {@code [n, c]}), and also over every position for a convolutional layer
 * (input {@code [n, c, h, w]} or {@code [n, h, w, c]}, per channel). Minibatches are combined with Chan et al.'s
 * pairwise update (counts, means and sums of squared deviations, in double precision), so the result does not depend
 * on how the data is cut into minibatches, only on the layer inputs. The variance divides by the number of values,
 * as DL4J does for the batch variance it normalizes with and averages into its running variance. This differs from
 * PyTorch's {@code update_bn} ({@code momentum=None}), which takes the equal-weight mean of the per-batch means and
 * of the per-batch unbiased variances: the two agree when every batch has the same size and the same mean, up to the
 * factor {@code m/(m−1)} of a batch of {@code m} values.
 *
 * <p>How it is written: in DL4J's own parameter form. The key {@code mean} receives the mean; {@code var} the variance
 * when the layer was built with {@code useLogStd(false)}; otherwise (DL4J's default since 1.0.0-beta4) the key
 * {@code log10stdev} receives {@code log10(√var) = ½·log10(var)}. DL4J stores the variance without {@code eps} and
 * normalizes at inference by {@code √(var + eps)} (with {@code var = (10^log10stdev)²}), so {@code eps} is not added
 * here. A channel whose inputs were all equal (variance 0) gets {@code log10stdev = ½·log10(Double.MIN_NORMAL)}
 * (about −153.8), which DL4J reads as a variance of 0 in FLOAT and DOUBLE networks. No other parameter changes: the
 * pass runs on a throwaway network that shares the parameter buffer, so the network's own input, masks, layer caches
 * and updater are not touched either. Frozen batch-normalization layers ({@code FrozenLayer},
 * {@code FrozenLayerWithBackprop}, {@code FrozenVertex}, {@code setFeatureExtractor}) keep their statistics, as they
 * do in training.
 *
 * <p>A note on averaging the statistics themselves: with the default {@code log10stdev} form, a listener that averages
 * all parameters averages {@code log10(σ)} element-wise, so the averaged standard deviation is the <i>geometric</i>
 * mean of the snapshots' standard deviations (weighted, for an exponential average), never larger than their
 * arithmetic mean; the mean is averaged arithmetically.
 *
 * <p>Iterators: a resettable iterator is reset before the pass (so that every minibatch is used) and after it, also
 * when the pass fails; one that cannot reset is read from where it stands to its end. Its pre-processor (a
 * normalizer, say) applies as in training. Feature masks are not used: DL4J's batch normalization ignores them.
 * Supported layer inputs are rank 2 and rank 4; anything else is refused before any parameter is written. The pass
 * costs one forward pass over the data, plus three double-precision vectors per layer.
 */
public final class BatchNormStatistics {

    private static final Logger log = LoggerFactory.getLogger(BatchNormStatistics.class);

    /** The variance below which {@code log10stdev} is clamped, so that it stays finite. */
    static final double MIN_VARIANCE = Double.MIN_NORMAL;

    private BatchNormStatistics() {
    }

    /**
     * Recomputes the running mean and variance of every batch-normalization layer of {@code net} (in place) from one
     * training-mode pass over {@code data}. For a network whose weights are averaged in write-back mode, or any
     * network; for the shadow average of a listener, use {@link #recompute(EmaListener, Model, DataSetIterator)}:
     * statistics recomputed while an average is swapped in ({@link EmaListener#swapIn(Model)}) are lost when the swap
     * closes and restores the training parameters.
     *
     * @param net  a {@code MultiLayerNetwork}, or a {@code ComputationGraph} with one input
     * @param data the data, typically the training set; reset before and after the pass when it can reset
     * @return the number of batch-normalization layers recomputed; 0 if the network has none, and then the iterator is
     *         not read
     * @throws IllegalArgumentException if an argument is null or not a network, the iterator gives no data, a graph
     *                                  has several inputs, or a layer's input is not of rank 2 or 4; nothing is
     *                                  written then
     * @throws IllegalStateException    if the network is not initialised or the statistics are not finite (the
     *                                  weights hold NaN or infinity); nothing is written then
     */
    public static int recompute(Model net, DataSetIterator data) {
        requireNetwork(net);
        if (data == null) {
            throw new IllegalArgumentException("data should be a DataSetIterator over the training data (got: null)");
        }
        if (net instanceof ComputationGraph graph && graph.getNumInputArrays() != 1) {
            throw new IllegalArgumentException("a ComputationGraph with several inputs needs a MultiDataSetIterator: "
                    + "recompute(graph, multiDataSetIterator) (got: a DataSetIterator for "
                    + graph.getNumInputArrays() + " inputs)");
        }
        return run(net, batches(new MultiDataSetIteratorAdapter(data)));
    }

    /**
     * Recomputes the batch-normalization statistics of a {@code ComputationGraph} (in place) from a
     * {@code MultiDataSetIterator}, for graphs with several inputs; otherwise as
     * {@link #recompute(Model, DataSetIterator)}.
     *
     * @param net  the graph
     * @param data the data; its features are the graph's inputs, in order
     * @return the number of batch-normalization layers recomputed
     * @throws IllegalArgumentException as {@link #recompute(Model, DataSetIterator)}
     * @throws IllegalStateException    as {@link #recompute(Model, DataSetIterator)}
     */
    public static int recompute(ComputationGraph net, MultiDataSetIterator data) {
        requireNetwork(net);
        if (data == null) {
            throw new IllegalArgumentException("data should be a MultiDataSetIterator over the training data "
                    + "(got: null)");
        }
        return run(net, batches(data));
    }

    /** The features of each minibatch of {@code data}, with its reset (a {@code DataSetIterator} comes adapted). */
    private static Batches batches(MultiDataSetIterator data) {
        return new Batches() {
            @Override
            public boolean resetSupported() {
                return data.resetSupported();
            }

            @Override
            public void reset() {
                data.reset();
            }

            @Override
            public INDArray[] next() {
                return data.hasNext() ? data.next().getFeatures() : null;
            }
        };
    }

    /**
     * The averaged network of {@code ema} with its batch-normalization statistics recomputed: a new network
     * ({@link EmaListener#averagedCopy(Model)}) on which {@link #recompute(Model, DataSetIterator)} has run. The
     * training network and the average are not touched. This is the network to evaluate, save or serve.
     *
     * @param ema  the averager of {@code net}
     * @param net  the network it averages
     * @param data the data, typically the training set
     * @param <T>  {@code MultiLayerNetwork} or {@code ComputationGraph}
     * @return the averaged copy, with recomputed statistics
     * @throws IllegalArgumentException as {@link #recompute(Model, DataSetIterator)}, or if {@code ema} is null
     * @throws IllegalStateException    as {@link EmaListener#averagedCopy(Model)} and
     *                                  {@link #recompute(Model, DataSetIterator)}
     */
    public static <T extends Model> T recompute(EmaListener ema, T net, DataSetIterator data) {
        T copy = averagedCopy(ema, net);
        recompute(copy, data);
        return copy;
    }

    /**
     * As {@link #recompute(EmaListener, Model, DataSetIterator)}, for a {@code ComputationGraph} and a
     * {@code MultiDataSetIterator}.
     *
     * @param ema  the averager of {@code net}
     * @param net  the graph it averages
     * @param data the data
     * @return the averaged copy, with recomputed statistics
     * @throws IllegalArgumentException as {@link #recompute(Model, DataSetIterator)}, or if {@code ema} is null
     * @throws IllegalStateException    as {@link #recompute(Model, DataSetIterator)}
     */
    public static ComputationGraph recompute(EmaListener ema, ComputationGraph net, MultiDataSetIterator data) {
        ComputationGraph copy = averagedCopy(ema, net);
        recompute(copy, data);
        return copy;
    }

    private static <T extends Model> T averagedCopy(EmaListener ema, T net) {
        if (ema == null) {
            throw new IllegalArgumentException("ema should be the EmaListener that averages the network (got: null)");
        }
        return ema.averagedCopy(net);
    }

    // ---------------------------------------------------------------- the pass

    /** The minibatches' features, whatever the kind of iterator. */
    private interface Batches {
        boolean resetSupported();

        void reset();

        /** @return the next minibatch's features, or null at the end */
        INDArray[] next();
    }

    /** A batch-normalization layer of the network and where its input comes from. */
    private record Target(String name, BatchNormalization layer, int index, String inputVertex,
                          InputPreProcessor preProcessor) {
    }

    /** Count, mean and sum of squared deviations of one layer's inputs so far, per channel, in double precision. */
    private static final class Moments {
        private double count;
        private INDArray mean;
        private INDArray squaredDeviations;

        /** Chan, Golub and LeVeque's pairwise combination of this and a minibatch's moments. */
        void add(double batchCount, INDArray batchMean, INDArray batchSquaredDeviations) {
            if (count == 0) {
                count = batchCount;
                mean = batchMean;
                squaredDeviations = batchSquaredDeviations;
                return;
            }
            double total = count + batchCount;
            INDArray delta = batchMean.sub(mean);
            mean.addi(delta.mul(batchCount / total));
            squaredDeviations.addi(batchSquaredDeviations).addi(delta.muli(delta).muli(count * batchCount / total));
            count = total;
        }
    }

    private static int run(Model net, Batches batches) {
        List<Target> targets = targets(net);
        if (targets.isEmpty()) {
            return 0;
        }
        Model probe = sharingParameters(net);
        List<Moments> moments = new ArrayList<>();
        for (int i = 0; i < targets.size(); i++) {
            moments.add(new Moments());
        }
        long minibatches = 0;
        if (batches.resetSupported()) {
            batches.reset();
        }
        try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
            for (INDArray[] features = batches.next(); features != null; features = batches.next()) {
                if (features.length == 0 || features[0] == null) {
                    throw new IllegalArgumentException("every minibatch should have features (got: minibatch "
                            + (minibatches + 1) + " without)");
                }
                List<INDArray> inputs = layerInputs(probe, targets, features);
                for (int i = 0; i < targets.size(); i++) {
                    accumulate(targets.get(i), inputs.get(i), moments.get(i));
                }
                minibatches++;
            }
            if (minibatches == 0) {
                throw new IllegalArgumentException("data should hold at least one minibatch (got: an iterator with "
                        + "no data" + (batches.resetSupported() ? "" : " left; it cannot be reset") + ")");
            }
            List<INDArray[]> statistics = new ArrayList<>();
            for (int i = 0; i < targets.size(); i++) {
                statistics.add(finish(targets.get(i), moments.get(i)));
            }
            for (int i = 0; i < targets.size(); i++) {
                write(targets.get(i).layer(), statistics.get(i)[0], statistics.get(i)[1]);
            }
        } finally {
            if (batches.resetSupported()) {
                batches.reset();
            }
        }
        log.debug("Recomputed the statistics of {} batch-normalization layer(s) of a {} over {} minibatches",
                targets.size(), net.getClass().getSimpleName(), minibatches);
        return targets.size();
    }

    private static List<Target> targets(Model net) {
        List<Target> targets = new ArrayList<>();
        if (net instanceof MultiLayerNetwork mln) {
            Layer[] layers = mln.getLayers();
            for (int i = 0; i < layers.length; i++) {
                if (layers[i] instanceof BatchNormalization bn) {
                    targets.add(new Target("layer " + i, bn, i, null,
                            mln.getLayerWiseConfigurations().getInputPreProcess(i)));
                }
            }
        } else {
            ComputationGraph graph = (ComputationGraph) net;
            for (GraphVertex vertex : graph.getVertices()) {
                if (vertex.hasLayer() && !(vertex instanceof FrozenVertex)
                        && vertex.getLayer() instanceof BatchNormalization bn) {
                    String name = vertex.getVertexName();
                    LayerVertex conf = (LayerVertex) graph.getConfiguration().getVertices().get(name);
                    targets.add(new Target("layer '" + name + "'", bn, -1,
                            graph.getConfiguration().getVertexInputs().get(name).get(0), conf.getPreProcessor()));
                }
            }
        }
        return targets;
    }

    /**
     * A network of the same configuration whose parameters are views into {@code net}'s own buffer: the forward pass
     * runs on it, so that nothing of {@code net} but the buffer is involved, and the buffer is only read.
     */
    private static Model sharingParameters(Model net) {
        if (net instanceof MultiLayerNetwork mln) {
            MultiLayerNetwork probe = new MultiLayerNetwork(mln.getLayerWiseConfigurations().clone());
            probe.init(mln.params(), false);
            return probe;
        }
        ComputationGraph graph = (ComputationGraph) net;
        ComputationGraph probe = new ComputationGraph(graph.getConfiguration().clone());
        probe.init(graph.params(), false);
        return probe;
    }

    /** The input of each target layer in a training-mode forward pass, after the layer's input pre-processor. */
    private static List<INDArray> layerInputs(Model probe, List<Target> targets, INDArray[] features) {
        List<INDArray> inputs = new ArrayList<>();
        int minibatch = (int) features[0].size(0);
        if (probe instanceof MultiLayerNetwork mln) {
            List<INDArray> activations = mln.feedForward(features[0], true);
            for (Target target : targets) {
                inputs.add(preProcessed(target, activations.get(target.index()), minibatch));
            }
        } else {
            Map<String, INDArray> activations = ((ComputationGraph) probe).feedForward(features, true);
            for (Target target : targets) {
                inputs.add(preProcessed(target, activations.get(target.inputVertex()), minibatch));
            }
        }
        return inputs;
    }

    private static INDArray preProcessed(Target target, INDArray input, int minibatch) {
        return target.preProcessor() == null ? input
                : target.preProcessor().preProcess(input, minibatch, LayerWorkspaceMgr.noWorkspaces());
    }

    private static void accumulate(Target target, INDArray input, Moments moments) {
        org.deeplearning4j.nn.conf.layers.BatchNormalization conf = target.layer().layerConf();
        int[] dims;
        long channels;
        if (input.rank() == 2) {
            dims = new int[] {0};
            channels = input.size(1);
        } else if (input.rank() == 4) {
            boolean nchw = conf.getCnn2DFormat() == CNN2DFormat.NCHW;
            dims = nchw ? new int[] {0, 2, 3} : new int[] {0, 1, 2};
            channels = input.size(nchw ? 1 : 3);
        } else {
            throw new IllegalArgumentException("batch-normalization " + target.name() + " receives inputs of rank "
                    + input.rank() + "; recomputing its statistics supports dense (rank 2) and convolutional (rank 4) "
                    + "inputs (got: shape " + java.util.Arrays.toString(input.shape()) + "). Nothing was changed.");
        }
        if (channels != conf.getNOut()) {
            throw new IllegalArgumentException("batch-normalization " + target.name() + " has " + conf.getNOut()
                    + " channels but receives inputs with " + channels + " (got: shape "
                    + java.util.Arrays.toString(input.shape()) + "). Nothing was changed.");
        }
        INDArray values = input.castTo(DataType.DOUBLE);
        double count = (double) values.length() / channels;
        INDArray mean = values.mean(dims).reshape(channels);
        INDArray squaredDeviations = values.var(false, dims).reshape(channels).muli(count);
        moments.add(count, mean, squaredDeviations);
    }

    /** @return the mean and the population variance, checked finite */
    private static INDArray[] finish(Target target, Moments moments) {
        INDArray variance = moments.squaredDeviations.div(moments.count);
        for (INDArray statistic : new INDArray[] {moments.mean, variance}) {
            if (statistic.isNaN().any() || statistic.isInfinite().any()) {
                throw new IllegalStateException("the inputs of batch-normalization " + target.name() + " hold NaN "
                        + "or infinite values, so its statistics cannot be computed: the network's weights have "
                        + "diverged. Nothing was changed.");
            }
        }
        return new INDArray[] {moments.mean, variance};
    }

    private static void write(BatchNormalization layer, INDArray mean, INDArray variance) {
        INDArray meanView = layer.getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN);
        meanView.assign(mean.reshape(meanView.shape()).castTo(meanView.dataType()));
        if (layer.layerConf().isUseLogStd()) {
            INDArray view = layer.getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD);
            INDArray log10Std = Transforms.log(Transforms.max(variance, MIN_VARIANCE, true), 10.0, false).muli(0.5);
            view.assign(log10Std.reshape(view.shape()).castTo(view.dataType()));
        } else {
            INDArray view = layer.getParam(BatchNormalizationParamInitializer.GLOBAL_VAR);
            view.assign(variance.reshape(view.shape()).castTo(view.dataType()));
        }
    }

    private static void requireNetwork(Model net) {
        if (!(net instanceof MultiLayerNetwork || net instanceof ComputationGraph)) {
            throw new IllegalArgumentException("network should be a MultiLayerNetwork or ComputationGraph (got: "
                    + (net == null ? "null" : net.getClass().getName()) + ")");
        }
        INDArray params = net.params();
        if (params == null || params.length() == 0) {
            throw new IllegalStateException("the network has no parameters: call init() on it before recomputing "
                    + "its batch-normalization statistics");
        }
    }
}
