package io.github.dl4jema;

import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.optimize.api.BaseTrainingListener;

/** Records the network's parameters (as doubles) at every epoch end and every iteration end. */
final class Recorder extends BaseTrainingListener {

    final List<double[]> epochEnds = new ArrayList<>();
    final List<double[]> iterationEnds = new ArrayList<>();

    @Override
    public void onEpochEnd(Model model) {
        epochEnds.add(Snapshots.values(model.params()));
    }

    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        iterationEnds.add(Snapshots.values(model.params()));
    }
}
