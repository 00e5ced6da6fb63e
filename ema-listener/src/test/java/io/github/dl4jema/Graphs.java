package io.github.dl4jema;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.TrainingConfig;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.Conv2DConfig;
import org.nd4j.linalg.api.ops.impl.layers.convolution.config.Pooling2DConfig;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.learning.config.Adam;

/**
 * Small SameDiff graphs written with SameDiff's own API, trained on generated data: a perceptron and a convolutional
 * graph, with their training configuration set so that {@code sd.fit(iterator, epochs)} trains them. Built from a
 * seed, so that two graphs built alike train alike, bit for bit.
 */
final class Graphs {

    static final int FEATURES = 6;
    static final int HIDDEN = 5;
    static final int CLASSES = 3;
    static final int SIDE = 6;
    static final int BATCH = 8;
    /** Minibatches per epoch of {@link #data} and {@link #images}. */
    static final int BATCHES = 4;

    /** The trainable variables of {@link #mlp}, in name order. */
    static final List<String> MLP_VARIABLES = List.of("b0", "b1", "w0", "w1");
    /** The trainable variables of {@link #cnn}, in name order. */
    static final List<String> CNN_VARIABLES = List.of("conv_W", "conv_b", "dense_W", "dense_b");

    private Graphs() {
    }

    /**
     * A perceptron {@code FEATURES-HIDDEN-CLASSES} (tanh, softmax, log loss, Adam 0.02): four trainable variables, a
     * constant ({@code scale}) and two placeholders.
     */
    static SameDiff mlp(DataType type, long seed) {
        Random random = new Random(seed);
        SameDiff sd = SameDiff.create();
        SDVariable in = sd.placeHolder("input", type, -1, FEATURES);
        SDVariable label = sd.placeHolder("label", type, -1, CLASSES);
        SDVariable scale = sd.constant("scale", Nd4j.scalar(type, 0.5));
        SDVariable w0 = sd.var("w0", values(random, type, 0.5, FEATURES, HIDDEN));
        SDVariable b0 = sd.var("b0", values(random, type, 0.1, 1, HIDDEN));
        SDVariable w1 = sd.var("w1", values(random, type, 0.5, HIDDEN, CLASSES));
        SDVariable b1 = sd.var("b1", values(random, type, 0.1, 1, CLASSES));
        SDVariable hidden = sd.math.tanh(in.mul(scale).mmul(w0).add(b0));
        SDVariable out = sd.nn.softmax("out", hidden.mmul(w1).add(b1));
        sd.loss.logLoss("loss", label, out);
        sd.setTrainingConfig(TrainingConfig.builder().updater(new Adam(0.02)).dataSetFeatureMapping("input")
                .dataSetLabelMapping("label").build());
        return sd;
    }

    /**
     * A convolutional graph on {@code SIDE x SIDE} images: a 3x3 convolution to 4 channels (NCHW), ReLU, 2x2 max
     * pooling, a dense softmax layer over {@code CLASSES}; Adam 0.02.
     */
    static SameDiff cnn(long seed) {
        Random random = new Random(seed);
        DataType type = DataType.FLOAT;
        SameDiff sd = SameDiff.create();
        SDVariable in = sd.placeHolder("input", type, -1, 1, SIDE, SIDE);
        SDVariable label = sd.placeHolder("label", type, -1, CLASSES);
        SDVariable convW = sd.var("conv_W", values(random, type, 0.4, 3, 3, 1, 4));
        SDVariable convB = sd.var("conv_b", values(random, type, 0.1, 4));
        SDVariable conv = sd.cnn.conv2d(in, convW, convB, Conv2DConfig.builder().kH(3).kW(3).build());
        SDVariable pooled = sd.cnn.maxPooling2d(sd.nn.relu(conv, 0.0), Pooling2DConfig.builder().kH(2).kW(2).sH(2)
                .sW(2).build());
        SDVariable flat = pooled.reshape(-1, 16);
        SDVariable denseW = sd.var("dense_W", values(random, type, 0.3, 16, CLASSES));
        SDVariable denseB = sd.var("dense_b", values(random, type, 0.1, 1, CLASSES));
        SDVariable out = sd.nn.softmax("out", flat.mmul(denseW).add(denseB));
        sd.loss.logLoss("loss", label, out);
        sd.setTrainingConfig(TrainingConfig.builder().updater(new Adam(0.02)).dataSetFeatureMapping("input")
                .dataSetLabelMapping("label").build());
        return sd;
    }

