package io.github.dl4jema;

/**
 * The named rules behind {@link AveragingRule}'s factories, records and enums so that they print and compare, and
 * the one place where a decay is validated (the builder, the rules and the Arbiter spaces all call
 * {@link AveragingRule#checkDecay(double)}, which lands here).
 */
final class Rules {

    private Rules() {
    }

    static double checkDecay(double decay) {
        if (!(decay > 0.0 && decay < 1.0)) {
            throw new IllegalArgumentException("decay should be in (0, 1) (got: " + decay + "); typical values are "
                    + "0.99 to 0.9999, closer to 1 for more updates (a decay of 1 never moves the average, 0 "
                    + "just copies the weights)");
        }
        return decay;
    }

    /**
     * The name under which a built-in rule is saved ({@code "seed"}, {@code "simple"},
     * {@code "exponential:0.99"}, {@code "exponentialWithWarmup:0.999"}), or null for a custom rule, which is saved
     * by its {@code toString()} and must be supplied again at restore.
     */
    static String savedName(AveragingRule rule) {
        if (rule instanceof Seed) {
            return "seed";
        }
        if (rule instanceof Simple) {
            return "simple";
        }
        if (rule instanceof Exponential e) {
            return "exponential:" + e.decay();
        }
        if (rule instanceof ExponentialWithWarmup w) {
            return "exponentialWithWarmup:" + w.decay();
        }
        return null;
    }

    /** The built-in rule saved as {@code name} by {@link #savedName}, or null if the name is not one. */
    static AveragingRule fromSavedName(String name) {
        if ("seed".equals(name)) {
            return Seed.INSTANCE;
        }
        if ("simple".equals(name)) {
            return Simple.INSTANCE;
        }
        int colon = name == null ? -1 : name.indexOf(':');
        if (colon < 0) {
            return null;
        }
        double decay;
        try {
            decay = Double.parseDouble(name.substring(colon + 1));
        } catch (NumberFormatException e) {
            return null;
        }
        return switch (name.substring(0, colon)) {
            case "exponential" -> new Exponential(checkDecay(decay));
            case "exponentialWithWarmup" -> new ExponentialWithWarmup(checkDecay(decay));
            default -> null;
        };
    }

    enum Seed implements AveragingRule {
        INSTANCE;

        /** The k-th snapshot ({@code k = averaged + 1}) is blended with {@code ρ = k/(k+1)}. */
        @Override
        public double decay(long averaged, long step) {
            return (averaged + 1.0) / (averaged + 2.0);
        }

        @Override
        public String toString() {
            return "seed(k/(k+1))";
        }
    }

    enum Simple implements AveragingRule {
        INSTANCE;

        @Override
        public double decay(long averaged, long step) {
            return (double) averaged / (averaged + 1);
        }

        @Override
        public String toString() {
            return "simple(n/(n+1))";
        }
    }

    record Exponential(double decay) implements AveragingRule {
        @Override
        public double decay(long averaged, long step) {
            return decay;
        }

        @Override
        public String toString() {
            return "exponential(decay=" + decay + ")";
        }
    }

    record ExponentialWithWarmup(double decay) implements AveragingRule {
        @Override
        public double decay(long averaged, long step) {
            return Math.min(decay, (1.0 + averaged) / (10.0 + averaged));
        }

        @Override
        public String toString() {
            return "exponentialWithWarmup(decay=" + decay + ")";
        }
    }
}
