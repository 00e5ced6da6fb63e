package io.github.dl4jema.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jema.EmaListener;
import io.github.dl4jema.examples.Digits;
import java.io.File;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.LossLayer;
import org.deeplearning4j.nn.modelimport.keras.KerasModelImport;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.activations.impl.ActivationReLU;
import org.nd4j.linalg.activations.impl.ActivationSoftmax;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.impl.LossMCXENT;

/**
 * A network imported from a Keras HDF5 file trains with the averager, and its averaged copy saves and reloads. The
 * file, {@code src/test/resources/keras/digits_mlp.h5}, was written by {@code make_model.py} beside it in the layout
 * of Keras 2.2.4's {@code model.save()} (no Keras is needed: h5py writes the layout); its weights follow closed
 * formulas that this test computes again.
 */
class KerasImportIT {

    private static final int INPUTS = 64;
    private static final int HIDDEN = 32;
    private static final int CLASSES = 10;
    private static final int EPOCHS = 4;
    private static final double DECAY = 0.98;

    /** The formulas of make_model.py, in double, rounded once to float as numpy's astype(float32) does. */
    private static float kernel1(int i, int j) {
        return (float) (0.25 * Math.sin(0.37 * i + 1.13 * j + 0.5));
    }

    private static float bias1(int j) {
        return (float) (0.01 * (j - 16));
    }

    private static float kernel2(int i, int j) {
        return (float) (0.3 * Math.cos(0.71 * i - 0.29 * j));
    }

    private static float bias2(int j) {
        return (float) (0.02 * j);
    }

    private static MultiLayerNetwork imported() throws Exception {
        String path = new File(KerasImportIT.class.getResource("/keras/digits_mlp.h5").toURI()).getPath();
        return KerasModelImport.importKerasSequentialModelAndWeights(path);
    }

    private static double[] values(INDArray array) {
        return array.castTo(DataType.DOUBLE).reshape(array.length()).toDoubleVector();
    }

    /** Records the parameters after every iteration. */
    private static final class Recorder extends BaseTrainingListener {
        final List<double[]> snapshots = new ArrayList<>();

        @Override
        public void iterationDone(Model model, int iteration, int epoch) {
            snapshots.add(values(model.params()));
        }
    }

    @Test
    void importedWeightsAreTheOnesTheScriptWrote() throws Exception {
        MultiLayerNetwork net = imported();

        assertInstanceOf(DenseLayer.class, net.getLayer(0).conf().getLayer());
        assertInstanceOf(ActivationReLU.class, ((DenseLayer) net.getLayer(0).conf().getLayer()).getActivationFn());
        assertInstanceOf(ActivationSoftmax.class, ((DenseLayer) net.getLayer(1).conf().getLayer()).getActivationFn());
        assertInstanceOf(LossMCXENT.class, ((LossLayer) net.getLayer(2).conf().getLayer()).getLossFn());
        Adam adam = assertInstanceOf(Adam.class, ((DenseLayer) net.getLayer(0).conf().getLayer()).getIUpdater());
        assertEquals(0.01, adam.getLearningRate(), 1e-12, "the training_config's optimizer");
        double[] w1 = values(net.getParam("0_W"));
        double[] b1 = values(net.getParam("0_b"));
        double[] w2 = values(net.getParam("1_W"));
        double[] b2 = values(net.getParam("1_b"));
        assertArrayEquals(new long[] {INPUTS, HIDDEN}, net.getParam("0_W").shape());
        assertArrayEquals(new long[] {HIDDEN, CLASSES}, net.getParam("1_W").shape());
        for (int i = 0; i < INPUTS; i++) {
            for (int j = 0; j < HIDDEN; j++) {
                assertEquals(kernel1(i, j), net.getParam("0_W").getDouble(i, j), 1e-7, "dense_1 kernel " + i + "," + j);
            }
        }
        for (int i = 0; i < HIDDEN; i++) {
            for (int j = 0; j < CLASSES; j++) {
                assertEquals(kernel2(i, j), net.getParam("1_W").getDouble(i, j), 1e-7, "dense_2 kernel " + i + "," + j);
            }
        }
        for (int j = 0; j < HIDDEN; j++) {
            assertEquals(bias1(j), b1[j], 1e-7, "dense_1 bias " + j);
        }
        for (int j = 0; j < CLASSES; j++) {
            assertEquals(bias2(j), b2[j], 1e-7, "dense_2 bias " + j);
        }
        assertEquals(w1.length + b1.length + w2.length + b2.length, net.numParams());

        // the imported network computes softmax(relu(x·W1 + b1)·W2 + b2) with these weights
        DataSet some = Digits.load().dataSet(new int[] {0, 1, 2});
        INDArray out = net.output(some.getFeatures());
        double[][] x = some.getFeatures().castTo(DataType.DOUBLE).toDoubleMatrix();
        for (int n = 0; n < x.length; n++) {
            double[] hidden = new double[HIDDEN];
            for (int j = 0; j < HIDDEN; j++) {
                double sum = bias1(j);
                for (int i = 0; i < INPUTS; i++) {
                    sum += x[n][i] * kernel1(i, j);
                }
                hidden[j] = Math.max(0, sum);
            }
            double[] logits = new double[CLASSES];
            double norm = 0;
            for (int j = 0; j < CLASSES; j++) {
                for (int i = 0; i < HIDDEN; i++) {
                    logits[j] += hidden[i] * kernel2(i, j);
                }
                logits[j] = Math.exp(logits[j] + bias2(j));
                norm += logits[j];
            }
            for (int j = 0; j < CLASSES; j++) {
                assertEquals(logits[j] / norm, out.getDouble(n, j), 1e-5, "output " + n + "," + j);
            }
        }
    }

