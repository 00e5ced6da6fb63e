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

/** Runs the benchmark with {@code --quick} once and checks every output it promises. */
class RotatedDigitsBenchmarkIT {

    private static final int DOMAINS = RotatedDigits.ANGLES.length;
    private static final int METHODS = Method.values().length;

    @TempDir
    static Path output;

    @BeforeAll
    static void runQuickBenchmark() {
        assertEquals(0, RotatedDigitsBenchmark.run("--quick", "--output", output.toString()));
    }

    @Test
    void quickRunWritesEveryPromisedFile() {
        for (String file : List.of("curves.csv", "summary.csv", "results.md", "ood-vs-epoch.png",
                "selected-ood.png")) {
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
    void summaryHasEveryMethodForEveryDomainAndTheAverageWithAccuraciesInRange() throws IOException {
        List<String> lines = Files.readAllLines(output.resolve("summary.csv"));
        assertEquals("held_out_deg,method,runs,selected_ood_mean,selected_ood_std,selected_epoch_mean,"
                + "last_half_ood_std_mean", lines.get(0));
        Set<String> seen = new HashSet<>();
        for (String line : lines.subList(1, lines.size())) {
            String[] cells = line.split(",", -1);
            assertEquals(7, cells.length, line);
            seen.add(cells[0] + "/" + cells[1]);
            int runs = Integer.parseInt(cells[2]);
            boolean ensemble = cells[1].startsWith("Ensemble of");
            assertEquals(ensemble ? 1 : RotatedDigitsBenchmark.QUICK_SEEDS, runs, line);
            double mean = Double.parseDouble(cells[3]);
            assertTrue(mean > 0.1 && mean <= 1.0, "selected OOD accuracy out of range: " + line);
            assertEquals(ensemble, cells[4].isEmpty(), "std over seeds only for several runs: " + line);
            double epoch = Double.parseDouble(cells[5]);
            assertTrue(epoch >= 1 && epoch <= RotatedDigitsBenchmark.QUICK_EPOCHS, line);
            assertTrue(Double.parseDouble(cells[6]) >= 0, line);
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
