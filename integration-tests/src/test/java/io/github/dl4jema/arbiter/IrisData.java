package io.github.dl4jema.arbiter;

import io.github.dl4jema.examples.Iris;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.arbiter.optimize.api.data.DataProvider;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;

/**
 * The iris data shipped with the examples ({@code /data/iris.csv}: a size header, then 4 features and a label),
 * shuffled with a fixed seed and split 120/30. Training batches of 10 give 12 iterations per epoch. Every call
 * returns a new iterator, so concurrent candidates never share one.
 */
final class IrisData implements DataProvider {

    static final int TRAIN = 120;
    static final int BATCH = 10;
    static final int ITERATIONS_PER_EPOCH = TRAIN / BATCH;

    private static final List<DataSet> EXAMPLES = Iris.shuffled(42);

    @Override
    public Object trainData(Map<String, Object> dataParameters) {
        return new ListDataSetIterator<>(EXAMPLES.subList(0, TRAIN), BATCH);
    }

    @Override
    public Object testData(Map<String, Object> dataParameters) {
        return new ListDataSetIterator<>(EXAMPLES.subList(TRAIN, EXAMPLES.size()), EXAMPLES.size() - TRAIN);
    }

    @Override
    public Class<?> getDataType() {
        return DataSetIterator.class;
    }

    /** @return the 30 test examples as one data set */
    static DataSet testSet() {
        return DataSet.merge(EXAMPLES.subList(TRAIN, EXAMPLES.size()));
    }
}
