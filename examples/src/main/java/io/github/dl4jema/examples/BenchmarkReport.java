package io.github.dl4jema.examples;

import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.IntStream;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Collects the {@link Curve}s of the {@link RotatedDigitsBenchmark} and writes its report:
 * <ul>
 *   <li>{@code curves.csv}: one row per held-out domain, method, seed and epoch, with validation and OOD
 *       accuracy;</li>
 *   <li>{@code summary.csv}: per held-out domain (and {@code average}) and method, the OOD accuracy of the epoch
 *       selected on validation (mean and sample standard deviation over seeds), the mean selected epoch and the mean
 *       over seeds of the epoch-to-epoch standard deviation of OOD accuracy over the last half of training;</li>
 *   <li>{@code results.md}: the same as Markdown tables;</li>
 *   <li>{@code ood-vs-epoch.png}: OOD accuracy (mean over seeds) against epoch, one panel per held-out domain and
 *       one for their average (each y axis fits the epochs after the first quarter, so early epochs may be cut);
 *       {@code selected-ood.png}: a bar chart of the selected models' OOD accuracy.</li>
 * </ul>
 * Accuracies are fractions in the CSV files and percentages in the Markdown and plots. An ensemble is one model per
 * held-out domain (its members are the seeds), so it has no standard deviation over seeds; its seed column is
 * {@code all}.
 */
public final class BenchmarkReport {

    /** Label of the row that averages over the held-out domains. */
    public static final String AVERAGE = "average";

    private final int epochs;
    private final int seeds;
    private final double emaDecay;
    /** held-out angle → method → seed (−1 for the ensemble) → curve. */
    private final Map<Integer, Map<Method, Map<Integer, Curve>>> curves = new TreeMap<>();

    /**
     * An empty report.
     *
     * @param epochs   epochs per run
     * @param seeds    seeds per held-out domain
     * @param emaDecay the exponential average's decay, for the labels
     */
    public BenchmarkReport(int epochs, int seeds, double emaDecay) {
        this.epochs = epochs;
        this.seeds = seeds;
        this.emaDecay = emaDecay;
    }

    /**
     * Adds one run's curve.
     *
     * @param heldOutAngle the held-out domain's angle
     * @param method       the method
     * @param seed         the seed, or −1 for the ensemble of all seeds
     * @param curve        its accuracies
     */
    public void add(int heldOutAngle, Method method, int seed, Curve curve) {
        curves.computeIfAbsent(heldOutAngle, a -> new EnumMap<>(Method.class))
                .computeIfAbsent(method, m -> new TreeMap<>()).put(seed, curve);
    }

    /**
     * Writes the CSV files, the Markdown tables and the plots into a folder.
     *
     * @param folder an existing folder
     * @throws IOException if a file cannot be written
     */
    public void write(Path folder) throws IOException {
        Files.writeString(folder.resolve("curves.csv"), curvesCsv());
        Files.writeString(folder.resolve("summary.csv"), summaryCsv());
        Files.writeString(folder.resolve("results.md"), markdownTables());
        List<XYChart> panels = curveCharts();
        BitmapEncoder.saveBitmap(panels, 2, panels.size() / 2, folder.resolve("ood-vs-epoch.png").toString(),
                BitmapEncoder.BitmapFormat.PNG);
        BitmapEncoder.saveBitmap(barChart(), folder.resolve("selected-ood.png").toString(),
                BitmapEncoder.BitmapFormat.PNG);
    }

    /** @return {@code curves.csv}: held_out_deg,method,seed,epoch,validation_accuracy,ood_accuracy */
    public String curvesCsv() {
        StringBuilder csv = new StringBuilder("held_out_deg,method,seed,epoch,validation_accuracy,ood_accuracy\n");
        curves.forEach((angle, methods) -> methods.forEach((method, bySeed) -> bySeed.forEach((seed, curve) -> {
            for (int e = 0; e < curve.epochs(); e++) {
                csv.append(String.format(Locale.ROOT, "%d,%s,%s,%d,%.6f,%.6f%n", angle, method.label(),
                        seed < 0 ? "all" : Integer.toString(seed), e + 1, curve.validation()[e], curve.ood()[e]));
            }
        })));
        return csv.toString();
    }

    /**
     * @return {@code summary.csv}: held_out_deg,method,runs,selected_ood_mean,selected_ood_std,selected_epoch_mean,
     *         last_half_ood_std_mean (std empty for a single run)
     */
    public String summaryCsv() {
        StringBuilder csv = new StringBuilder("held_out_deg,method,runs,selected_ood_mean,selected_ood_std,"
                + "selected_epoch_mean,last_half_ood_std_mean\n");
        for (String row : rows()) {
            for (Method method : Method.values()) {
                Summary s = summary(row, method);
                if (s == null) {
                    continue;
                }
                csv.append(String.format(Locale.ROOT, "%s,%s,%d,%.6f,%s,%.2f,%.6f%n", row, method.label(), s.runs,
                        s.mean, Double.isNaN(s.std) ? "" : String.format(Locale.ROOT, "%.6f", s.std), s.epoch,
                        s.lastHalfStd));
            }
        }
        return csv.toString();
    }

