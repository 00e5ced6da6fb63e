package io.github.dl4jema;

import java.util.ArrayList;
import java.util.List;
import org.nd4j.autodiff.listeners.At;
import org.nd4j.autodiff.listeners.BaseListener;
import org.nd4j.autodiff.listeners.ListenerResponse;
import org.nd4j.autodiff.listeners.Loss;
import org.nd4j.autodiff.listeners.Operation;
import org.nd4j.autodiff.listeners.records.LossCurve;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.dataset.api.MultiDataSet;

/**
 * A SameDiff listener that records the variables {@code names} (end to end, in double) after every iteration and at
 * every epoch end: the snapshots θ a test computes the expected averages from, independently of the averager. Put it
 * before an averager in {@code fit}'s listeners to see the weights before a write-back.
 */
final class VariableRecorder extends BaseListener {

    final List<double[]> iterations = new ArrayList<>();
    final List<double[]> epochs = new ArrayList<>();
    private final List<String> names;

    VariableRecorder(List<String> names) {
        this.names = names;
    }

    @Override
    public boolean isActive(Operation operation) {
        return operation == Operation.TRAINING;
    }

    @Override
    public void iterationDone(SameDiff sd, At at, MultiDataSet dataSet, Loss loss) {
        iterations.add(Graphs.flat(sd, names));
    }

    @Override
    public ListenerResponse epochEnd(SameDiff sd, At at, LossCurve lossCurve, long epochTimeMillis) {
        epochs.add(Graphs.flat(sd, names));
        return ListenerResponse.CONTINUE;
    }
}
