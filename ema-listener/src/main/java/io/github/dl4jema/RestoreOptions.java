package io.github.dl4jema;

/**
 * How {@link EmaListener#restore(java.io.File, org.deeplearning4j.nn.api.Model, RestoreOptions)} reads a saved
 * averaging state. Immutable; start from {@link #defaults()} or {@link #named(String)}.
 *
 * <pre>{@code
 * EmaListener sma = EmaListener.restore(zip, net, RestoreOptions.named("simple"));
 * EmaListener mine = EmaListener.restore(zip, net, RestoreOptions.named("custom").rule(myRule));
 * EmaListener moved = EmaListener.restore(zip, otherCheckpoint, RestoreOptions.defaults().acceptOtherWeights());
 * }</pre>
 */
public final class RestoreOptions {

    private static final RestoreOptions DEFAULTS = new RestoreOptions(null, null, false);

    private final String name;
    private final AveragingRule rule;
    private final boolean acceptOtherWeights;

    private RestoreOptions(String name, AveragingRule rule, boolean acceptOtherWeights) {
        this.name = name;
        this.rule = rule;
        this.acceptOtherWeights = acceptOtherWeights;
    }

    /**
     * The defaults: the only state in the file (a file with several needs a name), its saved rule, and the
     * strict check that the network holds exactly the weights the state was saved with.
     *
     * @return the default options
     */
    public static RestoreOptions defaults() {
        return DEFAULTS;
    }

    /**
     * The state saved under {@code name} ({@link EmaListener.Builder#name(String)}).
     *
     * @param name the averager's name
     * @return options reading that state
     * @throws IllegalArgumentException if {@code name} is not a valid averager name
     */
    public static RestoreOptions named(String name) {
        return new RestoreOptions(EmaConfig.checkName(name), null, false);
    }

    /**
     * The custom rule of a state saved with one (a custom rule is saved by its description only).
     *
     * @param customRule the rule the averager was built with
     * @return new options
     * @throws IllegalArgumentException if {@code customRule} is null
     */
    public RestoreOptions rule(AveragingRule customRule) {
        if (customRule == null) {
            throw new IllegalArgumentException("rule should be the custom AveragingRule the state was saved with "
                    + "(got: null)");
        }
        return new RestoreOptions(name, customRule, acceptOtherWeights);
    }

    /**
     * Attach the state to a network whose weights differ from those it was saved with, on purpose: for example to
     * carry an average over to another checkpoint of the same architecture. The layout (keys, shapes, data type)
     * must still match. Without this, such a restore is refused, because it would silently average two unrelated
     * runs.
     *
     * @return new options
     */
    public RestoreOptions acceptOtherWeights() {
        return new RestoreOptions(name, rule, true);
    }

    String name() {
        return name;
    }

    AveragingRule rule() {
        return rule;
    }

    boolean acceptsOtherWeights() {
        return acceptOtherWeights;
    }

    @Override
    public String toString() {
        return "RestoreOptions{name=" + (name == null ? "(the only one)" : name) + ", customRule=" + rule
                + ", acceptOtherWeights=" + acceptOtherWeights + "}";
    }
}
