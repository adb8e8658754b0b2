package io.leakwatch.cli;

import io.leakwatch.collector.Collector;
import io.leakwatch.collector.CollectorConfig;
import io.leakwatch.kafka.EmbeddedKafka;
import io.leakwatch.streams.StreamsApp;
import io.leakwatch.streams.StreamsAppConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.rocksdb.RocksDB;

/**
 * Local mode: a real KRaft broker, the streams-app and a collector, all in this JVM on loopback,
 * with the rings in a private directory. The same components as a fleet, minus the network.
 */
final class LocalStack implements AutoCloseable {
  final EmbeddedKafka kafka;
  final StreamsApp streams;
  final Collector collector;
  final Path runDir;

  /**
   * A private run directory on tmpfs (/dev/shm), where rings live in production: on a disk file
   * system (/tmp is ext4 on many hosts) every first write to a ring page is a fault that marks it
   * for writeback, and the kernel writes the ring to disk. Under {@code fallback} where there is no
   * writable /dev/shm.
   */
  static Path privateRunDir(Path fallback) throws IOException {
    Path shm = Path.of("/dev/shm");
    return Files.isDirectory(shm) && Files.isWritable(shm)
        ? Files.createTempDirectory(shm, "leakwatch-run-")
        : Files.createDirectories(fallback.resolve("run"));
  }

  final Path workDir;
  final String host;

  private LocalStack(
      EmbeddedKafka kafka, StreamsApp streams, Collector collector, Path runDir, Path workDir) {
    this.kafka = kafka;
    this.streams = streams;
    this.collector = collector;
    this.runDir = runDir;
    this.workDir = workDir;
    this.host = CollectorConfig.localHostName();
  }

  /**
   * What a local stack is started with.
   *
   * @param httpPort the streams-app's port for /metrics, the report API and pages; -1 for none, 0
   *     for any free one
   * @param collectorPort the collector's own /metrics on 127.0.0.1, 0 for none
   * @param historyIntervalMs how often the pages' history takes a point
   * @param webConfig the streams-app's web configuration (TLS, basic auth), null for plain HTTP
   */
  record Options(
      int httpPort, int collectorPort, long historyIntervalMs, Path webConfig, long pairGraceMs) {
    /**
     * No HTTP at all (run, tests that read the stores); local sessions are short: a history point
     * every 2 s.
     */
    static Options headless() {
      return new Options(-1, 0, 2_000, null, CollectorConfig.DEFAULT_PAIR_GRACE_MS);
    }

    Options withHttpPort(int port) {
      return new Options(port, collectorPort, historyIntervalMs, webConfig, pairGraceMs);
    }

    Options withCollectorPort(int port) {
      return new Options(httpPort, port, historyIntervalMs, webConfig, pairGraceMs);
    }

    Options withPairGraceMs(long ms) {
      return new Options(httpPort, collectorPort, historyIntervalMs, webConfig, ms);
    }

    Options withWebConfig(Path file) {
      return new Options(httpPort, collectorPort, historyIntervalMs, file, pairGraceMs);
    }

    Options withHistoryIntervalMs(long ms) {
      return new Options(httpPort, collectorPort, ms, webConfig, pairGraceMs);
    }
  }

  static LocalStack start(Options options) {
    int httpPort = options.httpPort(), collectorPort = options.collectorPort();
    long historyIntervalMs = options.historyIntervalMs();
    Path work;
    Path run;
    try {
      work = Files.createTempDirectory("leakwatch-local-");
      run = privateRunDir(work);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    // RocksDB's native library is unpacked from its jar on first use (0.2 s here), which the
    // streams-app's first task would wait for: done beside the broker's start instead.
    Thread rocksDb =
        new Thread(
            () -> {
              try {
                RocksDB.loadLibrary();
              } catch (RuntimeException | LinkageError e) {
                // the streams-app's first store says what is wrong, in its own words
              }
            },
            "leakwatch-rocksdb-load");
    rocksDb.setDaemon(true);
    rocksDb.start();
    EmbeddedKafka kafka = EmbeddedKafka.start(work.resolve("kafka"), 0, false, Map.of());
    StreamsApp streams = null;
    // The broker makes its consumer-offsets and transaction-state topics at the first request for a
    // coordinator; the streams-app's group join and its transactional producer would each wait for
    // one in turn. Asked now, they are made while the streams-app creates its topics.
    Admin warm = null;
    try {
      warm = Admin.create(Map.<String, Object>of("bootstrap.servers", kafka.bootstrapServers()));
      warm.describeConsumerGroups(List.of("leakwatch-streams"));
      warm.describeTransactions(List.of("leakwatch-local-warm-up"));
      StreamsAppConfig sc =
          StreamsAppConfig.defaults(kafka.bootstrapServers(), work.resolve("streams"))
              .withHttpPort(httpPort)
              .withHistoryIntervalMs(historyIntervalMs)
              // Local sessions last minutes, not days: 10-second trend windows give a leak score
              // after 30 s.
              .withTrendWindowMs(10_000)
              .withPartitions(1)
              .withWebConfig(options.webConfig());
      streams = new StreamsApp(sc).start(Duration.ofMinutes(2));
      Collector collector =
          new Collector(
                  CollectorConfig.defaults(kafka.bootstrapServers())
                      .withPairGraceMs(options.pairGraceMs())
                      .withRunDir(run)
                      .withHttpPort(collectorPort)
                      .withCounterIntervalMs(2000))
              .start();
      return new LocalStack(kafka, streams, collector, run, work);
    } catch (RuntimeException e) {
      if (streams != null) streams.close();
      kafka.close();
      throw e;
    } finally {
      if (warm != null) warm.close(Duration.ZERO); // its requests were only a nudge: not awaited
    }
  }

  @Override
  public void close() {
    collector.close();
    streams.close();
    kafka.close();
    delete(runDir);
    delete(workDir);
  }

  /**
   * Removes a temporary directory tree; what cannot be removed is left (harmless). Something may
   * still be writing in it (a browser's helper processes, a program's child that outlived it): a
   * file that vanishes while the tree is walked is not an error.
   */
  static void delete(Path dir) {
    try (Stream<Path> walk = Files.walk(dir)) {
      walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException | UncheckedIOException ignored) {
      // temporary files left behind are harmless
    }
  }
}
