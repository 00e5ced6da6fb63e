package io.github.dl4jema.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.github.dl4jema.EmaListener;
import io.github.dl4jema.examples.Digits;
import io.github.dl4jema.examples.TrainingUiExample;
import io.github.dl4jema.ui.AverageStatsListener;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.deeplearning4j.config.DL4JSystemProperties;
import org.deeplearning4j.core.storage.Persistable;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.ui.api.UIServer;
import org.deeplearning4j.ui.model.stats.StatsListener;
import org.deeplearning4j.ui.model.stats.api.StatsReport;
import org.deeplearning4j.ui.model.storage.InMemoryStatsStorage;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.learning.config.Adam;
import org.nd4j.linalg.lossfunctions.LossFunctions;
import org.nd4j.shade.jackson.databind.JsonNode;
import org.nd4j.shade.jackson.databind.ObjectMapper;

/**
 * DL4J's own training UI ({@code UIServer}, Java 17, DL4J 1.0.0-M2.1) serves the sessions of
 * {@link AverageStatsListener} beside the training session, set up as without it: what its HTTP endpoints return
 * (the data the pages plot) is compared with the storage and with the averaged weights' accuracy recomputed here.
 */
class TrainingUiIT {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final HttpClient HTTP = HttpClient.newHttpClient();

    @Test
    void theUiServesTheAverageSessionsBesideTheTrainingSession() throws Exception {
        String base = startUiOnAFreePort();
        UIServer ui = UIServer.getInstance();
        try {
            InMemoryStatsStorage storage = new InMemoryStatsStorage();
            ui.attach(storage);
            StatsListener stats = new StatsListener(storage, 5, "it-run");
            EmaListener ema = EmaListener.exponential(0.9).build();
            Digits.Split split = Digits.load().split(42, 0.8);
            DataSetIterator test = Digits.iterator(split.test(), 256, -1);
            AverageStatsListener averageStats = AverageStatsListener.builder(ema, stats).evaluateOn(test)
                    .evaluateTrainingWeights(true).build();
            MultiLayerNetwork net = network();
            net.setListeners(stats, ema, averageStats);
            for (int epoch = 0; epoch < 2; epoch++) {
                net.fit(Digits.iterator(split.train(), 32, epoch));
            }

            Set<String> expected = new TreeSet<>(List.of("it-run", averageStats.averageSessionId(),
                    averageStats.averageMetricSessionId(), averageStats.trainingMetricSessionId()));
            // the UI takes in storage events on a thread of its own: wait (up to 30 s) until it lists the sessions
            Set<String> sessions = new TreeSet<>();
            for (long deadline = System.nanoTime() + 30_000_000_000L; ; Thread.sleep(100)) {
                sessions.clear();
                JSON.readTree(get(base + "/train/sessions/info")).fieldNames().forEachRemaining(sessions::add);
                if (sessions.equals(expected) || System.nanoTime() > deadline) {
                    break;
                }
            }
            assertEquals(expected, sessions);
            assertEquals("it-run", get(base + "/train/sessions/current"), "the UI opens on the training session");

            String worker = stats.getWorkerID();
            for (String session : sessions) {
                get(base + "/train/sessions/set/" + session);
                JsonNode overview = JSON.readTree(get(base + "/train/overview/data"));
                List<Persistable> stored = storage.getAllUpdatesAfter(session, StatsListener.TYPE_ID, worker, 0);
                assertEquals(stored.size(), overview.get("scores").size(), session);
                for (int i = 0; i < stored.size(); i++) {
                    StatsReport report = (StatsReport) stored.get(i);
                    assertEquals(report.getIterationCount(), overview.get("scoresIter").get(i).asInt(), session);
                    assertEquals(report.getScore(), overview.get("scores").get(i).asDouble(), 0.0, session);
                }
                // the model page (layer 1 of the graph: the first dense layer) and the system page work too
                JsonNode layer = JSON.readTree(get(base + "/train/model/data/1"));
                assertEquals("[\"W\",\"b\"]", layer.get("paramHist").get("paramNames").toString(), session);
                assertTrue(JSON.readTree(get(base + "/train/system/data")).has("memory"), session);
            }

            // the last point of the averaged accuracy is the accuracy of the final average, recomputed here
            get(base + "/train/sessions/set/" + averageStats.averageMetricSessionId());
            JsonNode scores = JSON.readTree(get(base + "/train/overview/data")).get("scores");
            test.reset();
            double accuracy = ema.averagedCopy(net).evaluate(test).accuracy();
            assertEquals(accuracy, scores.get(scores.size() - 1).asDouble(), 0.0);
            assertEquals(2, scores.size(), "one point per epoch end");
        } finally {
            ui.stop();
        }
    }

    @Test
    void theExampleRunnerTrainsWithTheUiAndStops() throws Exception {
        startUiOnAFreePort();
        assertEquals(0, TrainingUiExample.run("--epochs", "1", "--serve-seconds", "0", "--port",
                System.getProperty(DL4JSystemProperties.UI_SERVER_PORT_PROPERTY)));
    }

    private static String startUiOnAFreePort() throws IOException {
        int port;
        try (ServerSocket socket = new ServerSocket(0)) {
            port = socket.getLocalPort();
        }
        System.setProperty(DL4JSystemProperties.UI_SERVER_PORT_PROPERTY, String.valueOf(port));
        return "http://localhost:" + port;
    }

    private static String get(String url) throws IOException, InterruptedException {
        HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(url)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, response.statusCode(), url + ": " + response.body());
        return response.body();
    }

    private static MultiLayerNetwork network() {
        MultiLayerNetwork net = new MultiLayerNetwork(new NeuralNetConfiguration.Builder()
                .seed(7)
                .updater(new Adam(0.01))
                .list()
                .layer(new DenseLayer.Builder().nIn(Digits.SIDE * Digits.SIDE).nOut(32).activation(Activation.RELU)
                        .build())
                .layer(new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT).nIn(32).nOut(Digits.CLASSES)
                        .activation(Activation.SOFTMAX).build())
                .build());
        net.init();
        return net;
    }
}
