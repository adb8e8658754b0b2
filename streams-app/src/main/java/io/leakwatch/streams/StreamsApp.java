package io.leakwatch.streams;

import io.leakwatch.schemas.TopicSetup;
import io.leakwatch.streams.health.InstanceHealth;
import io.leakwatch.streams.http.HttpApi;
import io.leakwatch.streams.metrics.LeakMetrics;
import io.leakwatch.streams.query.Peers;
import io.leakwatch.streams.query.QueryService;
import io.leakwatch.streams.report.History;
import io.leakwatch.streams.report.ReportBuilder;
import io.leakwatch.streams.report.ReportService;
import io.leakwatch.streams.stores.Keys;
import io.leakwatch.streams.stores.StackNames;
import io.leakwatch.streams.topology.LeakTopology;
import io.leakwatch.streams.topology.TopologyOptions;
import io.leakwatch.web.WebConfig;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.kafka.KafkaStreamsMetrics;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.LogAndContinueExceptionHandler;
import org.apache.kafka.streams.errors.LogAndContinueProcessingExceptionHandler;
import org.apache.kafka.streams.state.HostInfo;

/**
 * Wiring: configuration, the KafkaStreams instance running {@link LeakTopology}, metrics and HTTP.
 */
public final class StreamsApp implements AutoCloseable {
  public static final String DEAD_LETTERS = "leakwatch.dead-letters";

