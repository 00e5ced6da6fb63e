package io.github.dl4jema.ui;

import io.github.dl4jema.EmaListener;
import java.lang.ref.WeakReference;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.deeplearning4j.core.storage.Persistable;
import org.deeplearning4j.core.storage.StatsStorageRouter;
import org.deeplearning4j.core.storage.StorageMetaData;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.api.layers.IOutputLayer;
import org.deeplearning4j.nn.conf.BackpropType;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.FrozenLayerWithBackprop;
import org.deeplearning4j.nn.multilayer.MultiLayerNetwork;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.ui.model.stats.StatsListener;
import org.deeplearning4j.ui.model.stats.api.Histogram;
import org.deeplearning4j.ui.model.stats.api.StatsInitializationReport;
import org.deeplearning4j.ui.model.stats.api.StatsReport;
import org.deeplearning4j.ui.model.stats.api.StatsType;
import org.deeplearning4j.ui.model.stats.impl.DefaultStatsInitializationConfiguration;
import org.deeplearning4j.ui.model.stats.impl.DefaultStatsUpdateConfiguration;
import org.nd4j.evaluation.classification.Evaluation;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.MultiDataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Shows a weight average in DL4J's training UI, beside the training weights: a {@code TrainingListener} that scores
 * the average of an {@link EmaListener} while the network trains and reports it into the same
 * {@code StatsStorage} (any {@link StatsStorageRouter}) as DL4J's {@link StatsListener}, as sessions of its own. The
 * UI is set up as before; only this listener is added.
 *
 * <pre>{@code
 * StatsStorage storage = new InMemoryStatsStorage();        // or new FileStatsStorage(file)
 * UIServer.getInstance().attach(storage);                   // as before
 * StatsListener stats = new StatsListener(storage);         // as before: the training weights
 * EmaListener ema = EmaListener.exponential(0.99).build();
 * AverageStatsListener averageStats = AverageStatsListener.builder(ema, stats)
 *         .evaluateOn(testIterator)                          // accuracy of the average at every epoch end
 *         .evaluateTrainingWeights(true)                     // and of the training weights, to compare
 *         .build();
 * net.setListeners(stats, ema, averageStats);               // the averager before this listener
 * net.fit(trainIterator, 10);
 * }</pre>
 *
 * <p><b>What the UI shows.</b> DL4J's UI plots one score series per session and worker ("Model Score vs. Iteration"
 * on its overview page) and has no place for other metrics. This listener therefore reports each series as a
 * session of its own, listed in the UI's session selector (top right, shown once the storage holds two sessions).
 * For a training session {@code T} (the {@code StatsListener}'s session ID) and an averager named {@code N}:
 * <table>
 * <caption>Sessions in the StatsStorage</caption>
 * <tr><th>session</th><th>its score</th><th>reported by</th></tr>
 * <tr><td>{@code T}</td><td>DL4J's {@code model.score()}: the loss of each training minibatch on the training
 * weights, computed in the training step (training mode: with dropout)</td><td>{@code StatsListener}, unchanged</td></tr>
 * <tr><td>{@code T-average-N} ({@link #averageSessionId()})</td><td>the loss of the same minibatch on the averaged
 * weights, at the same moment (before that iteration's update), in inference mode</td><td>this listener, every
 * {@link Builder#scoreEveryNIterations(int) n} iterations</td></tr>
 * <tr><td>{@code T-average-N-accuracy} ({@link #averageMetricSessionId()})</td><td>the accuracy (or another
 * {@link Builder#metric(Evaluation.Metric) metric}) of the averaged weights on the evaluation data</td><td>this
 * listener, at every epoch end, with {@link Builder#evaluateOn(DataSetIterator)}</td></tr>
 * <tr><td>{@code T-accuracy} ({@link #trainingMetricSessionId()})</td><td>the same metric of the training weights on
 * the same data, at the same moments</td><td>this listener, with {@link Builder#evaluateTrainingWeights(boolean)}</td></tr>
 * </table>
 * Every record carries the network's own 0-based iteration index, as {@code StatsListener}'s do, so the x axes of all
 * sessions line up; an epoch-end record sits at the epoch's last iteration. The records are written by DL4J's own
 * {@code StatsListener} watching this listener's scoring network, so each session also has what the UI's model and
 * system pages show: the model configuration, histograms, means, standard deviations and mean magnitudes of the
 * weights reported (the averaged ones; the training weights in {@code T-accuracy}), memory and software. What DL4J
 * shows as a parameter's "update" is, in these sessions, how far the weights moved per iteration since the
 * session's previous record (for the first, since the first iteration this listener saw): for an average, the
 * update:parameter ratio chart then shows how much more slowly it moves than the training weights. Learning rates
 * are the training run's.
 *
 * <p><b>How the average is scored.</b> At {@code onGradientCalculation} of each due iteration (after the forward and
 * backward pass on the minibatch, before the update: the moment DL4J's own score is taken), the average as it stands
 * then is copied into a scoring network of the same configuration that this listener keeps, which scores the
 * minibatch the network trains on ({@code score(DataSet)}, inference mode, with the regularization terms, as DL4J's
 * score). It is reported at the following {@code iterationDone}. At {@code onEpochEnd} the scoring network evaluates
 * the average, then (if asked) the training weights, on the evaluation data. The training network is only read: its
 * weights, updater state, random numbers and the records of its own {@code StatsListener} are exactly those of a run
 * without this listener. The cost: the scoring network and about three more copies of the parameters (the weights
 * each session reported last); per reported iteration a copy of the average, one forward pass on the minibatch and
 * DL4J's statistics of the weights; per epoch end one pass over the evaluation data per evaluated set of weights.
 *
 * <p><b>Order.</b> With evaluation data, add the averager before this listener
 * ({@code net.setListeners(stats, ema, averageStats)}), so that the epoch-end evaluation sees that epoch's update;
 * the other order fails at the first epoch start with this advice. Put DL4J's {@code StatsListener} first, too: the UI
 * opens the session it hears of first (when attached before training) or the one that started last (when attached
 * afterwards), and this listener dates its sessions from the first training event it saw (one millisecond earlier),
 * so that in both cases the UI opens on the training session, as it did before.
 *
 * <p>Not scored per iteration (the epoch-end evaluation still runs): minibatches with mask arrays, truncated BPTT
 * segments and graphs whose outputs are not output layers (one WARN log each). One listener reports one network. The
 * storage keys records by timestamp, so this listener gives each of its records a distinct millisecond (one later
 * than the previous if need be); DL4J's {@code StatsListener} does not, and keeps only one of two records of the
 * training session written within one millisecond.
 */
public final class AverageStatsListener extends BaseTrainingListener {

    /** Default of {@link Builder#scoreEveryNIterations(int)}: that of DL4J's {@code StatsListener(router)}, 10. */
    public static final int DEFAULT_SCORE_FREQUENCY = DefaultStatsUpdateConfiguration.DEFAULT_REPORTING_FREQUENCY;

    /** Default of {@link Builder#metric(Evaluation.Metric)}. */
    public static final Evaluation.Metric DEFAULT_METRIC = Evaluation.Metric.ACCURACY;

    private static final Logger log = LoggerFactory.getLogger(AverageStatsListener.class);

    /** Bins of the update histograms, as DL4J's {@code StatsListener} uses by default. */
    private static final int HISTOGRAM_BINS = 20;

    private final EmaListener averager;
    private final SessionRouter router;
    private final String trainingSessionId;
    private final String workerId;
    private final int scoreFrequency;
    private final DataSetIterator evaluationData;
    private final int evaluationFrequency;
    private final Evaluation.Metric metric;
    private final boolean evaluateTrainingWeights;

    private WeakReference<Model> network;
    private Model scorer;
    private Session averageScores;
    private Session averageMetric;
    private Session trainingMetric;
    private Minibatch minibatch;
    private int pendingIteration = -1;
    private double pendingScore;
    private long pendingPosition;
    private long updatesSeen;
    private int lastIteration = -1;
    private long epochsEnded;
    private final Set<String> warned = new HashSet<>();

    private AverageStatsListener(Builder b) {
        this.averager = b.averager;
        this.router = new SessionRouter(b.router);
        this.trainingSessionId = b.trainingSessionId;
        this.workerId = b.workerId;
        this.scoreFrequency = b.scoreFrequency;
        this.evaluationData = b.evaluationData;
        this.evaluationFrequency = b.evaluationFrequency;
        this.metric = b.metric;
        this.evaluateTrainingWeights = b.evaluateTrainingWeights;
    }

    /**
     * A builder that reports beside a training {@code StatsListener}: into its storage router, under session IDs
     * derived from its session ID, with its worker ID, and every as many iterations as it reports
     * ({@code stats.getUpdateConfig().reportingFrequency()}: 10 for {@code new StatsListener(storage)}).
     *
     * @param averager the averager whose average is reported
     * @param stats    the network's {@code StatsListener}, which reports the training weights
     * @return a builder
     * @throws IllegalArgumentException if an argument is null
     */
    public static Builder builder(EmaListener averager, StatsListener stats) {
        if (stats == null) {
            throw new IllegalArgumentException("stats should be the network's StatsListener, such as new "
                    + "StatsListener(statsStorage) (got: null)");
        }
        return new Builder(averager, stats.getStorageRouter(), stats.getSessionID()).workerId(stats.getWorkerID())
                .scoreEveryNIterations(Math.max(1, stats.getUpdateConfig().reportingFrequency()));
    }

    /**
     * A builder that reports into any {@code StatsStorageRouter} ({@code InMemoryStatsStorage},
     * {@code FileStatsStorage}, {@code RemoteUIStatsStorageRouter}), under session IDs derived from
     * {@code trainingSessionId} (normally the session ID of the network's {@code StatsListener}); the worker ID is
     * DL4J's default (JVM and thread) and the score is reported every {@value #DEFAULT_SCORE_FREQUENCY} iterations
     * unless set.
     *
     * @param averager          the averager whose average is reported
     * @param router            where the records go
     * @param trainingSessionId the session ID the averaged sessions are named after
     * @return a builder
     * @throws IllegalArgumentException if an argument is null or the session ID is blank
     */
    public static Builder builder(EmaListener averager, StatsStorageRouter router, String trainingSessionId) {
        return new Builder(averager, router, trainingSessionId);
    }

    /** @return the session of the averaged weights' minibatch scores: {@code <training session>-average-<name>} */
    public String averageSessionId() {
        return trainingSessionId + "-average-" + averager.name();
    }

    /**
     * @return the session of the averaged weights' metric at epoch ends, {@code <average session>-<metric>} such as
     *         {@code ...-average-exponential-0.99-accuracy}; written only with evaluation data
     */
    public String averageMetricSessionId() {
        return averageSessionId() + "-" + metricName();
    }

    /**
     * @return the session of the training weights' metric at epoch ends, {@code <training session>-<metric>}; written
     *         only with {@link Builder#evaluateTrainingWeights(boolean)}
     */
    public String trainingMetricSessionId() {
        return trainingSessionId + "-" + metricName();
    }

    private String metricName() {
        return metric.name().toLowerCase(Locale.ROOT);
    }

    // ---------------------------------------------------------------- callbacks

    /** Dates the sessions from the first event and checks the order of the averager and this listener. */
    @Override
    public void onEpochStart(Model model) {
        if (isNetwork(model)) {
            synchronized (this) {
                router.startIfNew();
                checkOrder(model);
            }
        }
    }

    /**
     * Keeps a reference to the minibatch being trained on (features and labels; nothing is copied) if this iteration
     * is due: the graph's output layers drop their labels before {@code onGradientCalculation}.
     */
    @Override
    public void onBackwardPass(Model model) {
        if (isNetwork(model)) {
            synchronized (this) {
                router.startIfNew();
                minibatch = isDue(iterationCount(model)) ? minibatchOf(model) : null;
            }
        }
    }

    /**
     * Scores the average on the minibatch kept in {@code onBackwardPass}: after the gradient, before the update,
     * the moment DL4J computed the training weights' score.
     */
    @Override
    public void onGradientCalculation(Model model) {
        if (isNetwork(model)) {
            synchronized (this) {
                int iteration = iterationCount(model);
                boolean due = minibatch != null && isDue(iteration);
                if (due || averageScores == null) {
                    loadAverage(model);
                }
                if (averageScores == null) {
                    startSessions(copyOf(scorer.paramTable(true)), copyOf(model.paramTable(true)));
                }
                if (due) {
                    pendingScore = score(minibatch);
                    pendingIteration = iteration;
                    pendingPosition = updatesSeen;
                }
                minibatch = null;
            }
        }
    }

    /** Reports the score taken in {@code onGradientCalculation} under this 0-based iteration index. */
    @Override
    public void iterationDone(Model model, int iteration, int epoch) {
        if (isNetwork(model)) {
            synchronized (this) {
                lastIteration = iteration;
                updatesSeen++;
                if (pendingIteration == iteration) {
                    pendingIteration = -1;
                    averageScores.report(model, pendingScore, iteration, epoch, pendingPosition);
                }
            }
        }
    }

    /**
     * At every {@code n}-th epoch end this listener has seen (1-based count), evaluates the average, and with
     * {@link Builder#evaluateTrainingWeights(boolean)} the training weights, on the evaluation data.
     */
    @Override
    public void onEpochEnd(Model model) {
        if (!isNetwork(model) || evaluationData == null) {
            return;
        }
        synchronized (this) {
            router.startIfNew();
            checkOrder(model);
            epochsEnded++;
            if (epochsEnded % evaluationFrequency != 0) {
                return;
            }
            int iteration = Math.max(lastIteration, 0);
            int epoch = epochCount(model);
            loadAverage(model);
            if (averageScores == null) {
                startSessions(null, null);
            }
            averageMetric.report(model, evaluate(), iteration, epoch, updatesSeen);
            if (evaluateTrainingWeights) {
                scorer.setParams(model.params());
                trainingMetric.report(model, evaluate(), iteration, epoch, updatesSeen);
            }
        }
    }

    // ---------------------------------------------------------------- scoring

    private boolean isDue(int iteration) {
        return scoreFrequency == 1 || (iteration != 0 && iteration % scoreFrequency == 0);
    }

    /** The scoring network with the averaged weights; created at the first use, bound to the first network. */
    private void loadAverage(Model model) {
        Model bound = network == null ? null : network.get();
        if (bound != model) {
            if (network != null) {
                throw new IllegalStateException("this AverageStatsListener reports the average of "
                        + describe(bound) + " and was called with another network, " + describe(model)
                        + ". One listener reports one network: create one per network (got: " + describe(model)
                        + ")");
            }
            scorer = averager.averagedCopy(model);
            network = new WeakReference<>(model);
            log.info("Reporting average '{}' to the StatsStorage sessions {}{}", averager.name(), averageSessionId(),
                    evaluationData == null ? "" : ", " + averageMetricSessionId()
                            + (evaluateTrainingWeights ? " and " + trainingMetricSessionId() : ""));
            return;
        }
        scorer.setParams(averager.averagedParams(model));
    }

    /** The features and labels of the minibatch in training (references, not copies). */
    private record Minibatch(INDArray[] features, INDArray[] labels) {
    }

    /** The minibatch in training, or null (with a WARN once per reason) when it cannot be scored alone. */
    private Minibatch minibatchOf(Model model) {
        if (model instanceof MultiLayerNetwork mln) {
            if (mln.getLayerWiseConfigurations().getBackpropType() == BackpropType.TruncatedBPTT) {
                return skip("truncated BPTT trains on segments whose score depends on the stored RNN state");
            }
            for (Layer layer : mln.getLayers()) {
                if (layer.getMaskArray() != null) {
                    return skip("minibatches with mask arrays are not scored");
                }
            }
            return mln.getInput() == null || mln.getLabels() == null ? null
                    : new Minibatch(new INDArray[] {mln.getInput()}, new INDArray[] {mln.getLabels()});
        }
        ComputationGraph graph = (ComputationGraph) model;
        if (graph.getConfiguration().getBackpropType() == BackpropType.TruncatedBPTT) {
            return skip("truncated BPTT trains on segments whose score depends on the stored RNN state");
        }
        if (hasAny(graph.getInputMaskArrays()) || hasAny(graph.getLabelMaskArrays())) {
            return skip("minibatches with mask arrays are not scored");
        }
        INDArray[] labels = new INDArray[graph.getNumOutputArrays()];
        for (int i = 0; i < labels.length; i++) {
            Layer output = graph.getOutputLayer(i);
            if (output instanceof FrozenLayerWithBackprop frozen) {
                output = frozen.getInsideLayer();
            }
            if (!(output instanceof IOutputLayer outputLayer)) {
                return skip("the graph's output " + i + " is not an output layer");
            }
            labels[i] = outputLayer.getLabels();
        }
        return new Minibatch(graph.getInputs(), labels);
    }

    private Minibatch skip(String reason) {
        if (warned.add(reason)) {
            log.warn("AverageStatsListener '{}': no minibatch score for the average ({}); the epoch-end evaluation "
                    + "is unaffected", averager.name(), reason);
        }
        return null;
    }

    private double score(Minibatch batch) {
        if (scorer instanceof MultiLayerNetwork mln) {
            return mln.score(new DataSet(batch.features()[0], batch.labels()[0]));
        }
        return ((ComputationGraph) scorer).score(new MultiDataSet(batch.features(), batch.labels()));
    }

    private double evaluate() {
        evaluationData.reset();
        Evaluation evaluation = scorer instanceof MultiLayerNetwork mln ? mln.evaluate(evaluationData)
                : ((ComputationGraph) scorer).evaluate(evaluationData);
        return evaluation.scoreForMetric(metric);
    }

    // ---------------------------------------------------------------- reporting

    /**
     * Creates the sessions this listener writes, measuring the movement of the weights from the given ones (the
     * average and the training weights at the first iteration seen; null if none was seen).
     */
    private void startSessions(Map<String, INDArray> averageBaseline, Map<String, INDArray> trainingBaseline) {
        averageScores = new Session(averageSessionId(), averageBaseline);
        if (evaluationData != null) {
            averageMetric = new Session(averageMetricSessionId(), averageBaseline);
            if (evaluateTrainingWeights) {
                trainingMetric = new Session(trainingMetricSessionId(), trainingBaseline);
            }
        }
    }

    /**
     * One session this listener writes, about the weights the scoring network holds when it reports. The records
     * are written by DL4J's own {@code StatsListener} watching the scoring network, so they are what the UI expects:
     * score, parameter statistics, memory, software and model information. That listener cannot see updates (the
     * scoring network never trains) and would report the scoring network's own learning rates, so both are off
     * there and added here, because DL4J's model page needs them: as the update, how far the weights moved per
     * iteration since this session's previous record (or since the first iteration this listener saw), and the
     * training run's learning rates. Positions are counted in updates of the training network seen by this listener.
     */
    private final class Session {

        private final String id;
        private final StatsListener stats;
        private Map<String, INDArray> previous;
        private long previousPosition;

        private Session(String id, Map<String, INDArray> baseline) {
            this.id = id;
            this.previous = baseline;
            DefaultStatsUpdateConfiguration update = new DefaultStatsUpdateConfiguration.Builder()
                    .reportingFrequency(1)
                    .collectPerformanceStats(false)
                    .collectLearningRates(false)
                    .collectHistogramsGradients(false).collectHistogramsUpdates(false)
                    .collectHistogramsActivations(false)
                    .collectMeanGradients(false).collectMeanUpdates(false).collectMeanActivations(false)
                    .collectStdevGradients(false).collectStdevUpdates(false).collectStdevActivations(false)
                    .collectMeanMagnitudesGradients(false).collectMeanMagnitudesUpdates(false)
                    .collectMeanMagnitudesActivations(false)
                    .build();
            this.stats = new StatsListener(router, new DefaultStatsInitializationConfiguration(true, true, true),
                    update, id, workerId);
        }

        /**
         * Reports the scoring network's weights with this score, under the training network's 0-based iteration
         * index; {@code position} is the number of updates the weights reflect.
         */
        private void report(Model training, double score, int iteration, int epoch, long position) {
            Map<String, INDArray> now = scorer.paramTable(true);
            long span = previous == null ? 0 : position - previousPosition;
            Map<String, Double> movement = new LinkedHashMap<>();
            Map<String, Histogram> histograms = new LinkedHashMap<>();
            for (Map.Entry<String, INDArray> entry : now.entrySet()) {
                INDArray params = entry.getValue();
                INDArray step = span > 0 ? params.sub(previous.get(entry.getKey())).divi(span) : params.mul(0);
                movement.put(entry.getKey(), step.norm1Number().doubleValue() / step.length());
                histograms.put(entry.getKey(), histogram(step));
            }
            previous = copyOf(now);
            previousPosition = position;
            router.complete(id, movement, histograms, learningRates(training));
            if (scorer instanceof MultiLayerNetwork mln) {
                mln.setScore(score);
            } else {
                ((ComputationGraph) scorer).setScore(score);
            }
            stats.iterationDone(scorer, iteration, epoch);
        }
    }

    private static Map<String, INDArray> copyOf(Map<String, INDArray> params) {
        Map<String, INDArray> copy = new LinkedHashMap<>();
        for (Map.Entry<String, INDArray> entry : params.entrySet()) {
            copy.put(entry.getKey(), entry.getValue().dup());
        }
        return copy;
    }

    /** A histogram as DL4J's {@code StatsListener} makes one: ND4J's histogram op over [min, max]. */
    private static Histogram histogram(INDArray values) {
        org.nd4j.linalg.api.ops.impl.transforms.Histogram op =
                new org.nd4j.linalg.api.ops.impl.transforms.Histogram(values, HISTOGRAM_BINS);
        Nd4j.exec(op);
        INDArray bins = op.getOutputArgument(0);
        int[] counts = new int[HISTOGRAM_BINS];
        for (int i = 0; i < counts.length; i++) {
            counts[i] = (int) bins.getDouble(i);
        }
        return new Histogram(values.minNumber().doubleValue(), values.maxNumber().doubleValue(), HISTOGRAM_BINS,
                counts);
    }

    /** The training network's learning rates now, keyed as DL4J's {@code StatsListener} keys them. */
    private static Map<String, Double> learningRates(Model model) {
        Map<String, Double> rates = new LinkedHashMap<>();
        Layer[] layers = model instanceof MultiLayerNetwork mln ? mln.getLayers()
                : ((ComputationGraph) model).getLayers();
        for (int i = 0; i < layers.length; i++) {
            Layer layer = layers[i];
            org.deeplearning4j.nn.conf.layers.Layer conf = layer.conf().getLayer();
            String prefix = model instanceof MultiLayerNetwork ? String.valueOf(i) : conf.getLayerName();
            for (String key : conf.initializer().paramKeys(conf)) {
                double rate = conf.getUpdaterByParam(key).getLearningRate(layer.getIterationCount(),
                        layer.getEpochCount());
                rates.put(prefix + "_" + key, Double.isNaN(rate) ? 0.0 : rate);
            }
        }
        return rates;
    }

    // ---------------------------------------------------------------- checks

    private void checkOrder(Model model) {
        if (evaluationData == null) {
            return;
        }
        Collection<TrainingListener> listeners = model instanceof MultiLayerNetwork mln ? mln.getListeners()
                : ((ComputationGraph) model).getListeners();
        int averagerAt = -1;
        int thisAt = -1;
        int i = 0;
        for (TrainingListener listener : listeners) {
            if (listener == averager) {
                averagerAt = i;
            } else if (listener == this) {
                thisAt = i;
            }
            i++;
        }
        if (averagerAt > thisAt && thisAt >= 0) {
            throw new IllegalStateException("the AverageStatsListener of '" + averager.name() + "' comes before its "
                    + "averager in the network's listeners, so its epoch-end evaluation would miss that epoch's "
                    + "update: add the averager first, e.g. net.setListeners(stats, ema, averageStats) (got: "
                    + "averager at position " + averagerAt + ", this listener at " + thisAt + ")");
        }
    }

    private static boolean hasAny(INDArray[] arrays) {
        if (arrays != null) {
            for (INDArray array : arrays) {
                if (array != null) {
                    return true;
                }
            }
        }
        return false;
    }

    private static boolean isNetwork(Model model) {
        return model instanceof MultiLayerNetwork || model instanceof ComputationGraph;
    }

    private static int iterationCount(Model model) {
        return model instanceof MultiLayerNetwork mln ? mln.getIterationCount()
                : ((ComputationGraph) model).getIterationCount();
    }

    private static int epochCount(Model model) {
        return model instanceof MultiLayerNetwork mln ? mln.getEpochCount()
                : ((ComputationGraph) model).getEpochCount();
    }

    private static String describe(Model model) {
        return model == null ? "a garbage-collected network"
                : model.getClass().getSimpleName() + "@" + Integer.toHexString(System.identityHashCode(model));
    }

    /**
     * Prints the configuration.
     *
     * @return a description of this listener
     */
    @Override
    public String toString() {
        return "AverageStatsListener{averager='" + averager.name() + "', session=" + averageSessionId()
                + ", scoreEvery=" + scoreFrequency + " iteration(s)"
                + (evaluationData == null ? ", no evaluation"
                        : ", " + metricName() + " every " + evaluationFrequency + " epoch(s)"
                                + (evaluateTrainingWeights ? " for the average and the training weights"
                                        : " for the average"))
                + ", router=" + router.target + "}";
    }

    // ---------------------------------------------------------------- timestamps

    /** What a session's next record gets besides what DL4J's listener put in it. */
    private record Completion(Map<String, Double> updateMeanMagnitudes, Map<String, Histogram> updateHistograms,
                              Map<String, Double> learningRates) {
    }

    /**
     * Forwards this listener's records, completed and re-dated. Each record gets the update statistics and learning
     * rates its session prepared ({@link Session}). Every session is dated from the first training event this
     * listener saw, less one millisecond (DL4J's {@code StatsListener} dates the training session from its first
     * {@code iterationDone}, later): DL4J's UI opens the session that started last, which is then the training
     * session. And every update of a session gets a distinct, increasing timestamp: storages key updates by session,
     * worker and timestamp, and a second record in the same millisecond would replace the first.
     */
    private static final class SessionRouter implements StatsStorageRouter {

        private final StatsStorageRouter target;
        private final Map<String, Long> lastUpdate = new HashMap<>();
        private final Map<String, Completion> completions = new HashMap<>();
        private long start = -1;

        private SessionRouter(StatsStorageRouter target) {
            this.target = target;
        }

        private void startIfNew() {
            if (start < 0) {
                start = System.currentTimeMillis() - 1;
            }
        }

        private void complete(String sessionId, Map<String, Double> updateMeanMagnitudes,
                              Map<String, Histogram> updateHistograms, Map<String, Double> learningRates) {
            completions.put(sessionId, new Completion(updateMeanMagnitudes, updateHistograms, learningRates));
        }

        @Override
        public void putStorageMetaData(StorageMetaData storageMetaData) {
            target.putStorageMetaData(storageMetaData);
        }

        @Override
        public void putStorageMetaData(Collection<? extends StorageMetaData> storageMetaData) {
            target.putStorageMetaData(storageMetaData);
        }

        @Override
        public void putStaticInfo(Persistable staticInfo) {
            if (staticInfo instanceof StatsInitializationReport report) {
                startIfNew();
                report.reportIDs(staticInfo.getSessionID(), staticInfo.getTypeID(), staticInfo.getWorkerID(), start);
            }
            target.putStaticInfo(staticInfo);
        }

        @Override
        public void putStaticInfo(Collection<? extends Persistable> staticInfo) {
            for (Persistable p : staticInfo) {
                putStaticInfo(p);
            }
        }

        @Override
        public void putUpdate(Persistable update) {
            if (update instanceof StatsReport report) {
                String key = update.getSessionID() + "\u0000" + update.getWorkerID();
                Long previous = lastUpdate.get(key);
                long time = previous == null ? update.getTimeStamp() : Math.max(update.getTimeStamp(), previous + 1);
                lastUpdate.put(key, time);
                report.reportIDs(update.getSessionID(), update.getTypeID(), update.getWorkerID(), time);
                Completion completion = completions.remove(update.getSessionID());
                if (completion != null) {
                    report.reportMeanMagnitudes(StatsType.Updates, completion.updateMeanMagnitudes());
                    report.reportHistograms(StatsType.Updates, completion.updateHistograms());
                    report.reportLearningRates(completion.learningRates());
                }
            }
            target.putUpdate(update);
        }

        @Override
        public void putUpdate(Collection<? extends Persistable> updates) {
            for (Persistable p : updates) {
                putUpdate(p);
            }
        }
    }

    // ---------------------------------------------------------------- builder

    /**
     * Builds an {@link AverageStatsListener}; every method validates its argument at once. Defaults: the score every
     * {@value AverageStatsListener#DEFAULT_SCORE_FREQUENCY} iterations (or as often as the {@code StatsListener}
     * given to {@link AverageStatsListener#builder(EmaListener, StatsListener)}), no evaluation, metric
     * {@link AverageStatsListener#DEFAULT_METRIC}, every epoch, the average only.
     */
    public static final class Builder {

        private final EmaListener averager;
        private final StatsStorageRouter router;
        private final String trainingSessionId;
        private String workerId;
        private int scoreFrequency = DEFAULT_SCORE_FREQUENCY;
        private DataSetIterator evaluationData;
        private int evaluationFrequency = 1;
        private Evaluation.Metric metric = DEFAULT_METRIC;
        private boolean evaluateTrainingWeights;

        private Builder(EmaListener averager, StatsStorageRouter router, String trainingSessionId) {
            if (averager == null) {
                throw new IllegalArgumentException("averager should be the EmaListener whose average is reported, "
                        + "such as EmaListener.exponential(0.99).build() (got: null)");
            }
            if (router == null) {
                throw new IllegalArgumentException("router should be the StatsStorage (or other "
                        + "StatsStorageRouter) the UI shows, such as new InMemoryStatsStorage() (got: null)");
            }
            if (trainingSessionId == null || trainingSessionId.isBlank()) {
                throw new IllegalArgumentException("trainingSessionId should be the session ID of the network's "
                        + "StatsListener (stats.getSessionID()), which names the averaged sessions (got: "
                        + (trainingSessionId == null ? "null" : "'" + trainingSessionId + "'") + ")");
            }
            this.averager = averager;
            this.router = router;
            this.trainingSessionId = trainingSessionId;
        }

        /**
         * The worker ID of this listener's records. Default: that of the {@code StatsListener} given to the builder,
         * else DL4J's default (the JVM's ID and that of the training thread).
         *
         * @param workerId a non-blank worker ID
         * @return this builder
         * @throws IllegalArgumentException if {@code workerId} is null or blank
         */
        public Builder workerId(String workerId) {
            if (workerId == null || workerId.isBlank()) {
                throw new IllegalArgumentException("workerId should be a non-blank worker ID (got: "
                        + (workerId == null ? "null" : "'" + workerId + "'") + ")");
            }
            this.workerId = workerId;
            return this;
        }

        /**
         * How often the average's minibatch score is reported, by DL4J's rule for {@code StatsListener}: every
         * iteration for 1, else at the 0-based iteration indices {@code n, 2n, ...}, so that its points fall on
         * those of a {@code StatsListener} with the same frequency. Default
         * {@value AverageStatsListener#DEFAULT_SCORE_FREQUENCY}, or the {@code StatsListener}'s frequency. Each
         * report costs a copy of the average and a forward pass on the minibatch.
         *
         * @param n iterations between reports, {@code ≥ 1}
         * @return this builder
         * @throws IllegalArgumentException if {@code n < 1}
         */
        public Builder scoreEveryNIterations(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("iterations between score reports should be >= 1 (got: " + n
                        + ")");
            }
            this.scoreFrequency = n;
            return this;
        }

        /**
         * The data the average (and, if asked, the training weights) is evaluated on at epoch ends, with DL4J's
         * {@code Evaluation} (classification). It is reset before every evaluation. Default: none.
         *
         * @param data a resettable iterator, such as a held-out set
         * @return this builder
         * @throws IllegalArgumentException if {@code data} is null or cannot be reset
         */
        public Builder evaluateOn(DataSetIterator data) {
            if (data == null || !data.resetSupported()) {
                throw new IllegalArgumentException("evaluation data should be a DataSetIterator that can be reset: "
                        + "it is read at every epoch end (got: " + (data == null ? "null"
                                : data.getClass().getSimpleName() + " without reset support") + ")");
            }
            this.evaluationData = data;
            return this;
        }

        /**
         * Evaluates at the end of every {@code n}-th epoch, counted from the first epoch end this listener sees.
         * Default 1.
         *
         * @param n epochs between evaluations, {@code ≥ 1}
         * @return this builder
         * @throws IllegalArgumentException if {@code n < 1}
         */
        public Builder evaluateEveryNEpochs(int n) {
            if (n < 1) {
                throw new IllegalArgumentException("epochs between evaluations should be >= 1 (got: " + n + ")");
            }
            this.evaluationFrequency = n;
            return this;
        }

        /**
         * The metric reported from the epoch-end evaluation, which also names its sessions. Default
         * {@link Evaluation.Metric#ACCURACY}; precision, recall and F1 are macro-averaged over the classes, as
         * {@code Evaluation.scoreForMetric} does.
         *
         * @param metric the metric
         * @return this builder
         * @throws IllegalArgumentException if {@code metric} is null
         */
        public Builder metric(Evaluation.Metric metric) {
            if (metric == null) {
                throw new IllegalArgumentException("metric should be an Evaluation.Metric such as ACCURACY (got: "
                        + "null)");
            }
            this.metric = metric;
            return this;
        }

        /**
         * Also evaluates the training weights on the evaluation data at the same epoch ends, into the session
         * {@code <training session>-<metric>}, so that the UI shows both. Default false. With several averagers on one
         * network, turn it on for one of their listeners only: each would write the same session.
         *
         * @param evaluate true to evaluate the training weights too
         * @return this builder
         */
        public Builder evaluateTrainingWeights(boolean evaluate) {
            this.evaluateTrainingWeights = evaluate;
            return this;
        }

        /**
         * @return the listener
         * @throws IllegalArgumentException if the training weights are to be evaluated without evaluation data
         */
        public AverageStatsListener build() {
            if (evaluateTrainingWeights && evaluationData == null) {
                throw new IllegalArgumentException("evaluateTrainingWeights(true) needs evaluation data: add "
                        + "evaluateOn(iterator) (got: no evaluation data)");
            }
            return new AverageStatsListener(this);
        }
    }
}
