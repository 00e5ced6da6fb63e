package io.github.dl4jema.arbiter;

import io.github.dl4jema.EmaConfig;
import java.io.Serial;
import java.io.Serializable;

/**
 * What averaging did for one search candidate, as {@link AveragingTaskListener#candidates()} records it: plain
 * values only (no network, listener or array), so the record outlives the candidate without holding its memory.
 *
 * @param candidateIndex Arbiter's index of the candidate
 * @param listenerNumber the 1-based serial number of the listener made for it: distinct per candidate
 * @param config         the configuration of that listener
 * @param settings       the searched settings, or null when the listener came from an {@link AveragerFactory}
 * @param startEpoch     epochs trained before any event reached the listener
 * @param epochsEnded    epochs of training that ended so far (0-based count)
 * @param snapshots      snapshots in the average at the last epoch end
 * @param outcome        how far the candidate got
 */
public record CandidateAveraging(int candidateIndex, long listenerNumber, EmaConfig config, AveragingSettings settings,
                                 int startEpoch, int epochsEnded, long snapshots, Outcome outcome)
        implements Serializable {

    @Serial
    private static final long serialVersionUID = 1L;

    /** How far a candidate got, as seen by the averaging. */
    public enum Outcome {
        /** Preprocessed and training, or failed during training (Arbiter never post-processes a failed task). */
        TRAINING,
        /** Trained and post-processed: the network handed to the result saver holds the averaged weights. */
        AVERAGE_SAVED,
        /** Trained and post-processed with training weights kept: the saver got the training weights. */
        TRAINING_WEIGHTS_SAVED,
        /**
         * Post-processed with a network the listener never trained: DL4J's early-stopping trainer hands over a copy
         * of its best epoch, which was taken while that epoch's average was in place.
         */
        BEST_EPOCH_COPY_SAVED
    }

    CandidateAveraging withProgress(int epochs, long snapshotCount) {
        return new CandidateAveraging(candidateIndex, listenerNumber, config, settings, startEpoch, epochs,
                snapshotCount, outcome);
    }

    CandidateAveraging withOutcome(Outcome value) {
        return new CandidateAveraging(candidateIndex, listenerNumber, config, settings, startEpoch, epochsEnded,
                snapshots, value);
    }
}