  private final StreamsAppConfig config;
  private final KafkaStreams streams;
  private final ReportService reports;
  private final LeakMetrics metrics;
  private HttpApi http;
  private final int httpPort;
  private final String advertisedHost;
  private final History history;
  private final ScheduledExecutorService historyTimer =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "leakwatch-history");
            t.setDaemon(true);
            return t;
          });
  private long historyTicks;
  private final InstanceHealth health = new InstanceHealth(System::currentTimeMillis);
  private final LongAdder malformedStacks = new LongAdder();

  /** Stacks' names as scrapes and reports read them, kept current by the stacks store's updater. */
  private final StackNames stackNames = new StackNames();

  /** The Kafka Streams settings this instance runs with (visible for tests). */
  final Properties properties;

  public StreamsApp(StreamsAppConfig config) {
    this.config = config;
    this.history =
        new History(History.Windows.of(config.historyIntervalMs(), config.trendWindowMs()));
    // Our defaults first, the user's Kafka settings last: theirs win (replication, guarantees,
    // tuning).
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, config.applicationId());
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.STATE_DIR_CONFIG, config.stateDir().toString());
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, config.threads());
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, (int) config.replication());
    p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 64L * 1024 * 1024);
    p.put(
        StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG,
        LogAndContinueExceptionHandler.class);
    // A record that passes deserialization but breaks a processor is skipped too (and
    // dead-lettered):
    // one bad record from one host must not stop the fleet's pipeline.
    p.put(
        StreamsConfig.PROCESSING_EXCEPTION_HANDLER_CLASS_CONFIG,
        LogAndContinueProcessingExceptionHandler.class);
    p.put(StreamsConfig.ERRORS_DEAD_LETTER_QUEUE_TOPIC_NAME_CONFIG, DEAD_LETTERS);
    // A record too large for the producer (reports are bounded, but a broker may set a lower limit)
    // is skipped and dead-lettered by key and size: it must not shut the instance down.
    p.put(StreamsConfig.PRODUCTION_EXCEPTION_HANDLER_CLASS_CONFIG, OversizeRecordHandler.class);
    p.put("processing.exception.handler.global.enabled", true);
    p.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_POLL_RECORDS_CONFIG), 500);
    // Other instances forward report requests here: advertise a reachable address and the real port
    // (a free one is chosen now when the configuration says "any").
    this.httpPort = config.httpPort() == 0 ? freePort(config.httpBind()) : config.httpPort();
    this.advertisedHost = advertisedHost(config.httpBind());
    p.put(StreamsConfig.APPLICATION_SERVER_CONFIG, advertisedHost + ":" + Math.max(httpPort, 1));
    p.putAll(config.kafka());
    this.properties = p;
    this.streams =
        new KafkaStreams(
            LeakTopology.build(
                TopologyOptions.defaults(ReportBuilder::exitReport)
                    .withStoreKind(config.storeKind())
                    .withMalformedStacks(malformedStacks)
                    .withStackNames(stackNames)
                    .withTrendWindowMs(config.trendWindowMs())
                    .withExitRetentionMs(config.exitRetentionMs())
                    .withStaleAfterMs(config.staleAfterMs())),
            p);
    this.reports = new ReportService(streams, stackNames).withTrendWindowMs(config.trendWindowMs());
    this.metrics = new LeakMetrics(reports, config.topK());
    metrics.useHistory(history);
    // The pipeline's health: consumer lag, commit and process rates, and whether we are running.
    new KafkaStreamsMetrics(streams).bindTo(metrics.registry());
    Gauge.builder(
            "leakwatch.streams.running",
            streams,
            s -> s.state() == KafkaStreams.State.RUNNING ? 1 : 0)
        .description(
            "1 while the Kafka Streams instance is RUNNING (0: rebalancing, restoring, stopped)")
        .register(metrics.registry());
    FunctionCounter.builder(
            "leakwatch.streams.dropped.records",
            this,
            a -> droppedRecords(a.streams) + a.malformedStacks.sum())
        .description(
            "records skipped as malformed or failing processing; each is also written to "
                + DEAD_LETTERS
                + ", except unreadable stack definitions (read by every instance's global store: counted, skipped)")
        .register(metrics.registry());
    new JvmMemoryMetrics().bindTo(metrics.registry());
  }

  private static int freePort(String bind) {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(bind))) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The bind address, unless it is a wildcard: then this machine's name. */
  private static String advertisedHost(String bind) {
    if (!bind.equals("0.0.0.0") && !bind.equals("::") && !bind.isEmpty()) return bind;
    try {
      return InetAddress.getLocalHost().getHostName();
    } catch (UnknownHostException e) {
      return "localhost";
    }
  }

  /** Unreadable records on the stacks topic, skipped by this instance. */
  public long malformedStacks() {
    return malformedStacks.sum();
  }

  /** Kafka Streams' own count of skipped records, summed over this instance's tasks. */
  static double droppedRecords(KafkaStreams s) {
    double sum = 0;
    for (var e : s.metrics().entrySet()) {
      if (e.getKey().name().equals("dropped-records-total")
          && e.getValue().metricValue() instanceof Number n) sum += n.doubleValue();
    }
    return sum;
  }

  /** Creates missing topics, starts processing, waits until running, then serves HTTP. */
  public StreamsApp start(Duration timeout) {
    TopicSetup.ensureTopics(config.kafka(), config.partitions(), config.effectiveReplication());
    TopicSetup.ensureTopic(config.kafka(), DEAD_LETTERS, 1, config.effectiveReplication());
    streams.setStateListener(health);
    streams.setGlobalStateRestoreListener(health);
    streams.setUncaughtExceptionHandler(new StreamThreadRecovery(System::currentTimeMillis));
    streams.start();
    long deadline = System.nanoTime() + timeout.toNanos();
    while (streams.state() != KafkaStreams.State.RUNNING) {
      if (streams.state() == KafkaStreams.State.ERROR
          || streams.state() == KafkaStreams.State.NOT_RUNNING) {
        throw new IllegalStateException("streams stopped: " + streams.state());
      }
      if (System.nanoTime() > deadline)
        throw new IllegalStateException("streams not running after " + timeout);
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IllegalStateException("interrupted", e);
      }
    }
    historyTimer.scheduleWithFixedDelay(
        this::recordHistory, 0, config.historyIntervalMs(), TimeUnit.MILLISECONDS);
    historyTimer.scheduleWithFixedDelay(this::summarizeHealth, 10, 10, TimeUnit.SECONDS);
    if (config.httpPort() >= 0) {
      // Peers are called as the web configuration in force says (TLS, credentials): read through
      // the HTTP API once it exists, so a reloaded file applies to forwarded queries too.
      AtomicReference<HttpApi> api = new AtomicReference<>();
      Peers peers =
          new Peers(
              streams,
              new HostInfo(advertisedHost, httpPort),
              () -> api.get() == null ? WebConfig.OPEN : api.get().webConfig());
      QueryService queries = new QueryService(reports, peers);
      http =
          new HttpApi(
              new HttpApi.Options(
                  config.httpBind(),
                  httpPort,
                  config.webConfig(),
                  reports,
                  metrics,
                  () -> streams.state().name(),
                  history,
                  queries));
      api.set(http);
    }
    return this;
  }

  /**
   * One point of history for every process of this instance; every sixth, a snapshot of their top
   * stacks.
   */
  private void recordHistory() {
    try {
      if (streams.state() != KafkaStreams.State.RUNNING) return;
      long now = System.currentTimeMillis();
      var processes = reports.processes();
      history.record(now, processes, reports::counters);
      if (historyTicks++ % History.POINTS_PER_SNAPSHOT == 0) {
        for (var p : processes) {
          if (p.exited()) continue;
          reports
              .report(p.host(), p.pid())
              .ifPresent(r -> history.snapshot(now, Keys.process(p.host(), p.pid()), r));
        }
      }
    } catch (RuntimeException e) {
      // a store being restored or rebalanced: the next tick tries again
    }
  }

  /** The minute's health line in the log (InstanceHealth decides when one is due). */
  private void summarizeHealth() {
    int processes = -1, exited = 0;
    try {
      if (streams.state() == KafkaStreams.State.RUNNING) {
        var all = reports.processes();
        processes = all.size();
        for (var p : all) if (p.exited()) exited++;
      }
    } catch (RuntimeException e) {
      // stores moving: the line says -1 processes
    }
    double processed = 0;
    for (var e : streams.metrics().entrySet()) {
      if (e.getKey().name().equals("process-total")
          && e.getKey().group().equals("stream-thread-metrics")
          && e.getValue().metricValue() instanceof Number n) processed += n.doubleValue();
    }
    health.maybeSummarize(
        processes, exited, processed, droppedRecords(streams) + malformedStacks.sum());
  }

  public History history() {
    return history;
  }

  public ReportService reports() {
    return reports;
  }

  public LeakMetrics metrics() {
    return metrics;
  }

  public KafkaStreams streams() {
    return streams;
  }

  /** The port the HTTP API listens on, or -1. */
  public int httpPort() {
    return http == null ? -1 : http.port();
  }

  @Override
  public void close() {
    historyTimer.shutdownNow();
    if (http != null) http.close();
    streams.close(Duration.ofSeconds(30));
  }
}
