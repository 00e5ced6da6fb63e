package io.github.dl4jema.ensemble;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.InputPreProcessor;
import org.deeplearning4j.nn.conf.layers.BaseLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.graph.vertex.GraphVertex;
import org.deeplearning4j.nn.graph.vertex.impl.LayerVertex;
import org.deeplearning4j.nn.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.evaluation.IEvaluation;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.activations.IActivation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.api.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

/**
 * The Ensemble of Averages of Arpit, Wang, Zhou and Xiong (NeurIPS 2022): several trained networks, each typically
 * the moving average of a different run (seed or hyperparameters), combined into one predictor that averages their
 * outputs with equal weights.
 *
 * <pre>{@code
 * EnsembleOfAverages ensemble = EnsembleOfAverages.builder()
 *         .member(sma1.averagedCopy(net1))
 *         .member(sma2.averagedCopy(net2))
 *         .build();                                  // averages logits, as the paper
 * Evaluation eval = ensemble.evaluate(testIterator);
 * }</pre>
 *
 * <p>With {@link OutputAveraging#LOGITS} (the default, as the paper's reference code) the output is
 * {@code act(mean_m z_m)}, where {@code z_m = x·W + b} is member {@code m}'s output layer before its activation and
 * {@code act} that activation (softmax for a classifier). With {@link OutputAveraging#PROBABILITIES} it is
 * {@code mean_m act(z_m)}. The two can pick different classes: logit averaging lets a confident member outvote
 * several unsure ones less than probability averaging does.
 *
 * <p>Members may be {@code MultiLayerNetwork}s and {@code ComputationGraph}s (one input, one output), mixed. They
 * must map the same input to the same classes: {@link Builder#build()} compares their input and output sizes and
 * refuses a mismatch. The ensemble holds the members themselves, not copies; pass averaged copies
 * ({@code EmaListener.averagedCopy}) rather than networks that are still training. Inference runs in test mode
 * (no dropout); the ensemble is not thread-safe, as DL4J networks are not.
 */
public final class EnsembleOfAverages {

    /** The default output averaging: {@link OutputAveraging#LOGITS}, as the paper's reference code. */
    public static final OutputAveraging DEFAULT_AVERAGING = OutputAveraging.LOGITS;

    private final List<Model> members;
    private final OutputAveraging averaging;
    private final IActivation activation;
    private final long inputSize;
    private final long outputSize;

    private EnsembleOfAverages(Builder builder, IActivation activation, long inputSize, long outputSize) {
        this.members = List.copyOf(builder.members);
        this.averaging = builder.averaging;
        this.activation = activation;
        this.inputSize = inputSize;
        this.outputSize = outputSize;
    }

    /** @return a builder with no members and {@link #DEFAULT_AVERAGING} */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The ensemble's output for a minibatch: the averaged predictions, one row per example.
     *
     * @param features the input, {@code [examples, inputs]} or whatever shape the members take
     * @return {@code [examples, classes]}: probabilities for softmax output layers
     * @throws IllegalArgumentException if {@code features} is null
     * @throws IllegalStateException    if members return outputs of different shapes for this input
     */
    public INDArray output(INDArray features) {
        if (features == null) {
            throw new IllegalArgumentException("features should be an INDArray of examples (got: null)");
        }
        INDArray mean = null;
        for (int m = 0; m < members.size(); m++) {
            INDArray out = averaging == OutputAveraging.LOGITS ? logits(members.get(m), features)
                    : probabilities(members.get(m), features);
            if (mean == null) {
                mean = out.dup();
            } else if (!Arrays.equals(mean.shape(), out.shape())) {
                throw new IllegalStateException("member " + m + " returned an output of shape "
                        + Arrays.toString(out.shape()) + " but member 0 returned "
                        + Arrays.toString(mean.shape()) + " for the same input");
            } else {
                mean.addi(out.castTo(mean.dataType()));
            }
        }
        mean.divi(members.size());
        return averaging == OutputAveraging.LOGITS ? activation.getActivation(mean, false) : mean;
    }

