package io.github.dl4jema;

import java.io.BufferedOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.util.Enumeration;
import java.util.function.Predicate;
import java.util.function.UnaryOperator;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

/**
 * Atomic replacement of files the library writes: the new content goes to a temporary file in the target's own
 * directory (so the rename cannot cross file systems), is forced to disk, and is then renamed over the target with
 * an atomic move. On any failure the target is exactly as it was and the temporary file is removed; a killed
 * process leaves at most a stray {@code .<name>.*.tmp} file beside an intact target.
 *
 * <p>DL4J's own {@code ModelSerializer.addObjectToFile} deletes the original before writing its replacement, so a
 * full disk or a killed process loses the model; this class is why the library never calls it.
 */
final class ModelZip {

    /** Test seam: wraps the stream a replacement is written through (to inject a failure after K bytes). */
    static volatile UnaryOperator<OutputStream> writeThrough = UnaryOperator.identity();

    /** Writes the content of a file. */
    @FunctionalInterface
    interface Content {
        void writeTo(OutputStream out) throws IOException;
    }

    /** Writes entries into a zip being rebuilt. */
    @FunctionalInterface
    interface Entries {
        void writeTo(ZipOutputStream zip) throws IOException;
    }

    private ModelZip() {
    }

    /**
     * Rebuilds {@code zip} atomically: keeps its entries except those {@code drop} accepts, then adds the entries
     * {@code added} writes.
     *
     * @throws IOException if the zip cannot be read or the new one cannot be written; the zip is then unchanged
     */
    static void rewrite(File zip, Predicate<String> drop, Entries added) throws IOException {
        rebuild(zip, zip, drop, added);
    }

    /**
     * Writes {@code target} atomically as the entries of the zip {@code source} that {@code drop} does not accept,
     * followed by the entries {@code added} writes; {@code source} and {@code target} may be the same file.
     *
     * @throws IOException if {@code source} cannot be read or {@code target} written; {@code target} is then unchanged
     */
    static void rebuild(File source, File target, Predicate<String> drop, Entries added) throws IOException {
        try (ZipFile old = new ZipFile(source)) {
            replace(target, out -> {
                ZipOutputStream rebuilt = new ZipOutputStream(out);
                Enumeration<? extends ZipEntry> entries = old.entries();
                while (entries.hasMoreElements()) {
                    ZipEntry entry = entries.nextElement();
                    if (drop.test(entry.getName())) {
                        continue;
                    }
                    rebuilt.putNextEntry(new ZipEntry(entry.getName()));
                    try (InputStream in = old.getInputStream(entry)) {
                        in.transferTo(rebuilt);
                    }
                    rebuilt.closeEntry();
                }
                added.writeTo(rebuilt);
                rebuilt.finish();
            });
        }
    }

    /**
     * Replaces (or creates) {@code target} atomically with the content {@code content} writes.
     *
     * @throws IOException if anything fails; {@code target} is then as it was, and no temporary file is left
     */
    static void replace(File target, Content content) throws IOException {
        Path path = target.toPath().toAbsolutePath();
        Path dir = path.getParent();
        Path tmp = temporaryBeside(target, ".tmp");
        boolean moved = false;
        try {
            try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.WRITE)) {
                OutputStream out = writeThrough.apply(new BufferedOutputStream(Channels.newOutputStream(channel),
                        1 << 16));
                content.writeTo(out);
                out.flush();
                channel.force(true);
            }
            copyPermissions(path, tmp);
            try {
                Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("the file system of " + dir + " cannot rename atomically, so " + path
                        + " cannot be replaced safely; nothing was changed. Save to a local file system and copy "
                        + "the file from there", e);
            }
            moved = true;
            forceDirectory(dir);
        } finally {
            if (!moved) {
                Files.deleteIfExists(tmp);
            }
        }
    }

    /**
     * A new empty temporary file in {@code target}'s directory, named {@code .<target name>.<random><suffix>}.
     *
     * @throws IOException with a message that says the directory is not writable and nothing was changed
     */
    static Path temporaryBeside(File target, String suffix) throws IOException {
        Path path = target.toPath().toAbsolutePath();
        Path dir = path.getParent();
        try {
            return Files.createTempFile(dir, "." + path.getFileName() + ".", suffix);
        } catch (IOException e) {
            throw new IOException("cannot write " + path + ": its directory " + dir + " is not writable (" + e
                    + "; a file is saved by writing a new copy beside it and renaming it over the old one); nothing "
                    + "was changed", e);
        }
    }

    private static void copyPermissions(Path from, Path to) {
        PosixFileAttributeView source = Files.getFileAttributeView(from, PosixFileAttributeView.class);
        PosixFileAttributeView target = Files.getFileAttributeView(to, PosixFileAttributeView.class);
        if (source == null || target == null || !Files.exists(from)) {
            return;
        }
        try {
            target.setPermissions(source.readAttributes().permissions());
        } catch (IOException e) {
            // the new file keeps the default permissions of a temporary file (owner read/write)
        }
    }

    /** Makes the rename itself durable where the platform allows opening a directory (Linux, macOS). */
    private static void forceDirectory(Path dir) {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // not supported on this platform (Windows): the rename is atomic but may not yet be durable
        }
    }
}
