package io.github.dl4jema;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.StringReader;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.Properties;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Everything an {@link EmaListener} or a {@link SameDiffAverager} needs to resume, as one immutable value: its
 * configuration, the stored average, the snapshot and step counts, and what the state belongs to (the parameter
 * layout, a digest of the weights it was saved with, and the model's epoch and iteration counts at that moment).
 *
 * <p>Saved inside DL4J's model zip, beside the network (for a SameDiff graph: in a zip beside its file, see
 * {@link SameDiffAverager#stateFile(java.io.File)}), as data and never as Java serialization: the entries
 * {@code dl4j-ema/<name>/state.properties} (configuration and counts, text) and {@code dl4j-ema/<name>/average.bin}
 * (the average in ND4J's binary format, which keeps its data type and every bit). A built-in rule is saved by name; a
 * custom rule by its {@code toString()} only, and must be supplied again at restore.
 *
 * <p>Instances handed out by {@link EmaListener#state()} and {@link SameDiffAverager#state()} are copies, safe to
 * keep.
 */
public final class EmaState {

    /** The folder of a model zip that holds averaging states, one sub-folder per averager name. */
    public static final String ZIP_FOLDER = "dl4j-ema/";

    static final String LEGACY_ENTRY = "objects/ema-listener-state";
    private static final int FORMAT = 1;

    private final EmaConfig config;
    private final ParameterLayout layout;
    private final INDArray average;
    private final long snapshots;
    private final long lastStep;
    private final long skippedUpdates;
    private final String weightsDigest;
    private final int networkEpoch;
    private final int networkIteration;

    EmaState(EmaConfig config, ParameterLayout layout, INDArray average, long snapshots, long lastStep,
             long skippedUpdates, String weightsDigest, int networkEpoch, int networkIteration) {
        this.config = config;
        this.layout = layout;
        this.average = average;
        this.snapshots = snapshots;
        this.lastStep = lastStep;
        this.skippedUpdates = skippedUpdates;
        this.weightsDigest = weightsDigest;
        this.networkEpoch = networkEpoch;
        this.networkIteration = networkIteration;
    }

    /** @return the configuration the state was made with */
    public EmaConfig config() {
        return config;
    }

    /**
     * The stored average, in the network's flat parameter layout (the order of {@code params()}; for a SameDiff graph,
     * the selected variables end to end in name order), or null before the first snapshot. FLOAT for HALF or BFLOAT16
     * parameters (the master copy). Positions outside the parameter selection hold no meaning.
     *
     * @return the average (this state's own copy; do not modify it)
     */
    public INDArray average() {
        return average;
    }

    /** @return the number of snapshots averaged so far, 0 before the first update */
    public long snapshots() {
        return snapshots;
    }

    /** @return the averager's own 1-based count of the last epoch or iteration it saw (or manual step), 0 if none */
    public long lastStep() {
        return lastStep;
    }

    /** @return the number of updates skipped because the parameters held NaN or infinite values */
    public long skippedUpdates() {
        return skippedUpdates;
    }

    /**
     * @return a SHA-256 digest of the network's weights (a SameDiff graph's selected variables) when the state was
     *         taken, or null if it was unbound
     */
    public String weightsDigest() {
        return weightsDigest;
    }

    ParameterLayout layout() {
        return layout;
    }

    int networkEpoch() {
        return networkEpoch;
    }

    int networkIteration() {
        return networkIteration;
    }

    // ---------------------------------------------------------------- persistence

    /** Writes this state's entries under {@code dl4j-ema/<name>/}. */
    void writeTo(ZipOutputStream zip) throws IOException {
        Properties p = new Properties();
        p.setProperty("format", Integer.toString(FORMAT));
        config.writeTo(p);
        p.setProperty("snapshots", Long.toString(snapshots));
        p.setProperty("lastStep", Long.toString(lastStep));
        p.setProperty("skippedUpdates", Long.toString(skippedUpdates));
        p.setProperty("network.epoch", Integer.toString(networkEpoch));
        p.setProperty("network.iteration", Integer.toString(networkIteration));
        if (layout != null) {
            p.setProperty("layout.type", layout.type().name());
            p.setProperty("layout.shapes", layout.encodeShapes());
        }
        if (weightsDigest != null) {
            p.setProperty("weights.sha256", weightsDigest);
        }
        StringWriter text = new StringWriter();
        p.store(text, "dl4j-ema averaging state of '" + config.name() + "'");
        zip.putNextEntry(new ZipEntry(folder(config.name()) + "state.properties"));
        zip.write(text.toString().getBytes(StandardCharsets.UTF_8));
        zip.closeEntry();
        if (average != null) {
            zip.putNextEntry(new ZipEntry(folder(config.name()) + "average.bin"));
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            Nd4j.write(average, new DataOutputStream(bytes));
            bytes.writeTo(zip);
            zip.closeEntry();
        }
    }

    static String folder(String name) {
        return ZIP_FOLDER + name + "/";
    }

    /** @return the names of the averaging states in {@code zip}, in entry order */
    static List<String> names(ZipFile zip) {
        List<String> names = new ArrayList<>();
        Enumeration<? extends ZipEntry> entries = zip.entries();
        while (entries.hasMoreElements()) {
            String entry = entries.nextElement().getName();
            if (entry.startsWith(ZIP_FOLDER) && entry.endsWith("/state.properties")) {
                names.add(entry.substring(ZIP_FOLDER.length(), entry.length() - "/state.properties".length()));
            }
        }
        return names;
    }

    /**
     * Reads the state named {@code name} from {@code zip}.
     *
     * @param customRule the rule to use if the state was saved with a custom rule, or null
     * @throws IllegalArgumentException if the entries are missing, malformed, or a custom rule is needed and not given
     */
    static EmaState read(ZipFile zip, String name, AveragingRule customRule, String where) throws IOException {
        ZipEntry stateEntry = zip.getEntry(folder(name) + "state.properties");
        if (stateEntry == null) {
            throw new IllegalArgumentException(where + " holds no averaging state named '" + name + "'; it holds "
                    + names(zip));
        }
        Properties p = new Properties();
        try (InputStream in = zip.getInputStream(stateEntry)) {
            p.load(new StringReader(new String(in.readAllBytes(), StandardCharsets.UTF_8)));
        }
        String format = p.getProperty("format");
        if (!Integer.toString(FORMAT).equals(format)) {
            throw new IllegalArgumentException("averaging state '" + name + "' in " + where + " has format " + format
                    + "; this version reads format " + FORMAT);
        }
        EmaConfig config = EmaConfig.readFrom(p, customRule, where);
        ParameterLayout layout = null;
        if (p.getProperty("layout.type") != null) {
            layout = ParameterLayout.decode(p.getProperty("layout.shapes", ""),
                    DataType.valueOf(p.getProperty("layout.type")));
        }
        INDArray average = null;
        ZipEntry averageEntry = zip.getEntry(folder(name) + "average.bin");
        if (averageEntry != null) {
            byte[] bytes;
            try (InputStream in = zip.getInputStream(averageEntry)) {
                bytes = in.readAllBytes();
            }
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                average = Nd4j.read(new DataInputStream(new ByteArrayInputStream(bytes)));
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("the average of averaging state '" + name + "' in " + where
                        + " is not a readable ND4J array", e);
            }
            if (layout != null && (average.length() != layout.length()
                    || average.dataType() != RunningAverage.averageType(layout.type()))) {
                throw new IllegalArgumentException("the average of averaging state '" + name + "' in " + where
                        + " holds " + average.length() + " " + average.dataType() + " values but its layout says "
                        + layout);
            }
        }
        return new EmaState(config, layout, average, number(p, "snapshots"), number(p, "lastStep"),
                number(p, "skippedUpdates"), p.getProperty("weights.sha256"), (int) number(p, "network.epoch"),
                (int) number(p, "network.iteration"));
    }

    private static long number(Properties p, String key) {
        String value = p.getProperty(key);
        try {
            return Long.parseLong(value);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("averaging state field '" + key + "' should be a number (got: "
                    + value + ")", e);
        }
    }

    @Override
    public String toString() {
        return "EmaState{snapshots=" + snapshots + ", lastStep=" + lastStep + ", skippedUpdates=" + skippedUpdates
                + ", average=" + (average == null ? "none" : average.length() + " " + average.dataType())
                + ", " + config + "}";
    }
}
