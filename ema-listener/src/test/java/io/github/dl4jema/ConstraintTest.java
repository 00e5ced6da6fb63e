package io.github.dl4jema;

import static io.github.dl4jema.Snapshots.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.conf.constraint.MaxNormConstraint;
import org.deeplearning4j.nn.conf.constraint.NonNegativeConstraint;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.learning.config.Sgd;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * DL4J applies layer constraints after {@code iterationDone}; the average of a constrained network must still satisfy
 * the constraints (both feasible sets are convex, so an average of constrained snapshots is feasible, and an average
 * of unconstrained ones is not). Layer 0 is non-negative, layer 1 has norms along dimension 1 (DL4J's convention for dense layers) at most {@value #MAX_NORM}.
 */
class ConstraintTest {

    static final double MAX_NORM = 0.5;

    static MultiLayerNetwork constrained() {
        MultiLayerNetwork net = new MultiLayerNetwork(new org.deeplearning4j.nn.conf.NeuralNetConfiguration.Builder()
                .seed(3).dataType(DataType.DOUBLE).updater(new Sgd(0.5)).list()
                .layer(new DenseLayer.Builder().nIn(Networks.FEATURES).nOut(8).activation(Activation.TANH)
                        .constrainWeights(new NonNegativeConstraint()).build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(8).nOut(Networks.CLASSES)
                        .activation(Activation.SOFTMAX).constrainWeights(new MaxNormConstraint(MAX_NORM, 1)).build())
                .build());
        net.init();
        return net;
    }

    /** The weights trained without averaging, snapshot after each iteration once DL4J applied the constraints. */
    private static final class ConstrainedSnapshots extends BaseTrainingListener {
        final java.util.List<double[]> snapshots = new java.util.ArrayList<>();

        @Override
        public void onGradientCalculation(Model model) {
            if (model instanceof MultiLayerNetwork net && net.getIterationCount() > 0) {
                snapshots.add(values(net.params()));
            }
        }

        @Override
        public void onEpochEnd(Model model) {
            snapshots.add(values(model.params()));
        }
    }

    private static void assertFeasible(MultiLayerNetwork shape, INDArray flat, String what) {
        MultiLayerNetwork holder = shape.clone();
        holder.setParams(flat);
        INDArray w0 = holder.getParam("0_W");
        assertTrue(w0.minNumber().doubleValue() >= 0.0, what + ": layer 0 weights non-negative, min "
                + w0.minNumber());
        INDArray norms = holder.getParam("1_W").norm2(1);
        assertTrue(norms.maxNumber().doubleValue() <= MAX_NORM + 1e-9, what + ": layer 1 norms along dimension 1 <= "
                + MAX_NORM + ", max " + norms.maxNumber());
    }

    @ParameterizedTest
    @EnumSource(AverageMode.class)
    void perIterationAverageOfAConstrainedNetworkSatisfiesTheConstraints(AverageMode mode) {
        MultiLayerNetwork net = constrained();
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).everyIteration().mode(mode).build();
        net.addListeners(ema);
        net.fit(Networks.data(DataType.DOUBLE), 3);
        assertFeasible(net, ema.averagedParams(net), mode + " average");
        assertFeasible(net, net.params(), mode + " network");
    }

    @ParameterizedTest
    @EnumSource(value = AverageMode.class, names = "SHADOW")
    void shadowAverageIsTheMeanOfTheConstrainedSnapshotsAndLeavesTrainingAsItWas(AverageMode mode) {
        MultiLayerNetwork plain = constrained();
        ConstrainedSnapshots recorder = new ConstrainedSnapshots();
        plain.addListeners(recorder);
        plain.fit(Networks.data(DataType.DOUBLE), 2);

        MultiLayerNetwork net = constrained();
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).everyIteration().mode(mode).build();
        net.addListeners(ema);
        net.fit(Networks.data(DataType.DOUBLE), 2);
        assertArrayEquals(values(plain.params()), values(net.params()), "training untouched");

        // 4 iterations per epoch: snapshots after iterations 1..8, each taken once its constraints were applied
        double[] mean = new double[(int) net.numParams()];
        java.util.List<double[]> taken = recorder.snapshots.subList(0, recorder.snapshots.size());
        java.util.List<double[]> perIteration = new java.util.ArrayList<>();
        for (int i = 0; i < taken.size(); i++) {
            // the recorder adds the epoch-end snapshot too; the last iteration of epoch 1 appears twice (its epoch
            // end and the next gradient calculation): keep each iteration once
            if (perIteration.isEmpty() || !java.util.Arrays.equals(perIteration.get(perIteration.size() - 1),
                    taken.get(i))) {
                perIteration.add(taken.get(i));
            }
        }
        for (double[] s : perIteration) {
            for (int j = 0; j < mean.length; j++) {
                mean[j] += s[j] / perIteration.size();
            }
        }
        Snapshots.assertClose(mean, ema.averagedParams(net), DataType.DOUBLE);
        assertTrue(perIteration.size() == 8, "8 iterations recorded, got " + perIteration.size());
    }
}
