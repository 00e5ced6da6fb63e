package io.github.dl4jema;

import java.io.File;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The child process of {@link ModelZipTest}'s kill test: saves a network and its average into one zip over and over,
 * the model's weights and the average changing between saves, until it is killed. Prints "saving" once the first
 * save is done.
 */
final class SaveLoop {

    private SaveLoop() {
    }

    public static void main(String[] args) throws Exception {
        File file = new File(args[0]);
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 1);
        EmaListener ema = EmaListener.builder(AveragingRule.simple()).build();
        for (int k = 1; ; k++) {
            Snapshots.load(net, k);
            ema.update(net);
            EmaListener.save(net, file, ema);
            if (k == 1) {
                System.out.println("saving");
                System.out.flush();
            }
        }
    }
}
