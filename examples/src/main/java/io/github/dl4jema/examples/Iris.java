package io.github.dl4jema.examples;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.datavec.api.writable.Writable;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Fisher's Iris data shipped in {@code data/iris.csv} (a size header, then 4 features and a label 0..2 per line);
 * see {@code data/README.md} for the attribution. Used by the Arbiter example and its integration tests.
 */
public final class Iris {

    /** Number of features per example. */
    public static final int FEATURES = 4;
    /** Number of classes. */
    public static final int CLASSES = 3;

    private Iris() {
    }

    /**
     * The 150 examples, one {@code DataSet} of one row each, in an order shuffled by {@code seed}.
     *
     * @param seed the shuffle seed
     * @return an unmodifiable list of the examples
     */
    public static List<DataSet> shuffled(long seed) {
        List<DataSet> examples = new ArrayList<>();
        for (List<Writable> record : ShippedData.records("/data/iris.csv", 1)) {
            float[] features = new float[FEATURES];
            for (int i = 0; i < FEATURES; i++) {
                features[i] = record.get(i).toFloat();
            }
            float[] label = new float[CLASSES];
            label[record.get(FEATURES).toInt()] = 1f;
            examples.add(new DataSet(Nd4j.create(features, new long[] {1, FEATURES}),
                    Nd4j.create(label, new long[] {1, CLASSES})));
        }
        Collections.shuffle(examples, new Random(seed));
        return Collections.unmodifiableList(examples);
    }
}
