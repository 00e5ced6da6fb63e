package io.github.dl4jema.arbiter;

import io.github.dl4jema.AverageMode;
import io.github.dl4jema.EmaListener;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The training listener that {@link AveragingTaskListener} puts on one candidate's network: it forwards training
 * events to the candidate's own {@link EmaListener} (which scores on its average,
 * {@link EmaListener.Builder#scoreOnAverage()}) once {@code startEpoch} epochs have ended (counted here, not read
 * from DL4J's epoch counter, which early stopping rewinds), and settles which weights the saved model gets. One
 * instance per candidate, used by the one thread that trains it; its methods are synchronized anyway because
 * {@link #finish} may come from Arbiter's thread after an early-stopping copy.
 */
final class CandidateAverager extends BaseTrainingListener {

    private final EmaListener ema;
    private final int startEpoch;
    private final BiConsumer<Integer, Long> progress;
    private Model trained;
    private int epochsEnded;

    /**
     * @param ema an unbound listener that scores on its average
     */
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
        ema.onEpochStart(model);
    }

    @Override
    public synchronized void onEpochEnd(Model model) {
        if (epochsEnded >= startEpoch) {
            ema.onEpochEnd(model);
        }
        trained = model;
        epochsEnded++;
        progress.accept(epochsEnded, ema.snapshotCount());
    }

    @Override
    public synchronized void iterationDone(Model model, int iteration, int epoch) {
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
            if (trained != null) {
                ema.restoreTrainingWeights(trained);
            }
            return CandidateAveraging.Outcome.BEST_EPOCH_COPY_SAVED;
        }
        if (keepTrainingWeights) {
            if (ema.config().mode() == AverageMode.WRITE_BACK) {
                return CandidateAveraging.Outcome.AVERAGE_SAVED;
            }
            ema.restoreTrainingWeights(model);
            return CandidateAveraging.Outcome.TRAINING_WEIGHTS_SAVED;
        }
        INDArray averaged = ema.averagedParams(model);
        ema.restoreTrainingWeights(model);
        model.setParams(averaged);
        return CandidateAveraging.Outcome.AVERAGE_SAVED;
    }

    @Override
    public String toString() {
        return "CandidateAverager{" + ema + ", startEpoch=" + startEpoch + "}";
    }
}
