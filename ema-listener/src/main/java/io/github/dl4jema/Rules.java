package io.github.dl4jema;

/** The named rules behind {@link AveragingRule}'s factories; records and enums so that they print and serialize. */
final class Rules {

    private Rules() {
    }

    static double checkDecay(double decay) {
        if (!(decay >= 0.0 && decay <= 1.0)) {
            throw new IllegalArgumentException("decay should be in [0, 1] (got: " + decay
                    + "); typical values are 0.99 to 0.9999, closer to 1 for more updates");
        }
        return decay;
    }

    enum Seed implements AveragingRule {
        INSTANCE;

        @Override
        public double decay(long averaged, long step) {
            return (double) step / (step + 1);
        }

        @Override
        public String toString() {
            return "seed(e/(e+1))";
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
