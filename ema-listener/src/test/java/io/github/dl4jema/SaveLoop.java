package io.github.dl4jema;

import java.io.File;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The child process of {@link ModelZipTest}'s kill test: saves a network and its average into one zip over and over,
 * the model's weights and the average changing between saves, until it is killed. Prints "saving" once the first
 * save is done. With a second argument {@code f} in {@code (0, 1)}, the next save stops (and prints "writing") once it
 * has written the fraction {@code f} of the first save's bytes, so that the kill lands inside the write.
 */
final class SaveLoop {

    private SaveLoop() {
    }

    public static void main(String[] args) throws Exception {
        File file = new File(args[0]);
        double stopAt = args.length > 1 ? Double.parseDouble(args[1]) : -1;
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 1);
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).build();
        for (int k = 1; ; k++) {
            Snapshots.load(net, k);
            ema.update(net);
            EmaListener.save(net, file, ema);
            if (k == 1) {
                if (stopAt > 0) {
                    long limit = (long) (stopAt * file.length());
                    ModelZip.writeThrough = out -> new StoppingStream(out, limit);
                }
                System.out.println("saving");
                System.out.flush();
            }
        }
    }

    /** Writes through until {@code limit} bytes, then announces it and blocks until the process is killed. */
    private static final class StoppingStream extends FilterOutputStream {
        private final long limit;
        private long written;

        StoppingStream(OutputStream out, long limit) {
            super(out);
            this.limit = limit;
        }

        @Override
        public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            int now = (int) Math.max(0, Math.min(len, limit - written));
            out.write(b, off, now);
            written += now;
            if (written >= limit) {
                out.flush();
                System.out.println("writing");
                System.out.flush();
                try {
                    Thread.sleep(Long.MAX_VALUE);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            out.write(b, off + now, len - now);
            written += len - now;
        }
    }
}
