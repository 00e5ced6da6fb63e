package io.github.dl4jema.examples;

import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.datavec.api.writable.Writable;
import org.deeplearning4j.datasets.iterator.ExistingDataSetIterator;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The UCI "Optical Recognition of Handwritten Digits" test set shipped in {@code data/digits.csv.gz}: 1797 images of
 * 8x8 pixels (values 0..16) with their digit 0..9. See {@code data/README.md} for the attribution.
 *
 * <p>Read with DataVec's {@code CSVRecordReader} (see {@link ShippedData}); pixels are scaled to {@code [0, 1]} and
 * kept as arrays, because the rotation benchmark works on the 8x8 grid.
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
        List<List<Writable>> records = ShippedData.records(RESOURCE, 0);
        double[][] rows = new double[records.size()][SIDE * SIDE];
        int[] digits = new int[records.size()];
        for (int r = 0; r < rows.length; r++) {
            List<Writable> record = records.get(r);
            for (int i = 0; i < SIDE * SIDE; i++) {
                rows[r][i] = record.get(i).toDouble() / 16.0;
            }
            digits[r] = (int) record.get(SIDE * SIDE).toDouble();   // labels are written as 0.0 .. 9.0
        }
        return new Digits(rows, digits);
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

    /** A training set and a held-out set of images. */
    public record Split(DataSet train, DataSet test) {
    }

    /**
     * Shuffles the images with {@code seed} and deals the first {@code trainFraction} of them to training, the rest
     * to the held-out set.
     *
     * @param seed          the shuffle seed
     * @param trainFraction the share of images for training, in {@code (0, 1)}
     * @return the two data sets
     */
    public Split split(long seed, double trainFraction) {
        int[] order = shuffledIndices(seed);
        int trainSize = (int) Math.round(order.length * trainFraction);
        return new Split(dataSet(Arrays.copyOfRange(order, 0, trainSize)),
                dataSet(Arrays.copyOfRange(order, trainSize, order.length)));
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
