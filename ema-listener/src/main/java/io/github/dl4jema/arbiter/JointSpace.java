package io.github.dl4jema.arbiter;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.deeplearning4j.arbiter.optimize.api.ParameterSpace;

/**
 * A network space and an {@link AveragingSpace} searched together: the leaves of both share Arbiter's flat vector,
 * and the value is the network's configuration alone, so that Arbiter's task creators accept it. Made by
 * {@link AveragingSpace#alongside(ParameterSpace)}.
 *
 * @param <T> the network configuration type
 */
final class JointSpace<T> implements ParameterSpace<T> {

    private final ParameterSpace<T> network;
    private final AveragingSpace averaging;

    JointSpace(ParameterSpace<T> network, AveragingSpace averaging) {
        this.network = network;
        this.averaging = averaging;
    }

    @Override
    public T getValue(double[] parameterValues) {
        return network.getValue(parameterValues);
    }

    @Override
    public int numParameters() {
        int n = 0;
        for (ParameterSpace<?> leaf : collectLeaves()) {
            n += leaf.numParameters();
        }
        return n;
    }

    /** The unique leaves (by identity, as Arbiter counts them) of the network space, then the averaging space. */
    @Override
    public List<ParameterSpace> collectLeaves() {
        Set<ParameterSpace> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        List<ParameterSpace> leaves = new ArrayList<>();
        for (ParameterSpace leaf : network.collectLeaves()) {
            if (seen.add(leaf)) {
                leaves.add(leaf);
            }
        }
        for (ParameterSpace leaf : averaging.collectLeaves()) {
            if (seen.add(leaf)) {
                leaves.add(leaf);
            }
        }
        return leaves;
    }

    @Override
    public Map<String, ParameterSpace> getNestedSpaces() {
        Map<String, ParameterSpace> nested = new LinkedHashMap<>();
        nested.put("network", network);
        nested.put("averaging", averaging);
        return nested;
    }

    @Override
    public boolean isLeaf() {
        return false;
    }

    @Override
    public void setIndices(int... indices) {
        throw new UnsupportedOperationException("a joint search space is not a leaf: Arbiter sets the indices of "
                + "its leaves");
    }

    @Override
    public String toString() {
        return "JointSpace(network=" + network + ", averaging=" + averaging + ")";
    }
}
