package io.github.dl4jema.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs the benchmark with {@code --quick} once (the perceptron, all six held-out domains) and checks every output it
 * promises; then {@code --quick} with the convolutional model on one held-out domain (all six would take minutes).
 */
class RotatedDigitsBenchmarkIT {

    private static final int DOMAINS = RotatedDigits.ANGLES.length;
    private static final int METHODS = Method.values().length;
    private static final List<String> FILES = List.of("curves.csv", "summary.csv", "differences.csv", "results.md",
            "ood-vs-epoch.png", "selected-ood.png");

    @TempDir
    static Path output;

    @BeforeAll
    static void runQuickBenchmark() {
        assertEquals(0, RotatedDigitsBenchmark.run("--quick", "--output", output.toString()));
    }

    @Test
    void quickRunWritesEveryPromisedFile() {
        for (String file : FILES) {
            assertTrue(Files.isRegularFile(output.resolve(file)), file + " missing");
        }
    }

    @Test
    void plotsAreReadablePngImages() throws IOException {
        for (String file : List.of("ood-vs-epoch.png", "selected-ood.png")) {
            BufferedImage image = ImageIO.read(output.resolve(file).toFile());
            assertNotNull(image, file + " is not a readable image");
            assertTrue(image.getWidth() >= 400 && image.getHeight() >= 300, file + " is too small");
        }
    }

    @Test
    void quickConvolutionalModelRunsTheWholeProtocolOnOneDomain() throws IOException {
        Path cnn = output.resolve("cnn");
        assertEquals(0, RotatedDigitsBenchmark.run("--quick", "--model", "cnn", "--held-out", "30", "--output",
                cnn.toString()));

        for (String file : FILES) {
            assertTrue(Files.isRegularFile(cnn.resolve(file)), file + " missing");
        }
        String md = Files.readString(cnn.resolve("results.md"));
        assertTrue(md.contains("model: CNN"), "the report names the model");
        List<String> summary = Files.readAllLines(cnn.resolve("summary.csv"));
        assertEquals(2 * METHODS, summary.size() - 1, "one row per method for 30° and for the average");
        for (String line : summary.subList(1, summary.size())) {
            double mean = Double.parseDouble(line.split(",", -1)[3]);
            assertTrue(mean > 0.0 && mean <= 1.0, line);
        }
    }

