package io.leakwatch.streams;

import io.leakwatch.streams.topology.LeakTopology;
import io.leakwatch.streams.topology.TopologyOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.streams.StreamsConfig;

/**
 * @param kafka client settings (bootstrap.servers, TLS, SASL...) passed to every client
 * @param httpBind address of /metrics and the report API (127.0.0.1 unless configured otherwise)
 * @param httpPort 0 for any free port
 * @param partitions partitions of the leakwatch topics when this app creates them
 * @param historyIntervalMs how often the pages' history (sparklines, growth) takes a point; every
 *     sixth point also snapshots each process's top stacks for the diff
 * @param exitRetentionMs how long exited processes and their exit reports are kept (a week)
 * @param trendWindowMs one window of the stacks' trends behind the leak score (12 windows are kept)
 * @param staleAfterMs a live process silent this long (no events, no counters: its host is gone) is
 *     retired as gone, its exit report kept (a day)
 */
public record StreamsAppConfig(
    Map<String, Object> kafka,
    String applicationId,
    Path stateDir,
    String httpBind,
    int httpPort,
    int threads,
    int partitions,
    short replication,
    int topK,
    LeakTopology.StoreKind storeKind,
    long historyIntervalMs,
    long trendWindowMs,
    long exitRetentionMs,
    long staleAfterMs,
    Path webConfig) {

  public static StreamsAppConfig defaults(String bootstrap, Path stateDir) {
    return new StreamsAppConfig(
        Map.of("bootstrap.servers", bootstrap),
        "leakwatch-streams",
        stateDir,
        "127.0.0.1",
        8080,
        1,
        4,
        (short) -1,
        20,
        LeakTopology.StoreKind.ROCKSDB,
        10_000,
        TopologyOptions.DEFAULT_TREND_WINDOW_MS,
        TopologyOptions.DEFAULT_EXIT_RETENTION_MS,
        TopologyOptions.DEFAULT_STALE_AFTER_MS,
        null);
  }

  public StreamsAppConfig withHttpPort(int port) {
    return new StreamsAppConfig(
        kafka,
        applicationId,
        stateDir,
        httpBind,
        port,
        threads,
        partitions,
        replication,
        topK,
        storeKind,
        historyIntervalMs,
        trendWindowMs,
        exitRetentionMs,
        staleAfterMs,
        webConfig);
  }

  public StreamsAppConfig withHttpBind(String bind) {
    return new StreamsAppConfig(
        kafka,
        applicationId,
        stateDir,
        bind,
        httpPort,
        threads,
        partitions,
        replication,
        topK,
        storeKind,
        historyIntervalMs,
        trendWindowMs,
        exitRetentionMs,
        staleAfterMs,
        webConfig);
  }

  /** Kafka client settings on top of the current ones (TLS, SASL, tuning). */
  public StreamsAppConfig withKafka(Map<String, ?> settings) {
    Map<String, Object> k = new LinkedHashMap<>(kafka);
    k.putAll(settings);
    return new StreamsAppConfig(
        Map.copyOf(k),
        applicationId,
        stateDir,
        httpBind,
        httpPort,
        threads,
        partitions,
        replication,
        topK,
        storeKind,
        historyIntervalMs,
        trendWindowMs,
        exitRetentionMs,
        staleAfterMs,
        webConfig);
  }

  /**
   * Kafka client settings from a Java properties file, Kafka's own convention for client configs
   * ({@code --command-config}): security.protocol, sasl.*, ssl.* and any tuning pass through as
   * they are.
   */
  public static Map<String, Object> kafkaSettings(Path propertiesFile) {
    Properties p = new Properties();
    try (var in = Files.newBufferedReader(propertiesFile)) {
      p.load(in);
    } catch (IOException | IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "cannot read Kafka settings " + propertiesFile + ": " + e.getMessage(), e);
    }
    Map<String, Object> out = new LinkedHashMap<>();
    for (String name : p.stringPropertyNames()) out.put(name, p.getProperty(name));
    return out;
  }

  /**
   * Replication of the topics this app creates and of its changelogs; the default, -1, is the
   * cluster's default.replication.factor. A {@code replication.factor} in the Kafka settings wins.
   */
  public StreamsAppConfig withReplication(short r) {
    return new StreamsAppConfig(
        kafka,
        applicationId,
        stateDir,
        httpBind,
        httpPort,
        threads,
        partitions,
        r,
        topK,
        storeKind,
        historyIntervalMs,
        trendWindowMs,
        exitRetentionMs,
        staleAfterMs,
        webConfig);
  }

  /**
   * The replication to create topics with: the user's replication.factor, else {@link
   * #replication()}.
   */
  public short effectiveReplication() {
    Object r = kafka.get(StreamsConfig.REPLICATION_FACTOR_CONFIG);
    if (r == null) return replication;
    try {
      return Short.parseShort(r.toString().trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("replication.factor must be a number, not " + r);
    }
  }

  public StreamsAppConfig withHistoryIntervalMs(long ms) {
    return new StreamsAppConfig(
        kafka,
        applicationId,
        stateDir,
        httpBind,
        httpPort,
        threads,
        partitions,
        replication,
        topK,
        storeKind,
        ms,
        trendWindowMs,
        exitRetentionMs,
        staleAfterMs,
        webConfig);
  }

  public StreamsAppConfig withTrendWindowMs(long ms) {
    return new StreamsAppConfig(
        kafka,
        applicationId,
        stateDir,
        httpBind,
        httpPort,
        threads,
        partitions,
        replication,
        topK,
        storeKind,
        historyIntervalMs,
        ms,
        exitRetentionMs,
        staleAfterMs,
        webConfig);
  }

  public StreamsAppConfig withExitRetentionMs(long ms) {
    return new StreamsAppConfig(
        kafka,
        applicationId,
        stateDir,
        httpBind,
        httpPort,
        threads,
        partitions,
        replication,
        topK,
        storeKind,
        historyIntervalMs,
        trendWindowMs,
        ms,
        staleAfterMs,
        webConfig);
  }

  public StreamsAppConfig withStoreKind(LeakTopology.StoreKind k) {
    return new StreamsAppConfig(
        kafka,
        applicationId,
        stateDir,
        httpBind,
        httpPort,
        threads,
        partitions,
        replication,
        topK,
        k,
        historyIntervalMs,
        trendWindowMs,
        exitRetentionMs,
        staleAfterMs,
        webConfig);
  }

  public StreamsAppConfig withThreads(int n) {
    return new StreamsAppConfig(
        kafka,
        applicationId,
        stateDir,
        httpBind,
        httpPort,
        n,
        partitions,
        replication,
        topK,
        storeKind,
        historyIntervalMs,
        trendWindowMs,
        exitRetentionMs,
        staleAfterMs,
        webConfig);
  }

  /**
   * Partitions of the leakwatch topics when this app creates them (existing topics keep theirs).
   */
  public StreamsAppConfig withPartitions(int n) {
    return new StreamsAppConfig(
        kafka,
        applicationId,
        stateDir,
        httpBind,
        httpPort,
        threads,
        n,
        replication,
        topK,
        storeKind,
        historyIntervalMs,
        trendWindowMs,
        exitRetentionMs,
        staleAfterMs,
        webConfig);
  }

  public StreamsAppConfig withApplicationId(String id) {
    return new StreamsAppConfig(
        kafka,
        id,
        stateDir,
        httpBind,
        httpPort,
        threads,
        partitions,
        replication,
        topK,
        storeKind,
        historyIntervalMs,
        trendWindowMs,
        exitRetentionMs,
        staleAfterMs,
        webConfig);
  }

  public StreamsAppConfig withStateDir(Path dir) {
    return new StreamsAppConfig(
        kafka,
        applicationId,
        dir,
        httpBind,
        httpPort,
        threads,
        partitions,
        replication,
        topK,
        storeKind,
        historyIntervalMs,
        trendWindowMs,
        exitRetentionMs,
        staleAfterMs,
        webConfig);
  }

  /**
   * @param file the web configuration of the HTTP server (TLS, basic auth, roles; see {@code
   *     io.leakwatch.web.WebConfig}), null for plain HTTP without authentication
   */
  public StreamsAppConfig withWebConfig(Path file) {
    return new StreamsAppConfig(
        kafka,
        applicationId,
        stateDir,
        httpBind,
        httpPort,
        threads,
        partitions,
        replication,
        topK,
        storeKind,
        historyIntervalMs,
        trendWindowMs,
        exitRetentionMs,
        staleAfterMs,
        file);
  }

  public StreamsAppConfig withStaleAfterMs(long ms) {
    return new StreamsAppConfig(
        kafka,
        applicationId,
        stateDir,
        httpBind,
        httpPort,
        threads,
        partitions,
        replication,
        topK,
        storeKind,
        historyIntervalMs,
        trendWindowMs,
        exitRetentionMs,
        ms,
        webConfig);
  }
}
