package io.github.dl4jema.benchmarks;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * PyTorch's fastest in-place averaging update as a measured reference: {@code torch_reference.py} in a Python process
 * of its own, driven line by line over its stdin and stdout, so that its updates run inside the rounds of the paired
 * measurement ({@link Interleaved}) beside the Java variants. It runs on one core ({@code OMP_NUM_THREADS=1} and
 * {@code torch.set_num_threads(1)}) and times each update itself, so the pipe's latency is not counted.
 */
final class TorchPeer implements AutoCloseable {

    private final Process process;
    private final PrintWriter commands;
    private final BufferedReader answers;
    private final String python;
    private String description = "";

    private TorchPeer(Process process, String python) {
        this.process = process;
        this.python = python;
        commands = new PrintWriter(process.getOutputStream(), true, StandardCharsets.UTF_8);
        answers = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
    }

    /**
     * Starts the first interpreter of {@code interpreters} whose Python imports torch ({@code python3} first, then
     * Debian's {@code /usr/bin/python3}, where {@code python3-torch} installs, when no interpreter is given).
     *
     * @param interpreters the Python interpreters to try, in order
     * @param reasons      receives one line per interpreter that could not be used
     * @return the peer, or null if none could be started (the reasons say why)
     */
    static TorchPeer start(List<String> interpreters, List<String> reasons) {
        Path script = Files.exists(Path.of("torch_reference.py")) ? Path.of("torch_reference.py")
                : Path.of("benchmarks", "torch_reference.py");
        for (String python : interpreters) {
            try {
                ProcessBuilder builder = new ProcessBuilder(python, script.toString());
                builder.environment().put("OMP_NUM_THREADS", "1");
                builder.redirectError(ProcessBuilder.Redirect.INHERIT);
                TorchPeer peer = new TorchPeer(builder.start(), python);
                String answer = peer.ask("setup FLOAT 1000");
                if (answer != null && answer.startsWith("ready")) {
                    return peer;
                }
                reasons.add(python + ": " + answer);
                peer.close();
            } catch (IOException e) {
                reasons.add(python + ": " + e.getMessage());
            }
        }
        return null;
    }

    /**
     * Builds the 62 tensors of {@link Workloads#squareMlp} and their averages in the Python process.
     *
     * @param type       FLOAT or DOUBLE
     * @param parameters the approximate parameter count
     * @return the exact parameter count on the Python side
     */
    long setUp(String type, long parameters) throws IOException {
        String answer = ask("setup " + type + " " + parameters);
        if (answer == null || !answer.startsWith("ready")) {
            throw new IOException("torch_reference.py did not set up " + type + ":" + parameters + ": " + answer);
        }
        description = python + ": " + answer.substring(answer.indexOf(' ', 6) + 1);
        return Long.parseLong(answer.split(" ")[1]);
    }

    /** @return what ran on the Python side: interpreter, torch version, threads */
    String description() {
        return description;
    }

    /**
     * One update, timed on the Python side.
     *
     * @param writeBack the write-back form (copy into the parameters in the same loop) or the shadow form
     * @return milliseconds
     */
    double update(boolean writeBack) {
        try {
            String answer = ask(writeBack ? "writeback" : "shadow");
            if (answer == null) {
                throw new IOException("torch_reference.py ended");
            }
            return Double.parseDouble(answer);
        } catch (IOException | NumberFormatException e) {
            throw new IllegalStateException("PyTorch reference failed: " + e.getMessage(), e);
        }
    }

    private String ask(String command) throws IOException {
        commands.println(command);
        return answers.readLine();
    }

    @Override
    public void close() {
        commands.println("quit");
        commands.close();
        try {
            if (!process.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroy();
            }
        } catch (InterruptedException e) {
            process.destroy();
            Thread.currentThread().interrupt();
        }
    }
}