    @Test
    void importedNetworkTrainsWithTheAveragerAndItsAveragedCopySavesAndReloads(@TempDir Path dir) throws Exception {
        MultiLayerNetwork net = imported();
        Digits.Split split = Digits.load().split(7, 0.8);
        EmaListener ema = EmaListener.exponential(DECAY).build();
        Recorder recorder = new Recorder();
        net.setListeners(ema, recorder);
        double before = net.evaluate(Digits.iterator(split.test(), 256, -1)).accuracy();

        for (int epoch = 1; epoch <= EPOCHS; epoch++) {
            net.fit(Digits.iterator(split.train(), 32, epoch));
        }

        // the average is the exponential recursion over the recorded iterations, computed here in double
        double[] expected = recorder.snapshots.get(0).clone();
        for (double[] snapshot : recorder.snapshots.subList(1, recorder.snapshots.size())) {
            for (int j = 0; j < expected.length; j++) {
                expected[j] = DECAY * expected[j] + (1 - DECAY) * snapshot[j];
            }
        }
        INDArray averagedParams = ema.averagedParams(net);
        double[] averaged = values(averagedParams);
        for (int j = 0; j < expected.length; j++) {
            assertEquals(expected[j], averaged[j], 1e-5 * Math.max(1, Math.abs(expected[j])), "element " + j);
        }

        MultiLayerNetwork copy = ema.averagedCopy(net);
        File file = dir.resolve("keras-averaged.zip").toFile();
        ModelSerializer.writeModel(copy, file, false);
        MultiLayerNetwork reloaded = MultiLayerNetwork.load(file, false);

        assertEquals(averagedParams, reloaded.params());
        assertEquals(net.getLayerWiseConfigurations(), reloaded.getLayerWiseConfigurations());
        double training = net.evaluate(Digits.iterator(split.test(), 256, -1)).accuracy();
        double reloadedAccuracy = reloaded.evaluate(Digits.iterator(split.test(), 256, -1)).accuracy();
        assertEquals(copy.evaluate(Digits.iterator(split.test(), 256, -1)).accuracy(), reloadedAccuracy, 0.0);
        System.out.printf("KerasImportIT: held-out accuracy %.4f as imported, %.4f trained, %.4f averaged "
                + "(reloaded)%n", before, training, reloadedAccuracy);
        assertTrue(reloadedAccuracy > before + 0.2, "the imported network learned, and its average with it");
    }
}
