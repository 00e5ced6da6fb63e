package io.github.dl4jema;

import static io.github.dl4jema.Snapshots.values;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Path;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

/** Saving the state in DL4J's model zip and resuming gives the run that never stopped, bit for bit. */
class StateTest {

    @TempDir
    Path dir;

    /** Writes {@code value} with Java serialization and reads it back. */
    @SuppressWarnings("unchecked")
    private static <T> T roundTrip(T value) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(value);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            return (T) in.readObject();
        }
    }

    private void resumeEqualsUninterrupted(EmaListener.Builder builder, DataType type) throws Exception {
        MultiLayerNetwork straight = Networks.mlp(type, true, 11);
        EmaListener straightEma = builder.build();
        straight.addListeners(straightEma);
        straight.fit(Networks.data(type), 6);

        MultiLayerNetwork first = Networks.mlp(type, true, 11);
        EmaListener firstEma = builder.build();
        first.addListeners(firstEma);
        first.fit(Networks.data(type), 3);
        File file = dir.resolve("model.zip").toFile();
        ModelSerializer.writeModel(first, file, true);
        firstEma.saveTo(file);

        MultiLayerNetwork resumed = MultiLayerNetwork.load(file, true);
        EmaListener resumedEma = EmaListener.restore(file);
        resumed.addListeners(resumedEma);
        resumed.fit(Networks.data(type), 3);

        assertArrayEquals(values(straight.params()), values(resumed.params()), "weights");
        assertArrayEquals(values(straightEma.averagedParams(straight)), values(resumedEma.averagedParams(resumed)),
                "average");
        assertEquals(straightEma.snapshotCount(), resumedEma.snapshotCount());
        assertEquals(straightEma.lastStep(), resumedEma.lastStep());
    }

    @Test
    void seedWriteBackResumedAfterThreeEpochsEqualsSixUninterruptedEpochs() throws Exception {
        resumeEqualsUninterrupted(EmaListener.seedRule(), DataType.DOUBLE);
    }

    @Test
    void perIterationShadowAverageResumedEqualsUninterrupted() throws Exception {
        resumeEqualsUninterrupted(EmaListener.builder(AveragingRule.exponentialWithWarmup(0.95)).everyIteration()
                .startingAfter(5), DataType.FLOAT);
    }

    @Test
    void stateSurvivesJavaSerializationWithTypeAndBits() throws Exception {
        ComputationGraph graph = Networks.graph(DataType.FLOAT, 4);
        EmaListener ema = EmaListener.builder(AveragingRule.exponential(0.75)).everyNIterations(2).writeBack()
                .parameters(ParameterSelection.layers("a", "out")).failOnNonFinite().build();
        graph.addListeners(ema);
        graph.fit(Networks.data(DataType.FLOAT), 2);

        EmaState state = ema.state();
        EmaState copy = roundTrip(state);
        assertEquals(state.config(), copy.config());
        assertEquals(ema.config(), copy.config());
        assertEquals(4, copy.snapshots());
        assertEquals(8, copy.lastStep());
        assertEquals(0, copy.skippedUpdates());
        assertEquals(DataType.FLOAT, copy.average().dataType());
        assertArrayEquals(values(state.average()), values(copy.average()));

        EmaListener restored = EmaListener.fromState(copy);
        assertArrayEquals(values(ema.averagedParams(graph)), values(restored.averagedParams(graph)));
    }

    @Test
    void emptyStateRoundTripsWithoutAnAverage() throws Exception {
        EmaListener ema = EmaListener.simpleMovingAverage().build();
        EmaState copy = roundTrip(ema.state());
        assertNull(copy.average());
        assertEquals(0, copy.snapshots());
        assertEquals(ema.config(), copy.config());
    }

    @Test
    void listenerItselfIsSerializableAndComesBackUnbound() throws Exception {
        MultiLayerNetwork net = Networks.mlp(DataType.FLOAT, false, 3);
        EmaListener ema = EmaListener.exponential(0.9).build();
        net.addListeners(ema);
        net.fit(Networks.data(DataType.FLOAT), 1);
        EmaListener copy = roundTrip(ema);
        assertEquals(ema.config(), copy.config());
        assertEquals(4, copy.snapshotCount());
        MultiLayerNetwork replica = net.clone();
        assertArrayEquals(values(ema.averagedParams(net)), values(copy.averagedParams(replica)),
                "the copy binds to the first network it sees");
    }

    @Test
    void listenerPrintsItsConfiguration() {
        assertEquals("EmaListener{rule=seed(e/(e+1)), schedule=every epoch, mode=WRITE_BACK, parameters=all, "
                + "nonFinite=SKIP, snapshots=0}", EmaListener.seedRule().build().toString());
        assertEquals("EmaListener{rule=simple(n/(n+1)), schedule=every iteration after 100 iterations, mode=SHADOW, "
                + "parameters=allExceptBatchNormStatistics, nonFinite=FAIL, snapshots=0}",
                EmaListener.simpleMovingAverage().parameters(ParameterSelection.allExceptBatchNormStatistics())
                        .failOnNonFinite().build().toString());
    }
}
