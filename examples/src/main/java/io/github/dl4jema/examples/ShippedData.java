package io.github.dl4jema.examples;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;
import org.datavec.api.records.reader.impl.csv.CSVRecordReader;
import org.datavec.api.split.InputStreamInputSplit;
import org.datavec.api.writable.Writable;

/**
 * Reads the CSV files shipped in {@code src/main/resources/data/} from the classpath with DataVec's
 * {@code CSVRecordReader}. An {@code InputStreamInputSplit} lets DataVec read a classpath resource, decompressed
 * first when it is gzipped (DataVec's file splits would read the compressed bytes as text).
 */
final class ShippedData {

    private ShippedData() {
    }

    /**
     * All records of a shipped CSV file.
     *
     * @param resource    the classpath resource, such as {@code /data/iris.csv}; gzip-decompressed if it ends in .gz
     * @param skipLines   header lines to skip
     * @return the records, in file order
     * @throws UncheckedIOException if the resource is missing or unreadable
     */
    static List<List<Writable>> records(String resource, int skipLines) {
        List<List<Writable>> records = new ArrayList<>();
        try (InputStream raw = ShippedData.class.getResourceAsStream(resource)) {
            if (raw == null) {
                throw new IOException("resource " + resource + " is not on the classpath (shipped by examples)");
            }
            InputStream in = resource.endsWith(".gz") ? new GZIPInputStream(raw) : raw;
            try (CSVRecordReader reader = new CSVRecordReader(skipLines, ',')) {
                reader.initialize(new InputStreamInputSplit(in));
                while (reader.hasNext()) {
                    records.add(reader.next());
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + resource, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while reading " + resource, e);
        }
        return records;
    }
}
