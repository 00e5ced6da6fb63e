package io.github.dl4jema.arbiter;

import io.github.dl4jema.AverageMode;
import io.github.dl4jema.AverageSwap;
import io.github.dl4jema.EmaListener;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The training listener that {@link AveragingTaskListener} puts on one candidate's network: it forwards training
 * events to the candidate's own {@link EmaListener} once {@code startEpoch} epochs have ended (counted here, not read
 * from DL4J's epoch counter, which early stopping rewinds), and keeps the average
 * in the network between an epoch's end and the next epoch's start (see {@link AveragingTaskListener} for why).
 * One instance per candidate, used by the one thread that trains it; its methods are synchronized anyway because
 * {@link #finish} may come from Arbiter's thread after an early-stopping copy.
 */
final class CandidateAverager extends BaseTrainingListener {

    private final EmaListener ema;
    private final int startEpoch;
    private final BiConsumer<Integer, Long> progress;
    private AverageSwap openSwap;
    private Model trained;
    private int epochsEnded;

    CandidateAverager(EmaListener ema, int startEpoch, BiConsumer<Integer, Long> progress) {
        this.ema = ema;
        this.startEpoch = startEpoch;
        this.progress = progress;
    }

    EmaListener ema() {
        return ema;
    }

    @Override
    public synchronized void onEpochStart(Model model) {
        restoreTrainingWeights();
        ema.onEpochStart(model);
    }

    /** After the listener's own update, swaps the average in (shadow mode) so whatever runs next sees it. */
    @Override
    public synchronized void onEpochEnd(Model model) {
        restoreTrainingWeights();
        if (epochsEnded >= startEpoch) {
            ema.onEpochEnd(model);
        }
        trained = model;
        epochsEnded++;
        if (ema.config().mode() == AverageMode.SHADOW) {
            openSwap = ema.swapIn(model);
        }
        progress.accept(epochsEnded, ema.snapshotCount());
    }

    @Override
    public synchronized void iterationDone(Model model, int iteration, int epoch) {
        if (openSwap != null) {
            throw new IllegalStateException("a training iteration ran while the average of the last epoch was "
                    + "swapped in: the network was trained without an onEpochStart event (fit(DataSet) after "
                    + "fit(DataSetIterator)?). AveragingTaskListener needs epoch events: train with "
                    + "fit(DataSetIterator), Arbiter's fixed epochs or DL4J's early-stopping trainer.");
        }
        if (epochsEnded >= startEpoch) {
            ema.iterationDone(model, iteration, epoch);
        }
    }

    @Override
    public void onForwardPass(Model model, List<INDArray> activations) {
        ema.onForwardPass(model, activations);
    }

    @Override
    public void onForwardPass(Model model, Map<String, INDArray> activations) {
        ema.onForwardPass(model, activations);
    }

    @Override
    public void onGradientCalculation(Model model) {
        ema.onGradientCalculation(model);
    }

    @Override
    public void onBackwardPass(Model model) {
        ema.onBackwardPass(model);
    }

    /**
     * Leaves the network with the average for good, or with its training weights.
     *
     * @param model               the network Arbiter is about to save
     * @param keepTrainingWeights true to restore the training weights
     * @return the outcome
     */
    synchronized CandidateAveraging.Outcome finish(Model model, boolean keepTrainingWeights) {
        if (model != trained) {
            restoreTrainingWeights();
            return CandidateAveraging.Outcome.BEST_EPOCH_COPY_SAVED;
        }
        if (keepTrainingWeights) {
            if (ema.config().mode() == AverageMode.WRITE_BACK) {
                return CandidateAveraging.Outcome.AVERAGE_SAVED;
            }
            restoreTrainingWeights();
            return CandidateAveraging.Outcome.TRAINING_WEIGHTS_SAVED;
        }
        if (openSwap != null) {
            INDArray averaged = ema.averagedParams(model);
            restoreTrainingWeights();
            model.setParams(averaged);
        }
        return CandidateAveraging.Outcome.AVERAGE_SAVED;
    }

    private void restoreTrainingWeights() {
        if (openSwap != null) {
            openSwap.close();
            openSwap = null;
        }
    }

    @Override
    public String toString() {
        return "CandidateAverager{" + ema + ", startEpoch=" + startEpoch + "}";
    }
}
