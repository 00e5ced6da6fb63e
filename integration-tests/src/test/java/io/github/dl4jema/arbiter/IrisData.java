package io.github.dl4jema.arbiter;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.deeplearning4j.arbiter.optimize.api.data.DataProvider;
import org.deeplearning4j.datasets.iterator.utilty.ListDataSetIterator;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The iris data shipped with the examples ({@code /data/iris.csv}: a size header, then 4 features and a label),
 * shuffled with a fixed seed and split 120/30. Training batches of 10 give 12 iterations per epoch. Every call
 * returns a new iterator, so concurrent candidates never share one.
 */
final class IrisData implements DataProvider {

    static final int TRAIN = 120;
    static final int BATCH = 10;
    static final int ITERATIONS_PER_EPOCH = TRAIN / BATCH;

    private static final List<DataSet> EXAMPLES = load();

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

    private static List<DataSet> load() {
        List<DataSet> examples = new ArrayList<>();
        try (InputStream in = IrisData.class.getResourceAsStream("/data/iris.csv")) {
            if (in == null) {
                throw new IllegalStateException("/data/iris.csv is not on the classpath (shipped by examples)");
            }
            BufferedReader reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            reader.readLine();
            String line;
            while ((line = reader.readLine()) != null) {
                if (line.isBlank()) {
                    continue;
                }
                String[] f = line.split(",");
                float[] features = new float[4];
                for (int i = 0; i < 4; i++) {
                    features[i] = Float.parseFloat(f[i]);
                }
                float[] label = new float[3];
                label[Integer.parseInt(f[4].trim())] = 1f;
                examples.add(new DataSet(Nd4j.create(features, new long[] {1, 4}),
                        Nd4j.create(label, new long[] {1, 3})));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Collections.shuffle(examples, new Random(42));
        return Collections.unmodifiableList(examples);
    }
}