    /**
     * The averaged pre-activation outputs (logits) of the members, before the output activation. Available in both
     * averaging modes, but needs dense output layers as {@link OutputAveraging#LOGITS} does.
     *
     * @param features the input
     * @return {@code [examples, classes]}, the mean of the members' {@code x·W + b}
     * @throws IllegalArgumentException if {@code features} is null
     * @throws IllegalStateException    if a member's output layer is not a dense {@code OutputLayer}
     */
    public INDArray averagedLogits(INDArray features) {
        if (features == null) {
            throw new IllegalArgumentException("features should be an INDArray of examples (got: null)");
        }
        INDArray mean = null;
        for (Model member : members) {
            INDArray z = logits(member, features);
            mean = mean == null ? z.dup() : mean.addi(z);
        }
        return mean.divi(members.size());
    }

    /**
     * Classification metrics of the ensemble on a data set: DL4J's {@link Evaluation} over {@link #output(INDArray)}.
     * The iterator is reset first if it supports it.
     *
     * @param data the labelled examples
     * @return the evaluation
     * @throws IllegalArgumentException if {@code data} is null
     */
    public Evaluation evaluate(DataSetIterator data) {
        return evaluate(data, outputSize > 0 ? new Evaluation((int) outputSize) : new Evaluation());
    }

    /**
     * Any DL4J evaluation (ROC, regression, ...) of the ensemble on a data set, fed with
     * {@link #output(INDArray)}. The iterator is reset first if it supports it.
     *
     * @param data       the labelled examples
     * @param evaluation the evaluation to fill
     * @param <T>        the evaluation type
     * @return {@code evaluation}, filled
     * @throws IllegalArgumentException if an argument is null
     */
    public <T extends IEvaluation<T>> T evaluate(DataSetIterator data, T evaluation) {
        if (data == null) {
            throw new IllegalArgumentException("data should be a DataSetIterator (got: null)");
        }
        if (evaluation == null) {
            throw new IllegalArgumentException("evaluation should be a DL4J evaluation such as new Evaluation() "
                    + "(got: null)");
        }
        if (data.resetSupported()) {
            data.reset();
        }
        while (data.hasNext()) {
            DataSet batch = data.next();
            evaluation.eval(batch.getLabels(), output(batch.getFeatures()));
        }
        return evaluation;
    }

    /** @return the members, in the order they were added (unmodifiable; the networks themselves, not copies) */
    public List<Model> members() {
        return members;
    }

    /** @return what is averaged */
    public OutputAveraging averaging() {
        return averaging;
    }

    /**
     * @return the number of classes (the output layer size shared by all members); 0 for output layers without a
     *         size of their own, such as {@code LossLayer}
     */
    public long numClasses() {
        return outputSize;
    }

    /** @return the input size shared by all members (the first layer's input size), or -1 if not known */
    public long inputSize() {
        return inputSize;
    }

    @Override
    public String toString() {
        return "EnsembleOfAverages{members=" + members.size() + ", averaging=" + averaging + ", inputs=" + inputSize
                + ", classes=" + outputSize + "}";
    }

    // ---------------------------------------------------------------- member access

    private static INDArray probabilities(Model member, INDArray features) {
        if (member instanceof MultiLayerNetwork mln) {
            return mln.output(features, false);
        }
        return ((ComputationGraph) member).outputSingle(false, features);
    }

    /** {@code x·W + b} of the member's output layer, {@code x} being what the output layer receives. */
    private static INDArray logits(Model member, INDArray features) {
        Layer out = outputLayer(member);
        if (!(out instanceof OutputLayer)) {
            throw new IllegalStateException("logits need a dense OutputLayer as the last layer, but this "
                    + member.getClass().getSimpleName() + " ends in a " + out.getClass().getSimpleName());
        }
        INDArray x = outputLayerInput(member, features);
        INDArray w = out.getParam("W");
        INDArray z = x.castTo(w.dataType()).mmul(w);
        INDArray b = out.paramTable().get("b");
        return b == null ? z : z.addiRowVector(b);
    }

