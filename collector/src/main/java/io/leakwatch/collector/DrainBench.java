package io.leakwatch.collector;

import io.leakwatch.collector.proc.CommandRedaction;
import io.leakwatch.collector.proc.ProcessNames;
import io.leakwatch.collector.ring.RingFile;
import io.leakwatch.collector.ring.RingFormatException;
import io.leakwatch.collector.ring.RingReader;
import io.leakwatch.collector.symbols.Symbolizer;
import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.StackDefinition;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * The collector's drain alone on a recorded flood (for {@code ./leakwatch bench drain}): a
 * program's exact-mode ring, kept whole, is read again and again through a fresh {@link
 * TrackedProcess} (parsing, pairing with the collector's default grace, events and stack ids, no
 * Kafka), beside a pass of the ring reader alone (parsing only) as the baseline. Under {@code run
 * --exact} a program that outruns the collector waits for it, so the drain's time per record is
 * what such a program pays beyond the shim.
 */
public final class DrainBench {
  private DrainBench() {}

  private static volatile long consumed;

  /** What a round reads from a ring a quarter full: the default batch, ten times (PublishRound). */
  private static final int FLOOD_ROUND =
      CollectorConfig.defaults("unused:9092").maxBatchEvents() * PublishRound.FLOOD_BATCHES;

  /**
   * One pass over the ring: records read, events that outlived the pairing, events lost before the
   * collector (the process's own count, as the collector publishes it), nanoseconds.
   */
  public record Pass(long records, long survivors, long lost, long nanos) {
    public double nsPerRecord() {
      return records == 0 ? 0 : (double) nanos / records;
    }
  }

  /**
   * Runs {@code command} with the shim preloaded in exact mode into {@code runDir}, holding the run
   * directory's collector lock so its ring is kept at exit; returns the ring.
   */
  public static Path record(Path shim, Path runDir, long ringBytes, List<String> command)
      throws IOException, InterruptedException {
    Files.createDirectories(runDir);
    try (RunDirLock lock = RunDirLock.hold(runDir)) {
      ProcessBuilder pb =
          new ProcessBuilder(command)
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.DISCARD);
      Map<String, String> env = pb.environment();
      env.put("LD_PRELOAD", shim.toString());
      env.put("LEAKWATCH_RUN_DIR", runDir.toString());
      env.put("LEAKWATCH_SAMPLE_BYTES", "0");
      env.put("LEAKWATCH_RING_BYTES", Long.toString(ringBytes));
      Process p = pb.start();
      if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IllegalStateException("failed: " + String.join(" ", command));
      }
    }
    try (DirectoryStream<Path> d = Files.newDirectoryStream(runDir, "*.ring")) {
      for (Path ring : d) return ring;
    }
    throw new IllegalStateException("no ring left in " + runDir);
  }

  /** One pass of the collector's drain, as a round reads a flood (ten batches at a time). */
  public static Pass drain(Path ring) throws IOException, RingFormatException {
    try (RingFile r = RingFile.open(ring)) {
      TrackedProcess tp =
          new TrackedProcess(
              r,
              "bench",
              ProcessNames.DEFAULT,
              CommandRedaction.DEFAULT,
              CollectorConfig.DEFAULT_PAIR_GRACE_MS,
              new LongAdder(),
              null);
      Symbolizer symbolizer = new Symbolizer();
      long start = System.nanoTime(), records = 0, survivors = 0;
      int n;
      do {
        List<AllocationEvent> events = new ArrayList<>();
        n = tp.drain(FLOOD_ROUND, symbolizer, events, new ArrayList<StackDefinition>());
        records += n;
        survivors += events.size();
      } while (n > 0);
      return new Pass(records, survivors, tp.lostEvents(), System.nanoTime() - start);
    }
  }

  /** One pass of the ring reader alone: the parsing every drain does first. */
  public static Pass read(Path ring) throws IOException, RingFormatException {
    try (RingFile r = RingFile.open(ring)) {
      RingReader reader = new RingReader(r);
      long[] sink = new long[1];
      long start = System.nanoTime(), records = 0;
      int n;
      do {
        n = reader.poll(FLOOD_ROUND, rec -> sink[0] += rec.seq());
        records += n;
      } while (n > 0);
      consumed = sink[0]; // the records are used: the reading cannot be optimized away
      return new Pass(records, 0, 0, System.nanoTime() - start);
    }
  }
}
