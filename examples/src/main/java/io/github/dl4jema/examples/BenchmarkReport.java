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
import java.util.function.Function;
import java.util.function.ToDoubleFunction;
import java.util.stream.IntStream;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Collects the {@link Curve}s of the {@link RotatedDigitsBenchmark} and writes its report:
 * <ul>
 *   <li>{@code curves.csv}: one row per held-out domain, method, seed and epoch, with validation and OOD
 *       accuracy;</li>
 *   <li>{@code summary.csv}: per held-out domain (and {@code average}) and method, the OOD accuracy of the epoch
 *       selected on validation (mean and sample standard deviation over seeds), the mean selected epoch, and the two
 *       instability measures over the last half of training ({@link Curve#lastHalfOodStd()},
 *       {@link Curve#lastHalfOodMeanAbsChange()}), averaged over seeds;</li>
 *   <li>{@code differences.csv}: each method's difference from plain training, with a paired t-test
 *       ({@link #differencesCsv()});</li>
 *   <li>{@code results.md}: the same as Markdown tables, with the methods described;</li>
 *   <li>{@code ood-vs-epoch.png}: OOD accuracy (mean over seeds) against epoch, one panel per held-out domain and
 *       one for their average (each y axis fits the epochs after the first quarter, so early epochs may be cut), and
 *       a legend giving each method's jitter (|Δ|: mean absolute epoch-to-epoch change) and spread (std) over the
 *       last half of training, averaged over held-out domains and seeds; {@code selected-ood.png}: a bar chart of the
 *       selected models' OOD accuracy.</li>
 * </ul>
 * Accuracies are fractions in the CSV files and percentages (points) in the Markdown and plots. An ensemble is one
 * model per held-out domain (its members are the seeds), so it has no standard deviation over seeds; its seed column
 * is {@code all}.
 */
public final class BenchmarkReport {

    /** Label of the row that averages over the held-out domains. */
    public static final String AVERAGE = "average";

    /** Two-sided 5% critical values of Student's t for 1 to 30 degrees of freedom. */
    private static final double[] T_CRITICAL = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262,
        2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060,
        2.056, 2.052, 2.048, 2.045, 2.042};

    private final RotatedDigitsBenchmark.Plan plan;
    private final int seeds;
    /** held-out angle → method → seed (−1 for the ensemble) → curve. */
    private final Map<Integer, Map<Method, Map<Integer, Curve>>> curves = new TreeMap<>();

    /**
     * An empty report.
     *
     * @param plan  the runs' model, epochs, schedule and EMA decay, for the labels and descriptions
     * @param seeds seeds per held-out domain
     */
    public BenchmarkReport(RotatedDigitsBenchmark.Plan plan, int seeds) {
        this.plan = plan;
        this.seeds = seeds;
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
        Files.writeString(folder.resolve("differences.csv"), differencesCsv());
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
     *         last_half_ood_std_mean,last_half_ood_mean_abs_change_mean (std empty for a single run)
     */
    public String summaryCsv() {
        StringBuilder csv = new StringBuilder("held_out_deg,method,runs,selected_ood_mean,selected_ood_std,"
                + "selected_epoch_mean,last_half_ood_std_mean,last_half_ood_mean_abs_change_mean\n");
        for (String row : rows()) {
            for (Method method : Method.values()) {
                Summary s = summary(row, method);
                if (s == null) {
                    continue;
                }
                csv.append(String.format(Locale.ROOT, "%s,%s,%d,%.6f,%s,%.2f,%.6f,%.6f%n", row, method.label(),
                        s.runs, s.mean, Double.isNaN(s.std) ? "" : String.format(Locale.ROOT, "%.6f", s.std),
                        s.epoch, s.lastHalfStd, s.meanAbsChange));
            }
        }
        return csv.toString();
    }

    /**
     * Each method's difference from plain training, tested against the spread of the differences by a two-sided
     * paired t-test at the 5% level, for the selected OOD accuracy and for the mean absolute epoch-to-epoch change,
     * both averaged over the held-out domains. A single model's difference from ERM is paired by seed (the same seed
     * trains both in the same run, or from the same initialisation for the seed rule). An ensemble has one value
     * per held-out domain, so its differences, from the mean over seeds of ERM and from the plain ensemble of ERM
     * models, are paired by held-out domain.
     *
     * @return {@code differences.csv}: method,baseline,paired_over,n, then for accuracy and for jitter: the mean,
     *         sample standard deviation and standard error of the differences, t, and whether |t| exceeds the
     *         critical value ({@code true}/{@code false}, empty if n &lt; 2)
     */
    public String differencesCsv() {
        StringBuilder csv = new StringBuilder("method,baseline,paired_over,n,accuracy_diff_mean,accuracy_diff_sd,"
                + "accuracy_diff_se,accuracy_t,accuracy_significant,jitter_diff_mean,jitter_diff_sd,jitter_diff_se,"
                + "jitter_t,jitter_significant\n");
        for (Difference d : differences()) {
            csv.append(String.format(Locale.ROOT, "%s,%s,%s,%d,%s,%s%n", d.method.label(), d.baseline.label(),
                    d.pairedOver, d.accuracy.n, d.accuracy.csv(), d.jitter.csv()));
        }
        return csv.toString();
    }

    /** @return the Markdown tables (selected OOD accuracy; instability; differences from ERM) with a legend */
    public String markdownTables() {
        List<String> rows = rows();
        StringBuilder md = new StringBuilder();
        md.append(String.format(Locale.ROOT, "Rotated UCI digits, leave-one-domain-out; model: %s; %d seeds, %d "
                        + "epochs of %d iterations (N = %d), EMA decay %s. Accuracies in %%; columns are the held-out "
                        + "domain.%n%n", plan.model().description(), seeds, plan.epochs(), plan.iterationsPerEpoch(),
                plan.totalIterations(), plan.emaDecay()));
        md.append("**OOD accuracy of the epoch selected on in-domain validation** (mean ± std over seeds)\n\n");
        table(md, rows, s -> Double.isNaN(s.std) ? String.format(Locale.ROOT, "%.1f", 100 * s.mean)
                : String.format(Locale.ROOT, "%.1f ± %.1f", 100 * s.mean, 100 * s.std));
        md.append(String.format(Locale.ROOT, "%n**Jitter: mean absolute change of OOD accuracy from one epoch to the "
                + "next, epochs %d to %d** (points, mean over seeds; lower is steadier)%n%n", firstWindowEpoch(),
                plan.epochs()));
        table(md, rows, s -> String.format(Locale.ROOT, "%.2f", 100 * s.meanAbsChange));
        md.append(String.format(Locale.ROOT, "%n**Spread: standard deviation of OOD accuracy over epochs %d to %d** "
                + "(points, mean over seeds; a curve that still rises counts here as unsteady)%n%n",
                firstWindowEpoch(), plan.epochs()));
        table(md, rows, s -> String.format(Locale.ROOT, "%.2f", 100 * s.lastHalfStd));
        md.append("\n**Mean selected epoch**\n\n");
        table(md, rows, s -> String.format(Locale.ROOT, "%.1f", s.epoch));
        md.append("\n**Difference from plain training, against the spread** (average over held-out domains, points; "
                + "mean ± standard error of the paired differences; *beyond the spread* when a two-sided paired "
                + "t-test rejects no difference at the 5% level)\n\n");
        md.append("| method | compared with | paired over | Δ OOD accuracy | t | beyond the spread? | Δ jitter | t "
                + "| beyond the spread? |\n|---|---|---|---:|---:|---|---:|---:|---|\n");
        for (Difference d : differences()) {
            md.append(String.format(Locale.ROOT, "| %s | %s | %d %s | %s | %s |%n", d.method.label(),
                    d.baseline.label(), d.accuracy.n, d.accuracy.n == 1 ? d.pairedOver.replace("seeds", "seed")
                            .replace("domains", "domain") : d.pairedOver, d.accuracy.markdown(), d.jitter.markdown()));
        }
        md.append("\nMethods (iterations are numbered from 1 over the whole run; t is the last iteration of the "
                + "scored epoch):\n\n");
        for (Method method : Method.values()) {
            md.append("- ").append(method.label()).append(": ").append(method.description(plan)).append('\n');
        }
        return md.toString();
    }

    private void table(StringBuilder md, List<String> rows, Function<Summary, String> cell) {
        md.append("| method");
        for (String row : rows) {
            md.append(" | ").append(AVERAGE.equals(row) ? "average" : row + "°");
        }
        md.append(" |\n|---");
        md.append("|---:".repeat(rows.size()));
        md.append("|\n");
        for (Method method : Method.values()) {
            md.append("| ").append(method.label());
            for (String row : rows) {
                Summary s = summary(row, method);
                md.append(" | ").append(s == null ? "" : cell.apply(s));
            }
            md.append(" |\n");
        }
    }

    private int firstWindowEpoch() {
        return plan.epochs() / 2 + 1;
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
                    bySeed.values().stream().mapToDouble(Curve::lastHalfOodStd).average().orElse(Double.NaN),
                    bySeed.values().stream().mapToDouble(Curve::lastHalfOodMeanAbsChange).average()
                            .orElse(Double.NaN));
        }
        List<Map<Integer, Curve>> domains = domainsOf(method);
        if (domains.isEmpty()) {
            return null;
        }
        double[] perSeed = perSeed(domains, Curve::selectedOod);
        return new Summary(perSeed.length, mean(perSeed), std(perSeed), overAll(domains, Curve::selectedEpoch),
                overAll(domains, Curve::lastHalfOodStd), overAll(domains, Curve::lastHalfOodMeanAbsChange));
    }

    /** Per held-out domain, the method's curves by seed. */
    private List<Map<Integer, Curve>> domainsOf(Method method) {
        return curves.values().stream().map(m -> m.get(method)).filter(m -> m != null).toList();
    }

    /** Per seed, a measure averaged over the held-out domains. */
    private static double[] perSeed(List<Map<Integer, Curve>> domains, ToDoubleFunction<Curve> measure) {
        return domains.get(0).keySet().stream().mapToDouble(seed -> domains.stream()
                .mapToDouble(d -> measure.applyAsDouble(d.get(seed))).average().orElse(Double.NaN)).toArray();
    }

    /** Per held-out domain, a measure averaged over the seeds. */
    private static double[] perDomain(List<Map<Integer, Curve>> domains, ToDoubleFunction<Curve> measure) {
        return domains.stream().mapToDouble(d -> d.values().stream().mapToDouble(measure).average()
                .orElse(Double.NaN)).toArray();
    }

    private static double overAll(List<Map<Integer, Curve>> domains, ToDoubleFunction<Curve> measure) {
        return domains.stream().flatMap(d -> d.values().stream()).mapToDouble(measure).average().orElse(Double.NaN);
    }

    private List<Difference> differences() {
        List<Difference> differences = new ArrayList<>();
        List<Map<Integer, Curve>> erm = domainsOf(Method.ERM);
        List<Map<Integer, Curve>> ermEnsemble = domainsOf(Method.ENSEMBLE_OF_ERM);
        if (erm.isEmpty()) {
            return differences;
        }
        for (Method method : Method.values()) {
            List<Map<Integer, Curve>> domains = domainsOf(method);
            if (method == Method.ERM || domains.isEmpty()) {
                continue;
            }
            if (!method.isEnsemble()) {
                differences.add(new Difference(method, Method.ERM, "seeds",
                        Paired.of(perSeed(domains, Curve::selectedOod), perSeed(erm, Curve::selectedOod)),
                        Paired.of(perSeed(domains, Curve::lastHalfOodMeanAbsChange),
                                perSeed(erm, Curve::lastHalfOodMeanAbsChange))));
                continue;
            }
            differences.add(new Difference(method, Method.ERM, "held-out domains",
                    Paired.of(perDomain(domains, Curve::selectedOod), perDomain(erm, Curve::selectedOod)),
                    Paired.of(perDomain(domains, Curve::lastHalfOodMeanAbsChange),
                            perDomain(erm, Curve::lastHalfOodMeanAbsChange))));
            if (method != Method.ENSEMBLE_OF_ERM && !ermEnsemble.isEmpty()) {
                differences.add(new Difference(method, Method.ENSEMBLE_OF_ERM, "held-out domains",
                        Paired.of(perDomain(domains, Curve::selectedOod), perDomain(ermEnsemble, Curve::selectedOod)),
                        Paired.of(perDomain(domains, Curve::lastHalfOodMeanAbsChange),
                                perDomain(ermEnsemble, Curve::lastHalfOodMeanAbsChange))));
            }
        }
        return differences;
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
        return IntStream.range(0, plan.epochs())
                .mapToDouble(e -> 100 * all.stream().mapToDouble(c -> c.ood()[e]).average().orElse(Double.NaN))
                .toArray();
    }

    private List<XYChart> curveCharts() {
        double[] x = IntStream.rangeClosed(1, plan.epochs()).asDoubleStream().toArray();
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
                for (int e = plan.epochs() / 4; e < plan.epochs(); e++) {
                    low = Math.min(low, y[e]);
                    high = Math.max(high, y[e]);
                }
                style(chart.addSeries(method.label(), x, y), method);
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

    /** Single models solid with circles; ensembles dashed with diamonds. */
    private static void style(XYSeries series, Method method) {
        series.setMarker(method.isEnsemble() ? SeriesMarkers.DIAMOND : SeriesMarkers.CIRCLE);
        series.setMarkerColor(method.color());
        series.setLineColor(method.color());
        if (method.isEnsemble()) {
            series.setLineStyle(SeriesLines.DASH_DASH);
        }
    }

    /**
     * A panel that shows only the legend, with each method's jitter and spread averaged over the held-out domains,
     * and the run's settings in its title; no data.
     */
    private XYChart legendPanel() {
        XYChart legend = new XYChartBuilder().width(480).height(360).title(String.format(Locale.ROOT,
                "%s, %d seeds; epochs %d-%d, points:", plan.model().name(), seeds, firstWindowEpoch(),
                plan.epochs())).build();
        for (Method method : Method.values()) {
            Summary s = summary(AVERAGE, method);
            String label = s == null ? method.label() : String.format(Locale.ROOT, "%s: |Δ| %.2f, std %.2f",
                    method.label(), 100 * s.meanAbsChange, 100 * s.lastHalfStd);
            style(legend.addSeries(label, new double[] {0, 1}, new double[] {-10, -10}), method);
        }
        legend.getStyler().setYAxisMin(0.0).setYAxisMax(1.0);
        legend.getStyler().setAxisTicksVisible(false);
        legend.getStyler().setPlotGridLinesVisible(false);
        legend.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW)
                .setLegendFont(legend.getStyler().getLegendFont().deriveFont(13f));
        return legend;
    }

    private CategoryChart barChart() {
        List<String> rows = rows();
        List<String> categories = rows.stream().map(r -> AVERAGE.equals(r) ? "average" : r + "°").toList();
        CategoryChart chart = new CategoryChartBuilder().width(1400).height(560)
                .title(String.format(Locale.ROOT, "%s: OOD accuracy of the epoch selected on in-domain validation "
                        + "(mean ± std over %d seeds)", plan.model().name(), seeds))
                .xAxisTitle("held-out domain").yAxisTitle("OOD accuracy (%)").build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.OutsideE);
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

    /**
     * The two-sided 5% critical value of Student's t: tabulated up to 30 degrees of freedom, above that the
     * Cornish-Fisher expansion {@code z + (z³ + z) / (4·df)} (within 0.003 of the exact value).
     */
    static double tCritical(int degreesOfFreedom) {
        if (degreesOfFreedom <= T_CRITICAL.length) {
            return T_CRITICAL[degreesOfFreedom - 1];
        }
        double z = 1.959964;
        return z + (z * z * z + z) / (4.0 * degreesOfFreedom);
    }

    private record Summary(int runs, double mean, double std, double epoch, double lastHalfStd,
                           double meanAbsChange) {
    }

    private record Difference(Method method, Method baseline, String pairedOver, Paired accuracy, Paired jitter) {
    }

    /** A paired comparison: the differences' count, mean, sample standard deviation, standard error and t. */
    record Paired(int n, double mean, double sd, double se, double t) {

        static Paired of(double[] values, double[] baseline) {
            double[] d = new double[values.length];
            for (int i = 0; i < d.length; i++) {
                d[i] = values[i] - baseline[i];
            }
            double sd = std(d);
            double se = sd / Math.sqrt(d.length);
            double mean = BenchmarkReport.mean(d);
            return new Paired(d.length, mean, sd, se, mean / se);
        }

        /** Whether |t| exceeds the critical value; null when there is no spread to compare with. */
        Boolean significant() {
            return n < 2 || Double.isNaN(t) ? null : Math.abs(t) > tCritical(n - 1);
        }

        String csv() {
            Boolean significant = significant();
            return String.format(Locale.ROOT, "%.6f,%s,%s,%s,%s", mean, number(sd), number(se), number(t),
                    significant == null ? "" : significant.toString());
        }

        String markdown() {
            Boolean significant = significant();
            if (significant == null) {
                return String.format(Locale.ROOT, "%+.2f | | n/a", 100 * mean);
            }
            return String.format(Locale.ROOT, "%+.2f ± %.2f | %.1f | %s", 100 * mean, 100 * se, t,
                    significant ? "**yes**" : "no");
        }

        private static String number(double value) {
            return Double.isNaN(value) || Double.isInfinite(value) ? "" : String.format(Locale.ROOT, "%.6f", value);
        }
    }
}