    private static INDArray outputLayerInput(Model member, INDArray features) {
        LayerWorkspaceMgr noWorkspaces = LayerWorkspaceMgr.noWorkspaces();
        if (member instanceof MultiLayerNetwork mln) {
            int last = mln.getnLayers() - 1;
            INDArray x = features;
            if (last > 0) {
                List<INDArray> activations = mln.feedForwardToLayer(last - 1, features, false);
                x = activations.get(activations.size() - 1);
            }
            InputPreProcessor pre = mln.getLayerWiseConfigurations().getInputPreProcess(last);
            return pre == null ? x : pre.preProcess(x, (int) x.size(0), noWorkspaces);
        }
        ComputationGraph graph = (ComputationGraph) member;
        String output = graph.getConfiguration().getNetworkOutputs().get(0);
        String input = graph.getConfiguration().getVertexInputs().get(output).get(0);
        Map<String, INDArray> activations = graph.feedForward(new INDArray[] {features}, false);
        INDArray x = activations.get(input);
        InputPreProcessor pre = ((LayerVertex) graph.getVertex(output)).getLayerPreProcessor();
        return pre == null ? x : pre.preProcess(x, (int) x.size(0), noWorkspaces);
    }

    private static Layer outputLayer(Model member) {
        if (member instanceof MultiLayerNetwork mln) {
            return mln.getOutputLayer();
        }
        ComputationGraph graph = (ComputationGraph) member;
        return graph.getVertex(graph.getConfiguration().getNetworkOutputs().get(0)).getLayer();
    }

    private static String describe(int index, Model member) {
        return "member " + index + " (" + member.getClass().getSimpleName() + ")";
    }

    // ---------------------------------------------------------------- builder

    /**
     * Builds an {@link EnsembleOfAverages}. Each method validates its argument at once; {@link #build()} checks that
     * the members fit together.
     */
    public static final class Builder {

        private final List<Model> members = new ArrayList<>();
        private OutputAveraging averaging = DEFAULT_AVERAGING;

        private Builder() {
        }

        /**
         * Adds a member.
         *
         * @param member an initialised {@code MultiLayerNetwork}, or a {@code ComputationGraph} with one input and
         *               one output
         * @return this builder
         * @throws IllegalArgumentException if {@code member} is null, not such a network, or not initialised
         */
        public Builder member(Model member) {
            int index = members.size();
            if (member == null) {
                throw new IllegalArgumentException("member " + index + " should be a MultiLayerNetwork or "
                        + "ComputationGraph (got: null)");
            }
            if (!(member instanceof MultiLayerNetwork) && !(member instanceof ComputationGraph)) {
                throw new IllegalArgumentException("member " + index + " should be a MultiLayerNetwork or "
                        + "ComputationGraph (got: " + member.getClass().getName() + ")");
            }
            if (member.params() == null || member.params().length() == 0) {
                throw new IllegalArgumentException(describe(index, member) + " has no parameters: call init() on it "
                        + "(or train it) before adding it to an ensemble");
            }
            if (member instanceof ComputationGraph graph) {
                int inputs = graph.getConfiguration().getNetworkInputs().size();
                int outputs = graph.getConfiguration().getNetworkOutputs().size();
                if (inputs != 1 || outputs != 1) {
                    throw new IllegalArgumentException(describe(index, member) + " should have one input and one "
                            + "output (got: " + inputs + " inputs, " + outputs + " outputs)");
                }
            }
            members.add(member);
            return this;
        }

        /**
         * Adds members.
         *
         * @param members the members, as {@link #member(Model)}
         * @return this builder
         * @throws IllegalArgumentException as {@link #member(Model)}, or if {@code members} is null
         */
        public Builder members(Iterable<? extends Model> members) {
            if (members == null) {
                throw new IllegalArgumentException("members should be a collection of networks (got: null)");
            }
            for (Model member : members) {
                member(member);
            }
            return this;
        }