    @Test
    void differencesTestEachMethodAgainstPlainTraining() throws IOException {
        List<String> lines = Files.readAllLines(output.resolve("differences.csv"));
        assertEquals("method,baseline,paired_over,n,accuracy_diff_mean,accuracy_diff_sd,accuracy_diff_se,accuracy_t,"
                + "accuracy_significant,jitter_diff_mean,jitter_diff_sd,jitter_diff_se,jitter_t,jitter_significant",
                lines.get(0));
        Set<String> seen = new HashSet<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] cells = line.split(",", -1);
            assertEquals(14, cells.length, line);
            seen.add(cells[0] + " vs " + cells[1]);
            boolean ensemble = cells[0].startsWith("Ensemble of");
            assertEquals(ensemble ? "held-out domains" : "seeds", cells[2], line);
            assertEquals(ensemble ? DOMAINS : RotatedDigitsBenchmark.QUICK_SEEDS, Integer.parseInt(cells[3]), line);
            assertTrue(Math.abs(Double.parseDouble(cells[4])) <= 1.0, line);
            assertTrue(Set.of("true", "false", "").contains(cells[8]), line);
        }
        for (Method method : Method.values()) {
            if (method != Method.ERM) {
                assertTrue(seen.contains(method.label() + " vs ERM"), method.label());
            }
            if (method.isEnsemble() && method != Method.ENSEMBLE_OF_ERM) {
                assertTrue(seen.contains(method.label() + " vs Ensemble of ERM"), method.label());
            }
        }
    }

    @Test
    void summaryHasEveryMethodForEveryDomainAndTheAverageWithAccuraciesInRange() throws IOException {
        List<String> lines = Files.readAllLines(output.resolve("summary.csv"));
        assertEquals("held_out_deg,method,runs,selected_ood_mean,selected_ood_std,selected_epoch_mean,"
                + "last_half_ood_std_mean,last_half_ood_mean_abs_change_mean", lines.get(0));
        Set<String> seen = new HashSet<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] cells = line.split(",", -1);
            assertEquals(8, cells.length, line);
            seen.add(cells[0] + "/" + cells[1]);
            int runs = Integer.parseInt(cells[2]);
            boolean ensemble = cells[1].startsWith("Ensemble of");
            assertEquals(ensemble ? 1 : RotatedDigitsBenchmark.QUICK_SEEDS, runs, line);
            double mean = Double.parseDouble(cells[3]);
            assertTrue(mean > 0.1 && mean <= 1.0, "selected OOD accuracy out of range: " + line);
            assertEquals(ensemble, cells[4].isEmpty(), "std over seeds only for several runs: " + line);
            double epoch = Double.parseDouble(cells[5]);
            assertTrue(epoch >= 1 && epoch <= RotatedDigitsBenchmark.QUICK_EPOCHS, line);
            double spread = Double.parseDouble(cells[6]);
            double jitter = Double.parseDouble(cells[7]);
            assertTrue(spread >= 0 && jitter >= 0 && jitter <= 1, line);
        }
        for (int angle : RotatedDigits.ANGLES) {
            for (Method method : Method.values()) {
                assertTrue(seen.contains(angle + "/" + method.label()), angle + "/" + method.label());
                assertTrue(seen.contains(BenchmarkReport.AVERAGE + "/" + method.label()), method.label());
            }
        }
        assertEquals((DOMAINS + 1) * METHODS, lines.size() - 1);
    }

    @Test
    void curvesHaveOneRowPerDomainMethodSeedAndEpoch() throws IOException {
        List<String> lines = Files.readAllLines(output.resolve("curves.csv"));
        Set<String> keys = new HashSet<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] cells = line.split(",");
            assertEquals(6, cells.length, line);
            assertTrue(keys.add(cells[0] + "/" + cells[1] + "/" + cells[2] + "/" + cells[3]), "duplicate " + line);
            double validation = Double.parseDouble(cells[4]);
            double ood = Double.parseDouble(cells[5]);
            assertTrue(validation >= 0 && validation <= 1 && ood >= 0 && ood <= 1, line);
        }
        int ensembles = (int) Arrays.stream(Method.values()).filter(Method::isEnsemble).count();
        int perDomain = (METHODS - ensembles) * RotatedDigitsBenchmark.QUICK_SEEDS
                * RotatedDigitsBenchmark.QUICK_EPOCHS + ensembles * RotatedDigitsBenchmark.QUICK_EPOCHS;
        assertEquals(DOMAINS * perDomain, keys.size());
        for (int angle : RotatedDigits.ANGLES) {
            for (Method method : Method.values()) {
                String seed = method.isEnsemble() ? "all" : "1";
                assertTrue(keys.contains(angle + "/" + method.label() + "/" + seed + "/1"),
                        angle + "/" + method.label());
            }
        }
    }

    @Test
    void unknownHeldOutDomainShouldFailWithUsageStatus() {
        assertEquals(2, RotatedDigitsBenchmark.run("--held-out", "10", "--output", output.resolve("bad").toString()));
        assertTrue(Files.notExists(output.resolve("bad")));
    }

    @Test
    void unknownModelOrTooFewEpochsShouldFailWithUsageStatus() {
        assertEquals(2, RotatedDigitsBenchmark.run("--model", "resnet", "--output", output.resolve("bad").toString()));
        assertEquals(2, RotatedDigitsBenchmark.run("--epochs", "2", "--output", output.resolve("bad").toString()));
        assertTrue(Files.notExists(output.resolve("bad")));
    }

    @Test
    void markdownGivesBothInstabilityMeasuresAndTheIterationsEachMethodAverages() throws IOException {
        String md = Files.readString(output.resolve("results.md"));
        assertTrue(md.contains("**Jitter: mean absolute change of OOD accuracy from one epoch to the next, epochs 3 "
                + "to 5**"), "jitter over the last half of 5 epochs");
        assertTrue(md.contains("**Spread: standard deviation of OOD accuracy over epochs 3 to 5**"));
        assertTrue(md.contains("**Difference from plain training, against the spread**"));
        long n = 5 * 38;   // 1197 or 1198 training images in minibatches of 32: 38 iterations per epoch
        assertTrue(md.contains("iterations 99.." + n + " at the end"), "the early SMA averages 99..N");
        assertTrue(md.contains("startingAfter(98)"));
        assertTrue(md.contains("(" + (n / 2 + 1) + ".." + n + " at the end)"), "the mid-run SMA averages N/2+1..N");
    }

    @Test
    void markdownTableNamesEveryMethodAndDomain() throws IOException {
        String md = Files.readString(output.resolve("results.md"));
        for (Method method : Method.values()) {
            assertTrue(md.contains("| " + method.label() + " |"), method.label());
        }
        for (int angle : RotatedDigits.ANGLES) {
            assertTrue(md.contains("| " + angle + "° "), angle + "°");
        }
        assertTrue(md.contains("| average |"));
    }
}
