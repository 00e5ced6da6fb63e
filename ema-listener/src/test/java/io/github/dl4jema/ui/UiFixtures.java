package io.github.dl4jema.ui;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Random;
import java.util.function.Consumer;
import org.deeplearning4j.core.storage.Persistable;
import org.deeplearning4j.core.storage.StatsStorageRouter;
import org.deeplearning4j.core.storage.StorageMetaData;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.MultiLayerConfiguration;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.ui.model.stats.api.StatsReport;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/** Small networks, a synthetic three-class task, and test doubles for the stats-storage tests. */
final class UiFixtures {

    static final int FEATURES = 6;
    static final int CLASSES = 3;

    private UiFixtures() {
    }

    /** A 6-8-3 perceptron; with {@code dropout} the hidden layer keeps each input with probability 0.8. */
    static MultiLayerNetwork mlp(long seed, boolean dropout) {
        DenseLayer.Builder hidden = new DenseLayer.Builder().nIn(FEATURES).nOut(8).activation(Activation.TANH);
        if (dropout) {
            hidden.dropOut(0.8);
        }
        MultiLayerConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(DataType.DOUBLE)
                .updater(new Adam(0.05))
                .list()
                .layer(hidden.build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(8).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .build();
        MultiLayerNetwork net = new MultiLayerNetwork(conf);
        net.init();
        return net;
    }

    /** A two-branch graph: in -> a, in -> b, merge(a, b) -> out. */
    static ComputationGraph graph(long seed) {
        ComputationGraphConfiguration conf = new NeuralNetConfiguration.Builder()
                .seed(seed)
                .dataType(DataType.DOUBLE)
                .updater(new Adam(0.05))
                .graphBuilder()
                .addInputs("in")
                .addLayer("a", new DenseLayer.Builder().nIn(FEATURES).nOut(5).activation(Activation.TANH).build(),
                        "in")
                .addLayer("b", new DenseLayer.Builder().nIn(FEATURES).nOut(4).activation(Activation.RELU).build(),
                        "in")
                .addVertex("merge", new MergeVertex(), "a", "b")
                .addLayer("out", new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(9).nOut(CLASSES)
                        .activation(Activation.SOFTMAX).build(), "merge")
                .setOutputs("out")
                .build();
        ComputationGraph net = new ComputationGraph(conf);
        net.init();
        return net;
    }

    /** {@code batches} minibatches of 16 examples of a fixed three-class task drawn with {@code seed}. */
    static List<DataSet> batches(int batches, long seed) {
        Random random = new Random(seed);
        List<DataSet> out = new ArrayList<>();
        for (int b = 0; b < batches; b++) {
            double[][] x = new double[16][FEATURES];
            double[][] y = new double[16][CLASSES];
            for (int i = 0; i < 16; i++) {
                double sum = 0;
                for (int j = 0; j < FEATURES; j++) {
                    x[i][j] = random.nextGaussian();
                    sum += x[i][j] * (j % 3 - 1);
                }
                y[i][sum < -0.5 ? 0 : sum < 0.5 ? 1 : 2] = 1;
            }
            out.add(new DataSet(Nd4j.create(x), Nd4j.create(y)));
        }
        return out;
    }

    /** A resettable iterator over the examples of {@code batches}, 16 a minibatch, in order. */
    static DataSetIterator iterator(List<DataSet> batches) {
        List<DataSet> examples = new ArrayList<>();
        for (DataSet batch : batches) {
            examples.addAll(batch.asList());
        }
        return new ListDataSetIterator<>(examples, 16);
    }

    /** The scores of a session's updates by their iteration index, in timestamp order. */
    static List<double[]> iterationsAndScores(List<Persistable> updates) {
        List<double[]> out = new ArrayList<>();
        for (Persistable p : updates) {
            StatsReport report = (StatsReport) p;
            out.add(new double[] {report.getIterationCount(), report.getScore()});
        }
        return out;
    }

    /**
     * An iterator over fixed minibatches that calls {@code beforeEach} with each minibatch when it is handed out
     * (so, during {@code fit}, just before the network trains on it), and that DL4J does not prefetch.
     */
    static final class Watching implements DataSetIterator {

        private final List<DataSet> batches;
        private final Consumer<DataSet> beforeEach;
        private int next;

        Watching(List<DataSet> batches, Consumer<DataSet> beforeEach) {
            this.batches = batches;
            this.beforeEach = beforeEach;
        }

        @Override
        public boolean hasNext() {
            return next < batches.size();
        }

        @Override
        public DataSet next() {
            DataSet batch = batches.get(next++);
            beforeEach.accept(batch);
            return batch;
        }

        @Override
        public DataSet next(int num) {
            throw new UnsupportedOperationException("next(num)");
        }

        @Override
        public int inputColumns() {
            return FEATURES;
        }

        @Override
        public int totalOutcomes() {
            return CLASSES;
        }

        @Override
        public boolean resetSupported() {
            return true;
        }

        @Override
        public boolean asyncSupported() {
            return false;
        }

        @Override
        public void reset() {
            next = 0;
        }

        @Override
        public int batch() {
            return 16;
        }

        @Override
        public void setPreProcessor(DataSetPreProcessor preProcessor) {
            throw new UnsupportedOperationException("preprocessor");
        }

        @Override
        public DataSetPreProcessor getPreProcessor() {
            return null;
        }

        @Override
        public List<String> getLabels() {
            return null;
        }
    }

    /** A router that forwards to a storage and keeps every update it forwards, in order. */
    static final class Recording implements StatsStorageRouter {

        final List<Persistable> updates = new ArrayList<>();
        private final StatsStorageRouter target;

        Recording(StatsStorageRouter target) {
            this.target = target;
        }

        /** The (iteration, score) pairs of the updates of one session, in the order they were written. */
        List<double[]> session(String sessionId) {
            List<Persistable> of = new ArrayList<>();
            for (Persistable p : updates) {
                if (p.getSessionID().equals(sessionId)) {
                    of.add(p);
                }
            }
            return iterationsAndScores(of);
        }

        @Override
        public void putStorageMetaData(StorageMetaData storageMetaData) {
            target.putStorageMetaData(storageMetaData);
        }

        @Override
        public void putStorageMetaData(Collection<? extends StorageMetaData> storageMetaData) {
            target.putStorageMetaData(storageMetaData);
        }

        @Override
        public void putStaticInfo(Persistable staticInfo) {
            target.putStaticInfo(staticInfo);
        }

        @Override
        public void putStaticInfo(Collection<? extends Persistable> staticInfo) {
            target.putStaticInfo(staticInfo);
        }

        @Override
        public void putUpdate(Persistable update) {
            updates.add(update);
            target.putUpdate(update);
        }

        @Override
        public void putUpdate(Collection<? extends Persistable> updates) {
            for (Persistable p : updates) {
                putUpdate(p);
            }
        }
    }

    /** The parameters {@code params} in a fresh network of {@code net}'s configuration. */
    static MultiLayerNetwork withParams(MultiLayerNetwork net, INDArray params) {
        MultiLayerNetwork copy = new MultiLayerNetwork(net.getLayerWiseConfigurations().clone());
        copy.init(params.dup(), false);
        return copy;
    }

    /** The parameters {@code params} in a fresh graph of {@code net}'s configuration. */
    static ComputationGraph withParams(ComputationGraph net, INDArray params) {
        ComputationGraph copy = new ComputationGraph(net.getConfiguration().clone());
        copy.init(params.dup(), false);
        return copy;
    }

    /** The element-wise mean of the given parameter vectors, in double precision. */
    static INDArray mean(List<INDArray> snapshots) {
        INDArray sum = Nd4j.zeros(DataType.DOUBLE, snapshots.get(0).length());
        for (INDArray s : snapshots) {
            sum.addi(s.reshape(s.length()).castTo(DataType.DOUBLE));
        }
        return sum.divi(snapshots.size());
    }
}
