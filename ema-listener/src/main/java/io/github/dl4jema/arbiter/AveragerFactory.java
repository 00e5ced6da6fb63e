package io.github.dl4jema.arbiter;

import io.github.dl4jema.EmaListener;
import java.io.Serializable;
import org.deeplearning4j.arbiter.optimize.api.Candidate;

/**
 * Makes the averaging listener of one search candidate. {@link AveragingTaskListener} calls it once per candidate,
 * from the thread that trains that candidate, so it must return a new, unbound listener every time and be safe to
 * call from several threads at once (a lambda that only builds a listener is). Serializable because Arbiter's
 * {@code TaskListener} is.
 */
@FunctionalInterface
public interface AveragerFactory extends Serializable {

    /**
     * A fresh listener for a candidate.
     *
     * @param candidate the candidate about to be trained
     * @return a new, unbound {@link EmaListener}
     */
    EmaListener create(Candidate<?> candidate);
}
