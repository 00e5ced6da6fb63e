package io.github.dl4jema.examples;

import io.github.dl4jema.AverageCheckpoints;
import io.github.dl4jema.BatchNormStatistics;
import io.github.dl4jema.EmaListener;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import org.deeplearning4j.earlystopping.EarlyStoppingConfiguration;
import org.deeplearning4j.earlystopping.EarlyStoppingResult;
import org.deeplearning4j.earlystopping.saver.LocalFileModelSaver;
import org.deeplearning4j.earlystopping.scorecalc.DataSetLossCalculator;
import org.deeplearning4j.earlystopping.termination.MaxEpochsTerminationCondition;
import org.deeplearning4j.earlystopping.termination.ScoreImprovementEpochTerminationCondition;
import org.deeplearning4j.earlystopping.trainer.EarlyStoppingTrainer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.listeners.Checkpoint;
import org.deeplearning4j.optimize.listeners.CheckpointListener;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

/**
 * DL4J's training machinery with an average: {@code mvn -q -pl examples -am compile exec:java
 * -Dexec.mainClass=io.github.dl4jema.examples.TrainingMachineryExample} (optional argument: the checkpoint directory;
 * a new temporary one by default).
 *
 * <p>Trains the small convolutional network with batch normalization of {@link BatchNormDigits} on the shipped UCI
 * digits (60% training, 20% validation, 20% test) under DL4J's {@code EarlyStoppingTrainer}, with
 * <ul>
 *   <li>an exponential average (decay 0.99 per iteration) that <b>scores on its average</b>
 *       ({@code scoreOnAverage()}): early stopping scores every epoch on the average, stops when that score has not
 *       improved for 3 epochs, and saves and returns the averaged model of the best epoch;</li>
 *   <li>DL4J's {@code CheckpointListener} wrapped in {@link AverageCheckpoints}: a checkpoint per epoch (the last
 *       two kept), each carrying the averager's state, and the averaged model beside it;</li>
 *   <li>{@link BatchNormStatistics}: the batch-normalization statistics of the best averaged model recomputed with
 *       one pass over the training set;</li>
 * </ul>
 * then resumes from the last checkpoint, as a new process would, to show that the average comes back with it.
 * Prints the accuracies on the test set. About half a minute on two cores.
 */
public final class TrainingMachineryExample {

    private static final long SEED = 3;
    private static final int BATCH = BatchNormDigits.BATCH;

    private TrainingMachineryExample() {
    }

    /**
     * Runs the example.
     *
     * @param args optional: the checkpoint directory (created if missing; it must hold no checkpoints)
     * @throws IOException if the checkpoint directory cannot be written
     */
    public static void main(String[] args) throws IOException {
        NativeThreads.useOneUnlessConfigured();
        long started = System.nanoTime();
        File directory = args.length > 0 ? new File(args[0]) : Files.createTempDirectory("dl4j-ema-machinery").toFile();
        if (!directory.isDirectory() && !directory.mkdirs()) {
            throw new IOException("cannot create the checkpoint directory " + directory);
        }
        Digits digits = Digits.load();
        int[] order = digits.shuffledIndices(BatchNormDigits.SPLIT_SEED);
        int sixty = order.length * 3 / 5;
        int eighty = order.length * 4 / 5;
        DataSet train = digits.dataSet(Arrays.copyOfRange(order, 0, sixty));
        DataSet validation = digits.dataSet(Arrays.copyOfRange(order, sixty, eighty));
        DataSet test = digits.dataSet(Arrays.copyOfRange(order, eighty, order.length));
        System.out.printf("UCI digits: %d training, %d validation and %d test images; checkpoints in %s%n%n",
                train.numExamples(), validation.numExamples(), test.numExamples(), directory);

        MultiLayerNetwork net = new MultiLayerNetwork(BatchNormDigits.network(SEED));
        net.init();
        EmaListener ema = EmaListener.exponential(0.99).scoreOnAverage().build();
        CheckpointListener checkpoints = new CheckpointListener.Builder(directory).saveEveryEpoch().keepLast(2)
                .build();
        net.setListeners(ema, AverageCheckpoints.of(checkpoints).withAveragedModels());

        File best = new File(directory, "best");
        if (!best.isDirectory() && !best.mkdirs()) {
            throw new IOException("cannot create " + best);
        }
        EarlyStoppingConfiguration<MultiLayerNetwork> conf = new EarlyStoppingConfiguration.Builder<MultiLayerNetwork>()
                .scoreCalculator(new DataSetLossCalculator(Digits.iterator(validation, 256, -1), true))
                .epochTerminationConditions(new ScoreImprovementEpochTerminationCondition(3),
                        new MaxEpochsTerminationCondition(25))
                .modelSaver(new LocalFileModelSaver(best.getPath()))
                .build();
        DataSetIterator trainIterator = Digits.iterator(train, BATCH, SEED);
        EarlyStoppingResult<MultiLayerNetwork> result = new EarlyStoppingTrainer(conf, net, trainIterator).fit();

        System.out.printf("Early stopping on the average's validation loss: %s after %d epochs (%s)%n",
                result.getTerminationReason(), result.getTotalEpochs(), result.getTerminationDetails());
        System.out.printf("%5s  %22s%n", "epoch", "validation loss (average)");
        result.getScoreVsEpoch().forEach((epoch, score) -> System.out.printf("%5d  %22.4f%s%n", epoch + 1, score,
                epoch == result.getBestModelEpoch() ? "   <- best" : ""));

        MultiLayerNetwork averaged = result.getBestModel();
        double averagedAccuracy = accuracy(averaged, test);
        int layers = BatchNormStatistics.recompute(averaged, Digits.iterator(train, BATCH, -1));
        double recomputedAccuracy = accuracy(averaged, test);
        ema.restoreTrainingWeights(net);
        double trainingAccuracy = accuracy(net, test);
        System.out.printf("%nTest accuracy%n");
        System.out.printf("  %-58s %6.2f%%%n", "training weights after the last epoch", 100 * trainingAccuracy);
        System.out.printf("  %-58s %6.2f%%%n", "best epoch's average, batch-norm statistics averaged",
                100 * averagedAccuracy);
        System.out.printf("  %-58s %6.2f%%%n", "the same, batch-norm statistics recomputed (" + layers + " layers)",
                100 * recomputedAccuracy);

        List<Checkpoint> kept = checkpoints.availableCheckpoints();
        Checkpoint last = kept.get(kept.size() - 1);
        MultiLayerNetwork resumed = CheckpointListener.loadCheckpointMLN(directory, last.getCheckpointNum());
        List<EmaListener> averagers = EmaListener.restoreAll(
                CheckpointListener.getFileForCheckpoint(directory, last.getCheckpointNum()), resumed);
        MultiLayerNetwork deployable = MultiLayerNetwork.load(
                AverageCheckpoints.averagedModelFile(directory, last.getCheckpointNum(), ema.name()), false);
        System.out.printf("%nCheckpoints kept: %s. Resumed from checkpoint %d (epoch %d): %s%n",
                kept.stream().map(Checkpoint::getCheckpointNum).toList(), last.getCheckpointNum(),
                last.getEpoch() + 1, averagers);
        System.out.printf("Its averaged model beside it scores %.2f%% on the test set.%n",
                100 * accuracy(deployable, test));
        System.out.printf("Done in %.1f s.%n", (System.nanoTime() - started) / 1e9);
    }

    private static double accuracy(MultiLayerNetwork net, DataSet data) {
        return net.evaluate(Digits.iterator(data, 256, -1)).accuracy();
    }
}
