package io.github.dl4jema.examples;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.zip.GZIPInputStream;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The UCI "Optical Recognition of Handwritten Digits" test set shipped in {@code data/digits.csv.gz}: 1797 images of
 * 8x8 pixels (values 0..16) with their digit 0..9. See {@code data/README.md} for the attribution.
 *
 * <p>Read with a few lines of Java rather than DataVec's {@code CSVRecordReader}: DataVec's file splits read the
 * gzip bytes as text, and the rotation benchmark needs the pixels as a grid anyway, not as a {@code DataSet}.
 * Pixels are scaled to {@code [0, 1]}.
 */
public final class Digits {

    /** Side of the square images, in pixels. */
    public static final int SIDE = 8;
    /** Number of classes (digits 0..9). */
    public static final int CLASSES = 10;

    private static final String RESOURCE = "/data/digits.csv.gz";

    private final double[][] pixels;
    private final int[] labels;

    private Digits(double[][] pixels, int[] labels) {
        this.pixels = pixels;
        this.labels = labels;
    }

    /**
     * Reads the shipped file from the classpath.
     *
     * @return all 1797 digits, in file order
     * @throws UncheckedIOException if the resource is missing or unreadable
     */
    public static Digits load() {
        List<double[]> rows = new ArrayList<>();
        List<Integer> digits = new ArrayList<>();
        try (InputStream raw = Digits.class.getResourceAsStream(RESOURCE)) {
            if (raw == null) {
                throw new UncheckedIOException(new IOException("resource " + RESOURCE + " not on the classpath"));
            }
            BufferedReader reader = new BufferedReader(new InputStreamReader(new GZIPInputStream(raw),
                    StandardCharsets.US_ASCII));
            for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                if (line.isBlank()) {
                    continue;
                }
                String[] cells = line.split(",");
                double[] row = new double[SIDE * SIDE];
                for (int i = 0; i < row.length; i++) {
                    row[i] = Double.parseDouble(cells[i]) / 16.0;
                }
                rows.add(row);
                digits.add((int) Double.parseDouble(cells[SIDE * SIDE]));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
        return new Digits(rows.toArray(new double[0][]), digits.stream().mapToInt(Integer::intValue).toArray());
    }

    /** @return the number of images */
    public int size() {
        return labels.length;
    }

    /**
     * The pixels of one image, row-major, scaled to {@code [0, 1]}.
     *
     * @param index the image index
     * @return a copy of the 64 pixel values
     */
    public double[] pixels(int index) {
        return pixels[index].clone();
    }

    /**
     * The digit shown by one image.
     *
     * @param index the image index
     * @return the label 0..9
     */
    public int label(int index) {
        return labels[index];
    }

    /**
     * The indices {@code 0..size-1} in an order shuffled by {@code seed}.
     *
     * @param seed the shuffle seed
     * @return a permutation of the indices
     */
    public int[] shuffledIndices(long seed) {
        int[] order = new int[size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Random random = new Random(seed);
        for (int i = order.length - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        return order;
    }

    /**
     * One {@code DataSet} of the given images: features {@code [n, 64]}, one-hot labels {@code [n, 10]}.
     *
     * @param indices the images
     * @return the data set
     */
    public DataSet dataSet(int[] indices) {
        double[][] x = new double[indices.length][];
        int[] y = new int[indices.length];
        for (int i = 0; i < indices.length; i++) {
            x[i] = pixels[indices[i]];
            y[i] = labels[indices[i]];
        }
        return toDataSet(x, y);
    }

    /**
     * A {@code DataSet} from feature rows and labels: features {@code [n, features]}, one-hot labels
     * {@code [n, 10]}, in {@code float}.
     *
     * @param features one row per example
     * @param labels   the digit of each example
     * @return the data set
     */
    public static DataSet toDataSet(double[][] features, int[] labels) {
        double[][] oneHot = new double[labels.length][CLASSES];
        for (int i = 0; i < labels.length; i++) {
            oneHot[i][labels[i]] = 1.0;
        }
        return new DataSet(Nd4j.create(features).castTo(DataType.FLOAT),
                Nd4j.create(oneHot).castTo(DataType.FLOAT));
    }

    /**
     * An iterator over a data set in minibatches of {@code batchSize} (the last one may be smaller); with
     * {@code shuffleSeed ≥ 0} the examples are shuffled by that seed first. The minibatches are cut once, here, with
     * one row gather each, so iterating costs nothing; the iterator replays the same minibatches after a reset, so
     * make a new one per epoch for a new order.
     *
     * @param data        the examples
     * @param batchSize   examples per minibatch, {@code ≥ 1}
     * @param shuffleSeed the shuffle seed, or a negative number to keep the order
     * @return the iterator
     */
    public static DataSetIterator iterator(DataSet data, int batchSize, long shuffleSeed) {
        int n = data.numExamples();
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            order.add(i);
        }
        if (shuffleSeed >= 0) {
            Collections.shuffle(order, new Random(shuffleSeed));
        }
        List<DataSet> batches = new ArrayList<>();
        for (int from = 0; from < n; from += batchSize) {
            int[] rows = order.subList(from, Math.min(n, from + batchSize)).stream().mapToInt(i -> i).toArray();
            batches.add(new DataSet(Nd4j.pullRows(data.getFeatures(), 1, rows),
                    Nd4j.pullRows(data.getLabels(), 1, rows)));
        }
        return new ExistingDataSetIterator(batches);
    }
}
