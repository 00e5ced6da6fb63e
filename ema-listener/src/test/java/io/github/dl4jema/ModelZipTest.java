package io.github.dl4jema;

import static io.github.dl4jema.Snapshots.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.buffer.DataType;

/** Saving never destroys the model it is saved into: injected failures, a killed process, a read-only directory. */
class ModelZipTest {

    @TempDir
    Path dir;

    @AfterEach
    void noFaults() {
        ModelZip.writeThrough = out -> out;
    }

    /** A stream that fails once {@code limit} bytes have gone through it, like a disk that fills up. */
    private static OutputStream failingAfter(OutputStream out, long limit) {
        return new FilterOutputStream(out) {
            private long written;

            @Override
            public void write(int b) throws IOException {
                if (++written > limit) {
                    throw new IOException("No space left on device (injected after " + limit + " bytes)");
                }
                out.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                for (int i = 0; i < len; i++) {
                    write(b[off + i]);
                }
            }
        };
    }

    private List<Path> files() throws IOException {
        try (Stream<Path> list = Files.list(dir)) {
            return list.toList();
        }
    }

    /** K as a fraction of the new zip's size: the start, inside the model, and inside the last (averaging) entry. */
    @ParameterizedTest(name = "failure after {0} of the bytes")
    @ValueSource(doubles = {0.0, 0.01, 0.5, 0.97, 0.999})
    void aWriteThatFailsAfterKBytesLeavesTheOldZipAndNoTemporaryFile(double fraction) throws Exception {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, true, 1);
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).build();
        ema.update(net);
        File file = dir.resolve("model.zip").toFile();
        EmaListener.save(net, file, ema);
        byte[] before = Files.readAllBytes(file.toPath());
        double[] weightsBefore = values(net.params());

        Snapshots.load(net, 2);
        ema.update(net);
        long size = before.length;
        long limit = (long) (fraction * size);
        ModelZip.writeThrough = out -> failingAfter(out, limit);
        IOException e = assertThrows(IOException.class, () -> ema.saveTo(file));
        assertTrue(e.getMessage().contains("injected"), e.getMessage());
        assertThrows(IOException.class, () -> EmaListener.save(net, file, ema));
        ModelZip.writeThrough = out -> out;

        assertArrayEquals(before, Files.readAllBytes(file.toPath()), "the zip is exactly as it was");
        assertEquals(List.of(file.toPath()), files(), "no temporary file left behind");
        MultiLayerNetwork loaded = MultiLayerNetwork.load(file, true);
        assertArrayEquals(weightsBefore, values(loaded.params()));
        assertEquals(1, EmaListener.restore(file, loaded).snapshotCount());
    }

    @Test
    void aProcessKilledWhileSavingLeavesEitherTheOldOrTheNewZip() throws Exception {
        File file = dir.resolve("loop.zip").toFile();
        // three kills inside a write (early, in the middle, in the last entry), then one at a moment left to chance
        String[] stops = {"0.02", "0.5", "0.98", null};
        for (String stop : stops) {
            List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                    .toString(), "-Xmx512m", "-cp", System.getProperty("java.class.path"), SaveLoop.class.getName(),
                    file.getAbsolutePath()));
            if (stop != null) {
                command.add(stop);
            }
            Process child = new ProcessBuilder(command).redirectErrorStream(true).start();
            try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(),
                    StandardCharsets.UTF_8))) {
                String awaited = stop != null ? "writing" : "saving";
                String line;
                while ((line = out.readLine()) != null && !line.equals(awaited)) {
                    // ND4J's start-up log, and "saving" before "writing"
                }
                assertEquals(awaited, line, "the child process ended before it " + awaited);
                if (stop == null) {
                    Thread.sleep(700);
                }
                child.destroyForcibly();   // SIGKILL on Unix: no shutdown hooks, no finally blocks
            }
            assertTrue(child.waitFor(30, TimeUnit.SECONDS));

            MultiLayerNetwork loaded = MultiLayerNetwork.load(file, true);
            EmaListener restored = EmaListener.restore(file, loaded);
            long k = restored.snapshotCount();
            if (stop != null) {
                assertEquals(1, k, "killed inside the second save, at " + stop + " of its bytes: the first save");
            }
            assertTrue(k >= 1, "snapshots " + k);
            double[] theta = Snapshots.theta((int) k, (int) loaded.numParams());
            Snapshots.assertClose(theta, loaded.params(), DataType.FLOAT);
            double[] mean = new double[theta.length];
            for (int s = 1; s <= k; s++) {
                double[] t = Snapshots.theta(s, theta.length);
                for (int j = 0; j < mean.length; j++) {
                    mean[j] += t[j] / k;
                }
            }
            Snapshots.assertClose(mean, restored.averagedParams(loaded), DataType.FLOAT);
        }
    }

    @Test
    void aReadOnlyDirectoryGivesAClearErrorAndChangesNothing() throws Exception {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 1);
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).build();
        ema.update(net);
        Path sub = Files.createDirectory(dir.resolve("read-only"));
        File file = sub.resolve("model.zip").toFile();
        EmaListener.save(net, file, ema);
        byte[] before = Files.readAllBytes(file.toPath());
        makeReadOnly(sub);
        try {
            ema.update(net);
            IOException e = assertThrows(IOException.class, () -> ema.saveTo(file));
            assertTrue(e.getMessage().contains("is not writable") && e.getMessage().contains("nothing was changed"),
                    e.getMessage());
            assertArrayEquals(before, Files.readAllBytes(file.toPath()));
            IOException whole = assertThrows(IOException.class, () -> EmaListener.save(net, file, ema));
            assertTrue(whole.getMessage().contains("is not writable")
                    && whole.getMessage().contains("nothing was changed"), whole.getMessage());
            assertArrayEquals(before, Files.readAllBytes(file.toPath()));
        } finally {
            makeWritable(sub);
        }
        try (Stream<Path> list = Files.list(sub)) {
            assertEquals(List.of(file.toPath()), list.toList());
        }
    }

    /**
     * Removes write permission; root ignores permissions, so as root the directory is made immutable with
     * {@code chattr +i} (ext4 and most Linux file systems).
     */
    private static void makeReadOnly(Path directory) throws Exception {
        directory.toFile().setWritable(false, false);
        if (!Files.isWritable(directory) || !canCreateIn(directory)) {
            return;
        }
        Process chattr = new ProcessBuilder("chattr", "+i", directory.toString()).redirectErrorStream(true).start();
        Assumptions.assumeTrue(chattr.waitFor() == 0 && !canCreateIn(directory),
                "running as root on a file system without chattr +i: a read-only directory cannot be made");
    }

    private static void makeWritable(Path directory) throws Exception {
        new ProcessBuilder("chattr", "-i", directory.toString()).redirectErrorStream(true).start().waitFor();
        directory.toFile().setWritable(true, false);
    }

    private static boolean canCreateIn(Path directory) {
        try {
            Files.delete(Files.createTempFile(directory, "probe", ".tmp"));
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
