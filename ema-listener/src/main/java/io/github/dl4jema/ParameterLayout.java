package io.github.dl4jema;

import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.api.Model;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * What a stored average belongs to: the network's parameter keys in {@code paramTable()} order with their shapes (for
 * a SameDiff graph: the selected variables by name, in the order they are laid end to end), and the parameters' data
 * type. A state is only ever restored into a network of the same layout, and {@link #differenceFrom(ParameterLayout)}
 * says what differs when it is not.
 *
 * @param shapes the parameter shapes by key, in the order of the flat layout ({@code paramTable()} order for a network)
 * @param type   the data type of the parameters
 */
record ParameterLayout(Map<String, List<Long>> shapes, DataType type) {

    /** @return the layout of {@code model}'s parameters */
    static ParameterLayout of(Model model) {
        return of(model.paramTable(), model.params().dataType());
    }

    /**
     * @param arrays the parameters by key, in the order of the flat layout
     * @param type   their data type
     * @return the layout of {@code arrays}
     */
    static ParameterLayout of(Map<String, INDArray> arrays, DataType type) {
        Map<String, List<Long>> shapes = new LinkedHashMap<>();
        for (Map.Entry<String, INDArray> e : arrays.entrySet()) {
            List<Long> shape = new ArrayList<>();
            for (long d : e.getValue().shape()) {
                shape.add(d);
            }
            shapes.put(e.getKey(), List.copyOf(shape));
        }
        return new ParameterLayout(java.util.Collections.unmodifiableMap(shapes), type);
    }

    /** @return the number of parameters */
    long length() {
        long n = 0;
        for (List<Long> shape : shapes.values()) {
            long size = 1;
            for (long d : shape) {
                size *= d;
            }
            n += size;
        }
        return n;
    }

    /**
     * What differs between this layout (the network's) and {@code saved} (a state's), or null if nothing does.
     */
    String differenceFrom(ParameterLayout saved) {
        List<String> differences = new ArrayList<>();
        if (type != saved.type) {
            differences.add("parameter type " + type + " here, " + saved.type + " in the state");
        }
        for (Map.Entry<String, List<Long>> e : saved.shapes.entrySet()) {
            List<Long> here = shapes.get(e.getKey());
            if (here == null) {
                differences.add("key '" + e.getKey() + "' missing here");
            } else if (!here.equals(e.getValue())) {
                differences.add("key '" + e.getKey() + "' has shape " + here + " here, " + e.getValue()
                        + " in the state");
            }
        }
        for (String key : shapes.keySet()) {
            if (!saved.shapes.containsKey(key)) {
                differences.add("key '" + key + "' not in the state");
            }
        }
        if (differences.isEmpty() && !new ArrayList<>(shapes.keySet()).equals(new ArrayList<>(saved.shapes.keySet()))) {
            differences.add("the keys are in another order: " + shapes.keySet() + " here, " + saved.shapes.keySet()
                    + " in the state");
        }
        return differences.isEmpty() ? null : String.join("; ", differences.subList(0, Math.min(5,
                differences.size()))) + (differences.size() > 5 ? "; and " + (differences.size() - 5) + " more" : "");
    }

    /** @return the layout as {@code key=shape} lines, for the saved state */
    String encodeShapes() {
        StringBuilder out = new StringBuilder();
        for (Map.Entry<String, List<Long>> e : shapes.entrySet()) {
            if (out.length() > 0) {
                out.append(';');
            }
            out.append(e.getKey()).append('=');
            for (int i = 0; i < e.getValue().size(); i++) {
                out.append(i == 0 ? "" : "x").append(e.getValue().get(i));
            }
        }
        return out.toString();
    }

    static ParameterLayout decode(String encodedShapes, DataType type) {
        Map<String, List<Long>> shapes = new LinkedHashMap<>();
        if (!encodedShapes.isEmpty()) {
            for (String entry : encodedShapes.split(";")) {
                int eq = entry.lastIndexOf('=');
                List<Long> shape = new ArrayList<>();
                String dims = entry.substring(eq + 1);
                if (!dims.isEmpty()) {
                    for (String d : dims.split("x")) {
                        shape.add(Long.parseLong(d));
                    }
                }
                shapes.put(entry.substring(0, eq), List.copyOf(shape));
            }
        }
        return new ParameterLayout(java.util.Collections.unmodifiableMap(shapes), type);
    }

    /**
     * A SHA-256 digest of the values of {@code params} (their ND4J binary form, one array after the other), so that a
     * state can tell the weights it was saved with from any others. Streams through the digest; costs one read of the
     * parameters.
     */
    static String digest(INDArray... params) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            try (DataOutputStream out = new DataOutputStream(new DigestOutputStream(OutputStream.nullOutputStream(),
                    sha))) {
                for (INDArray array : params) {
                    Nd4j.write(array.reshape(array.length()), out);
                }
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public String toString() {
        return shapes.size() + " keys, " + length() + " " + type + " parameters";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ParameterLayout l && type == l.type && shapes.equals(l.shapes)
                && Arrays.equals(shapes.keySet().toArray(), l.shapes.keySet().toArray());
    }

    @Override
    public int hashCode() {
        return shapes.hashCode() * 31 + type.hashCode();
    }
}