        /**
         * What to average. Default {@link OutputAveraging#LOGITS}, as the paper.
         *
         * @param averaging logits or probabilities
         * @return this builder
         * @throws IllegalArgumentException if {@code averaging} is null
         */
        public Builder averaging(OutputAveraging averaging) {
            if (averaging == null) {
                throw new IllegalArgumentException("averaging should be LOGITS or PROBABILITIES (got: null)");
            }
            this.averaging = averaging;
            return this;
        }

        /** @return this builder, averaging logits (the default) */
        public Builder averagingLogits() {
            return averaging(OutputAveraging.LOGITS);
        }

        /** @return this builder, averaging probabilities */
        public Builder averagingProbabilities() {
            return averaging(OutputAveraging.PROBABILITIES);
        }

        /**
         * The ensemble.
         *
         * @return the ensemble
         * @throws IllegalStateException if there are no members; if members differ in input size, output size or (for
         *                               logit averaging) output activation; if logit averaging is asked for and a
         *                               member's last layer is not a dense {@code OutputLayer}
         */
        public EnsembleOfAverages build() {
            if (members.isEmpty()) {
                throw new IllegalStateException("an ensemble should have at least 1 member (got: 0); add the "
                        + "averaged networks with member(net)");
            }
            long inputSize = inputSize(members.get(0));
            long outputSize = outputSize(members.get(0));
            IActivation activation = null;
            for (int m = 0; m < members.size(); m++) {
                Model member = members.get(m);
                long in = inputSize(member);
                long out = outputSize(member);
                if (in != inputSize && in >= 0 && inputSize >= 0) {
                    throw new IllegalStateException(describe(m, member) + " takes inputs of size " + in
                            + " but member 0 takes " + inputSize + "; every member should take the same input");
                }
                if (out != outputSize) {
                    throw new IllegalStateException(describe(m, member) + " has " + out + " outputs but member 0 "
                            + "has " + outputSize + "; every member should predict the same classes");
                }
                if (averaging == OutputAveraging.LOGITS) {
                    Layer layer = outputLayer(member);
                    if (!(layer instanceof OutputLayer)) {
                        throw new IllegalStateException("logit averaging needs a dense OutputLayer as the last "
                                + "layer, but " + describe(m, member) + " ends in a "
                                + layer.getClass().getSimpleName()
                                + "; use averagingProbabilities() for other output layers");
                    }
                    IActivation act = ((BaseLayer) layer.conf().getLayer()).getActivationFn();
                    if (activation == null) {
                        activation = act;
                    } else if (!activation.getClass().equals(act.getClass())) {
                        throw new IllegalStateException(describe(m, member) + " has output activation " + act
                                + " but member 0 has " + activation + "; averaged logits need one activation");
                    }
                }
            }
            return new EnsembleOfAverages(this, activation, inputSize, outputSize);
        }

        private static long outputSize(Model member) {
            if (member instanceof MultiLayerNetwork mln) {
                return mln.layerSize(mln.getnLayers() - 1);
            }
            ComputationGraph graph = (ComputationGraph) member;
            return graph.layerSize(graph.getConfiguration().getNetworkOutputs().get(0));
        }

        /** The input size of the first layer(s) the input feeds; -1 if the input goes through a non-layer vertex. */
        private static long inputSize(Model member) {
            if (member instanceof MultiLayerNetwork mln) {
                return mln.layerInputSize(0);
            }
            ComputationGraph graph = (ComputationGraph) member;
            String input = graph.getConfiguration().getNetworkInputs().get(0);
            long size = -1;
            for (Map.Entry<String, List<String>> vertex : graph.getConfiguration().getVertexInputs().entrySet()) {
                if (!vertex.getValue().contains(input)) {
                    continue;
                }
                GraphVertex v = graph.getVertex(vertex.getKey());
                if (!v.hasLayer()) {
                    return -1;
                }
                size = Math.max(size, graph.layerInputSize(vertex.getKey()));
            }
            return size;
        }
    }
}