    /** @return the two Markdown tables (selected OOD accuracy; last-half instability) with a legend */
    public String markdownTables() {
        List<String> rows = rows();
        StringBuilder md = new StringBuilder();
        md.append(String.format(Locale.ROOT, "Rotated UCI digits, leave-one-domain-out; %d seeds, %d epochs, "
                + "EMA decay %s. Accuracies in %%; columns are the held-out domain.%n%n", seeds, epochs, emaDecay));
        md.append("**OOD accuracy of the epoch selected on in-domain validation** (mean ± std over seeds)\n\n");
        header(md, rows);
        for (Method method : Method.values()) {
            md.append("| ").append(method.label());
            for (String row : rows) {
                Summary s = summary(row, method);
                md.append(" | ").append(s == null ? "" : Double.isNaN(s.std)
                        ? String.format(Locale.ROOT, "%.1f", 100 * s.mean)
                        : String.format(Locale.ROOT, "%.1f ± %.1f", 100 * s.mean, 100 * s.std));
            }
            md.append(" |\n");
        }
        md.append("\n**Instability: std of OOD accuracy from epoch to epoch over the last half of training** "
                + "(mean over seeds; lower is steadier)\n\n");
        header(md, rows);
        for (Method method : Method.values()) {
            md.append("| ").append(method.label());
            for (String row : rows) {
                Summary s = summary(row, method);
                md.append(" | ").append(s == null ? "" : String.format(Locale.ROOT, "%.2f", 100 * s.lastHalfStd));
            }
            md.append(" |\n");
        }
        md.append("\n**Mean selected epoch**\n\n");
        header(md, rows);
        for (Method method : Method.values()) {
            md.append("| ").append(method.label());
            for (String row : rows) {
                Summary s = summary(row, method);
                md.append(" | ").append(s == null ? "" : String.format(Locale.ROOT, "%.1f", s.epoch));
            }
            md.append(" |\n");
        }
        md.append("\nMethods:\n\n");
        for (Method method : Method.values()) {
            md.append("- ").append(method.label()).append(": ").append(method.description()).append('\n');
        }
        return md.toString();
    }

    private static void header(StringBuilder md, List<String> rows) {
        md.append("| method");
        for (String row : rows) {
            md.append(" | ").append(AVERAGE.equals(row) ? "average" : row + "°");
        }
        md.append(" |\n|---");
        md.append("|---:".repeat(rows.size()));
        md.append("|\n");
    }

    private List<String> rows() {
        List<String> rows = new ArrayList<>();
        curves.keySet().forEach(angle -> rows.add(Integer.toString(angle)));
        rows.add(AVERAGE);
        return rows;
    }

    /** Summary of one method on one held-out domain, or on the average over domains (per seed, then over seeds). */
    private Summary summary(String row, Method method) {
        if (!AVERAGE.equals(row)) {
            Map<Integer, Curve> bySeed = curves.getOrDefault(Integer.parseInt(row), Map.of()).get(method);
            if (bySeed == null) {
                return null;
            }
            double[] selected = bySeed.values().stream().mapToDouble(Curve::selectedOod).toArray();
            return new Summary(selected.length, mean(selected), std(selected),
                    bySeed.values().stream().mapToDouble(Curve::selectedEpoch).average().orElse(Double.NaN),
                    bySeed.values().stream().mapToDouble(Curve::lastHalfOodStd).average().orElse(Double.NaN));
        }
        List<Map<Integer, Curve>> domains = curves.values().stream().map(m -> m.get(method))
                .filter(m -> m != null).toList();
        if (domains.isEmpty()) {
            return null;
        }
        List<Integer> seedKeys = new ArrayList<>(domains.get(0).keySet());
        double[] perSeed = seedKeys.stream().mapToDouble(seed -> domains.stream()
                .mapToDouble(d -> d.get(seed).selectedOod()).average().orElse(Double.NaN)).toArray();
        double epoch = domains.stream().flatMap(d -> d.values().stream()).mapToDouble(Curve::selectedEpoch)
                .average().orElse(Double.NaN);
        double lastHalf = domains.stream().flatMap(d -> d.values().stream()).mapToDouble(Curve::lastHalfOodStd)
                .average().orElse(Double.NaN);
        return new Summary(perSeed.length, mean(perSeed), std(perSeed), epoch, lastHalf);
    }