    private static INDArray values(Random random, DataType type, double scale, long... shape) {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        double[] v = new double[(int) n];
        for (int i = 0; i < v.length; i++) {
            v[i] = random.nextGaussian() * scale;
        }
        return Nd4j.create(v, shape, DataType.DOUBLE).castTo(type);
    }

    /** {@code BATCHES} minibatches of {@code BATCH} feature vectors labelled by a fixed linear rule; resettable. */
    static DataSetIterator data(DataType type) {
        Random random = new Random(11);
        List<DataSet> batches = new ArrayList<>();
        for (int b = 0; b < BATCHES; b++) {
            double[][] x = new double[BATCH][FEATURES];
            double[][] y = new double[BATCH][CLASSES];
            for (int r = 0; r < BATCH; r++) {
                double[] score = new double[CLASSES];
                for (int f = 0; f < FEATURES; f++) {
                    x[r][f] = random.nextGaussian();
                    score[f % CLASSES] += x[r][f] * (1 + f);
                }
                y[r][argmax(score)] = 1;
            }
            batches.add(new DataSet(Nd4j.create(x).castTo(type), Nd4j.create(y).castTo(type)));
        }
        return new ExistingDataSetIterator(batches);
    }

    /** {@code BATCHES} minibatches of {@code BATCH} images {@code [1, SIDE, SIDE]}, labelled by the brightest third. */
    static DataSetIterator images() {
        Random random = new Random(13);
        List<DataSet> batches = new ArrayList<>();
        for (int b = 0; b < BATCHES; b++) {
            float[] x = new float[BATCH * SIDE * SIDE];
            double[][] y = new double[BATCH][CLASSES];
            for (int r = 0; r < BATCH; r++) {
                double[] band = new double[CLASSES];
                for (int i = 0; i < SIDE * SIDE; i++) {
                    x[r * SIDE * SIDE + i] = (float) random.nextDouble();
                    band[(i / SIDE) / 2] += x[r * SIDE * SIDE + i];
                }
                y[r][argmax(band)] = 1;
            }
            batches.add(new DataSet(Nd4j.create(x, new long[] {BATCH, 1, SIDE, SIDE}),
                    Nd4j.create(y).castTo(DataType.FLOAT)));
        }
        return new ExistingDataSetIterator(batches);
    }

    private static int argmax(double[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) {
            if (values[i] > values[best]) {
                best = i;
            }
        }
        return best;
    }

    /** The variables {@code names} of {@code sd} end to end, in double. */
    static double[] flat(SameDiff sd, List<String> names) {
        List<Double> all = new ArrayList<>();
        for (String name : names) {
            for (double v : Snapshots.values(sd.getArrForVarName(name))) {
                all.add(v);
            }
        }
        return all.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** The arrays {@code names} end to end, in double. */
    static double[] flat(java.util.Map<String, INDArray> arrays, List<String> names) {
        List<Double> all = new ArrayList<>();
        for (String name : names) {
            for (double v : Snapshots.values(arrays.get(name))) {
                all.add(v);
            }
        }
        return all.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** The raw bytes of the variables {@code names} of {@code sd}, end to end: equal only if equal bit for bit. */
    static byte[] bits(SameDiff sd, List<String> names) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        for (String name : names) {
            byte[] bytes = sd.getArrForVarName(name).dup().data().asBytes();
            out.write(bytes, 0, bytes.length);
        }
        return out.toByteArray();
    }
}
