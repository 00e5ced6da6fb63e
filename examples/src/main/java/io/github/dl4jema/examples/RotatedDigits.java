package io.github.dl4jema.examples;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.nd4j.linalg.dataset.DataSet;

/**
 * Six domains made of the UCI digits rotated by 0, 15, 30, 45, 60 and 75 degrees: DomainBed's RotatedMNIST
 * construction on the 8x8 digits. The 1797 images are shuffled once (by a fixed data seed) and dealt into six
 * disjoint parts of about 300, one per domain, as DomainBed deals MNIST; each part is rotated counter-clockwise
 * about the image centre by its domain's angle, with bilinear interpolation (pixels that come from outside the
 * image are 0).
 *
 * <p>For leave-one-domain-out training, {@link #split(int, long)} gives the five other domains, each split 80/20
 * into training and in-domain validation examples (DomainBed's training-domain validation), and the whole held-out
 * domain as the out-of-domain (OOD) test set.
 */
public final class RotatedDigits {

    /** The rotation of each domain, in degrees; domain {@code i} is rotated by {@code ANGLES[i]}. */
    public static final int[] ANGLES = {0, 15, 30, 45, 60, 75};

    /** The fraction of each training domain kept for in-domain validation, as DomainBed's holdout fraction. */
    public static final double VALIDATION_FRACTION = 0.2;

    private static final long DATA_SEED = 0;

    private final List<double[][]> features = new ArrayList<>();
    private final List<int[]> labels = new ArrayList<>();

    private RotatedDigits(Digits digits) {
        int[] order = digits.shuffledIndices(DATA_SEED);
        for (int d = 0; d < ANGLES.length; d++) {
            int from = d * order.length / ANGLES.length;
            int to = (d + 1) * order.length / ANGLES.length;
            double[][] x = new double[to - from][];
            int[] y = new int[to - from];
            for (int i = from; i < to; i++) {
                x[i - from] = rotate(digits.pixels(order[i]), Digits.SIDE, ANGLES[d]);
                y[i - from] = digits.label(order[i]);
            }
            features.add(x);
            labels.add(y);
        }
    }

    /**
     * Builds the six domains from the shipped digits.
     *
     * @param digits the digits
     * @return the domains
     */
    public static RotatedDigits of(Digits digits) {
        return new RotatedDigits(digits);
    }

    /**
     * The index of the domain rotated by {@code angle} degrees.
     *
     * @param angle one of {@link #ANGLES}
     * @return its index
     * @throws IllegalArgumentException if no domain has that angle
     */
    public static int domainOf(int angle) {
        for (int d = 0; d < ANGLES.length; d++) {
            if (ANGLES[d] == angle) {
                return d;
            }
        }
        throw new IllegalArgumentException("held-out domain should be one of " + Arrays.toString(ANGLES)
                + " degrees (got: " + angle + ")");
    }

    /**
     * All examples of one domain.
     *
     * @param domain the domain index
     * @return features {@code [n, 64]} and one-hot labels
     */
    public DataSet domain(int domain) {
        return Digits.toDataSet(features.get(domain), labels.get(domain));
    }

    /**
     * The leave-one-domain-out split for one held-out domain and one seed: the seed shuffles each training
     * domain before its last {@link #VALIDATION_FRACTION} becomes validation data.
     *
     * @param heldOut the held-out domain index
     * @param seed    the trial seed
     * @return training, in-domain validation and out-of-domain test data
     */
    public Split split(int heldOut, long seed) {
        List<double[]> trainX = new ArrayList<>();
        List<Integer> trainY = new ArrayList<>();
        List<double[]> validX = new ArrayList<>();
        List<Integer> validY = new ArrayList<>();
        Random random = new Random(seed);
        for (int d = 0; d < ANGLES.length; d++) {
            if (d == heldOut) {
                continue;
            }
            int n = labels.get(d).length;
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                order.add(i);
            }
            Collections.shuffle(order, random);
            int validation = (int) Math.round(n * VALIDATION_FRACTION);
            for (int k = 0; k < n; k++) {
                int i = order.get(k);
                (k < validation ? validX : trainX).add(features.get(d)[i]);
                (k < validation ? validY : trainY).add(labels.get(d)[i]);
            }
        }
        return new Split(
                Digits.toDataSet(trainX.toArray(new double[0][]), trainY.stream().mapToInt(i -> i).toArray()),
                Digits.toDataSet(validX.toArray(new double[0][]), validY.stream().mapToInt(i -> i).toArray()),
                domain(heldOut));
    }

    /**
     * Rotates a square image counter-clockwise about its centre, with bilinear interpolation and zeros outside.
     *
     * @param image   row-major pixels of a {@code side x side} image
     * @param side    the image side
     * @param degrees the angle
     * @return the rotated image, row-major
     */
    public static double[] rotate(double[] image, int side, double degrees) {
        double radians = Math.toRadians(degrees);
        double cos = Math.cos(radians);
        double sin = Math.sin(radians);
        double centre = (side - 1) / 2.0;
        double[] out = new double[side * side];
        for (int r = 0; r < side; r++) {
            for (int c = 0; c < side; c++) {
                // Inverse mapping: the source of output pixel (r, c) is that pixel rotated back (clockwise).
                double dx = c - centre;
                double dy = centre - r;
                double sx = cos * dx + sin * dy;
                double sy = -sin * dx + cos * dy;
                out[r * side + c] = bilinear(image, side, centre - sy, centre + sx);
            }
        }
        return out;
    }

    private static double bilinear(double[] image, int side, double row, double col) {
        int r0 = (int) Math.floor(row);
        int c0 = (int) Math.floor(col);
        double fr = row - r0;
        double fc = col - c0;
        return (1 - fr) * (1 - fc) * pixel(image, side, r0, c0) + (1 - fr) * fc * pixel(image, side, r0, c0 + 1)
                + fr * (1 - fc) * pixel(image, side, r0 + 1, c0) + fr * fc * pixel(image, side, r0 + 1, c0 + 1);
    }

    private static double pixel(double[] image, int side, int r, int c) {
        return r < 0 || c < 0 || r >= side || c >= side ? 0.0 : image[r * side + c];
    }

    /**
     * One leave-one-domain-out split.
     *
     * @param train      examples of the training domains used for fitting
     * @param validation held-back examples of the training domains, for epoch selection
     * @param test       the held-out domain, for out-of-domain accuracy
     */
    public record Split(DataSet train, DataSet validation, DataSet test) {
    }
}