    /** Mean OOD curve over seeds, in percent; for {@link #AVERAGE}, also over held-out domains. */
    private double[] meanOodCurve(String row, Method method) {
        List<Curve> all = new ArrayList<>();
        for (Map.Entry<Integer, Map<Method, Map<Integer, Curve>>> domain : curves.entrySet()) {
            if (AVERAGE.equals(row) || Integer.toString(domain.getKey()).equals(row)) {
                Map<Integer, Curve> bySeed = domain.getValue().get(method);
                if (bySeed != null) {
                    all.addAll(bySeed.values());
                }
            }
        }
        return IntStream.range(0, epochs)
                .mapToDouble(e -> 100 * all.stream().mapToDouble(c -> c.ood()[e]).average().orElse(Double.NaN))
                .toArray();
    }

    private List<XYChart> curveCharts() {
        double[] x = IntStream.rangeClosed(1, epochs).asDoubleStream().toArray();
        List<XYChart> charts = new ArrayList<>();
        for (String row : rows()) {
            XYChart chart = new XYChartBuilder().width(480).height(360)
                    .title(AVERAGE.equals(row) ? "Average over held-out domains" : "Held-out domain " + row + "°")
                    .xAxisTitle("epoch").yAxisTitle("OOD accuracy (%)").build();
            chart.getStyler().setLegendVisible(false);
            chart.getStyler().setMarkerSize(3);
            // The first epochs (where the averages still hold the initial weights) would squash the rest.
            double low = 100;
            double high = 0;
            for (Method method : Method.values()) {
                double[] y = meanOodCurve(row, method);
                for (int e = epochs / 4; e < epochs; e++) {
                    low = Math.min(low, y[e]);
                    high = Math.max(high, y[e]);
                }
                style(chart.addSeries(method.label(), x, y), method.color());
            }
            chart.getStyler().setYAxisMin(Math.floor(low / 5) * 5 - 5).setYAxisMax(Math.min(100, high + 2));
            charts.add(chart);
        }
        charts.add(legendPanel());
        while (charts.size() % 2 != 0) {
            XYChart blank = new XYChartBuilder().width(480).height(360).build();
            blank.addSeries(" ", new double[] {0, 1}, new double[] {0, 0}).setMarker(SeriesMarkers.NONE)
                    .setLineColor(Color.WHITE);
            blank.getStyler().setLegendVisible(false);
            blank.getStyler().setAxisTicksVisible(false);
            charts.add(blank);
        }
        return charts;
    }

    private static void style(XYSeries series, Color color) {
        series.setMarker(SeriesMarkers.CIRCLE);
        series.setMarkerColor(color);
        series.setLineColor(color);
    }

    /** A panel that shows only the legend, the run's settings in its title, and no data. */
    private XYChart legendPanel() {
        XYChart legend = new XYChartBuilder().width(480).height(360).title(String.format(Locale.ROOT,
                "%d seeds, %d epochs, EMA decay %s", seeds, epochs, emaDecay)).build();
        for (Method method : Method.values()) {
            style(legend.addSeries(method.label(), new double[] {0, 1}, new double[] {-10, -10}), method.color());
        }
        legend.getStyler().setYAxisMin(0.0).setYAxisMax(1.0);
        legend.getStyler().setAxisTicksVisible(false);
        legend.getStyler().setPlotGridLinesVisible(false);
        legend.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW)
                .setLegendFont(legend.getStyler().getLegendFont().deriveFont(14f));
        return legend;
    }

    private CategoryChart barChart() {
        List<String> rows = rows();
        List<String> categories = rows.stream().map(r -> AVERAGE.equals(r) ? "average" : r + "°").toList();
        CategoryChart chart = new CategoryChartBuilder().width(1000).height(500)
                .title("OOD accuracy of the epoch selected on in-domain validation (mean ± std over seeds)")
                .xAxisTitle("held-out domain").yAxisTitle("OOD accuracy (%)").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideS).setLegendLayout(
                Styler.LegendLayout.Horizontal);
        double min = 100;
        for (Method method : Method.values()) {
            List<Double> means = new ArrayList<>();
            List<Double> errors = new ArrayList<>();
            for (String row : rows) {
                Summary s = summary(row, method);
                means.add(s == null ? 0 : 100 * s.mean);
                errors.add(s == null || Double.isNaN(s.std) ? 0 : 100 * s.std);
                min = Math.min(min, s == null ? min : 100 * s.mean);
            }
            chart.addSeries(method.label(), categories, means, errors).setFillColor(method.color());
        }
        chart.getStyler().setYAxisMin(Math.max(0, Math.floor(min / 10) * 10 - 10)).setYAxisMax(100.0);
        return chart;
    }

    private static double mean(double[] values) {
        double sum = 0;
        for (double v : values) {
            sum += v;
        }
        return sum / values.length;
    }

    /** Sample standard deviation; NaN for a single value. */
    private static double std(double[] values) {
        if (values.length < 2) {
            return Double.NaN;
        }
        double m = mean(values);
        double sum = 0;
        for (double v : values) {
            sum += (v - m) * (v - m);
        }
        return Math.sqrt(sum / (values.length - 1));
    }

    private record Summary(int runs, double mean, double std, double epoch, double lastHalfStd) {
    }
}
