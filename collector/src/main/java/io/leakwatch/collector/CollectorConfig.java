package io.leakwatch.collector;

import io.leakwatch.collector.proc.CommandRedaction;
import io.leakwatch.collector.proc.ProcessNames;
import io.leakwatch.collector.symbols.SourceLines;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * What a collector needs to run.
 *
 * @param kafka producer settings (bootstrap.servers and anything else: TLS, SASL pass through)
 * @param runDir where the shims create their rings (LEAKWATCH_RUN_DIR)
 * @param host the name this host reports under
 * @param httpBind address of the collector's own /metrics (127.0.0.1 unless configured otherwise)
 * @param httpPort its port (0 = none)
 * @param names how processes are named (process-exporter style rules)
 * @param maxStacksRemembered how many published stack ids are remembered (bounds memory; a stack
 *     forgotten and seen again is published again, harmless on a compacted topic)
 * @param jvmPerfMaps whether JVMs are asked (through the attach mechanism) for perf maps naming
 *     their JIT-compiled Java methods
 * @param sourceLines file, line and inlined frames: the symbolizer, debuginfod servers and limits
 *     (a null symbolizer turns lines off)
 */
public record CollectorConfig(
    Map<String, Object> kafka,
    Path runDir,
    String host,
    String httpBind,
    int httpPort,
    long pollIntervalMs,
    long counterIntervalMs,
    int maxBatchEvents,
    ProcessNames names,
    int maxStacksRemembered,
    boolean jvmPerfMaps,
    CommandRedaction redaction,
    Path webConfig,
    long pairGraceMs,
    SourceLines.Options sourceLines) {

  public static final Path DEFAULT_RUN_DIR = Path.of("/dev/shm/leakwatch");

  /**
   * LEAKWATCH_RUN_DIR when set (the shims read the same variable), else {@link #DEFAULT_RUN_DIR}.
   */
  public static Path runDirFromEnvironment() {
    String dir = System.getenv("LEAKWATCH_RUN_DIR");
    return dir != null && !dir.isBlank() ? Path.of(dir) : DEFAULT_RUN_DIR;
  }

  public static CollectorConfig defaults(String bootstrap) {
    return new CollectorConfig(
        Map.of("bootstrap.servers", bootstrap),
        DEFAULT_RUN_DIR,
        localHostName(),
        "127.0.0.1",
        9400,
        100,
        5000,
        20_000,
        ProcessNames.DEFAULT,
        100_000,
        true,
        CommandRedaction.DEFAULT,
        null,
        DEFAULT_PAIR_GRACE_MS,
        SourceLines.Options.defaults());
  }

  public CollectorConfig withKafka(Map<String, Object> settings) {
    return new CollectorConfig(
        Map.copyOf(settings),
        runDir,
        host,
        httpBind,
        httpPort,
        pollIntervalMs,
        counterIntervalMs,
        maxBatchEvents,
        names,
        maxStacksRemembered,
        jvmPerfMaps,
        redaction,
        webConfig,
        pairGraceMs,
        sourceLines);
  }

  public CollectorConfig withHost(String h) {
    return new CollectorConfig(
        kafka,
        runDir,
        h,
        httpBind,
        httpPort,
        pollIntervalMs,
        counterIntervalMs,
        maxBatchEvents,
        names,
        maxStacksRemembered,
        jvmPerfMaps,
        redaction,
        webConfig,
        pairGraceMs,
        sourceLines);
  }

  public CollectorConfig withJvmPerfMaps(boolean on) {
    return new CollectorConfig(
        kafka,
        runDir,
        host,
        httpBind,
        httpPort,
        pollIntervalMs,
        counterIntervalMs,
        maxBatchEvents,
        names,
        maxStacksRemembered,
        on,
        redaction,
        webConfig,
        pairGraceMs,
        sourceLines);
  }

  public CollectorConfig withNames(ProcessNames n) {
    return new CollectorConfig(
        kafka,
        runDir,
        host,
        httpBind,
        httpPort,
        pollIntervalMs,
        counterIntervalMs,
        maxBatchEvents,
        n,
        maxStacksRemembered,
        jvmPerfMaps,
        redaction,
        webConfig,
        pairGraceMs,
        sourceLines);
  }

  public CollectorConfig withIntervals(
      long pollMs, long countersMs, int batchEvents, int stacksRemembered) {
    return new CollectorConfig(
        kafka,
        runDir,
        host,
        httpBind,
        httpPort,
        pollMs,
        countersMs,
        batchEvents,
        names,
        stacksRemembered,
        jvmPerfMaps,
        redaction,
        webConfig,
        pairGraceMs,
        sourceLines);
  }

  public CollectorConfig withRunDir(Path dir) {
    return new CollectorConfig(
        kafka,
        dir,
        host,
        httpBind,
        httpPort,
        pollIntervalMs,
        counterIntervalMs,
        maxBatchEvents,
        names,
        maxStacksRemembered,
        jvmPerfMaps,
        redaction,
        webConfig,
        pairGraceMs,
        sourceLines);
  }

  public CollectorConfig withHttpPort(int port) {
    return new CollectorConfig(
        kafka,
        runDir,
        host,
        httpBind,
        port,
        pollIntervalMs,
        counterIntervalMs,
        maxBatchEvents,
        names,
        maxStacksRemembered,
        jvmPerfMaps,
        redaction,
        webConfig,
        pairGraceMs,
        sourceLines);
  }

  public CollectorConfig withCounterIntervalMs(long ms) {
    return new CollectorConfig(
        kafka,
        runDir,
        host,
        httpBind,
        httpPort,
        pollIntervalMs,
        ms,
        maxBatchEvents,
        names,
        maxStacksRemembered,
        jvmPerfMaps,
        redaction,
        webConfig,
        pairGraceMs,
        sourceLines);
  }

  public CollectorConfig withHttpBind(String bind) {
    return new CollectorConfig(
        kafka,
        runDir,
        host,
        bind,
        httpPort,
        pollIntervalMs,
        counterIntervalMs,
        maxBatchEvents,
        names,
        maxStacksRemembered,
        jvmPerfMaps,
        redaction,
        webConfig,
        pairGraceMs,
        sourceLines);
  }

  public CollectorConfig withRedaction(CommandRedaction r) {
    return new CollectorConfig(
        kafka,
        runDir,
        host,
        httpBind,
        httpPort,
        pollIntervalMs,
        counterIntervalMs,
        maxBatchEvents,
        names,
        maxStacksRemembered,
        jvmPerfMaps,
        r,
        webConfig,
        pairGraceMs,
        sourceLines);
  }

  /**
   * @param file the web configuration of the collector's HTTP server (TLS, basic auth, roles), null
   *     for plain HTTP without authentication
   */
  public CollectorConfig withWebConfig(Path file) {
    return new CollectorConfig(
        kafka,
        runDir,
        host,
        httpBind,
        httpPort,
        pollIntervalMs,
        counterIntervalMs,
        maxBatchEvents,
        names,
        maxStacksRemembered,
        jvmPerfMaps,
        redaction,
        file,
        pairGraceMs,
        sourceLines);
  }

  /**
   * Allocations freed within this long after the collector read them are dropped with their free
   * and never published ({@link ShortLivedPairs}); 0 publishes every event. On by default since the
   * multi-host fleet test passes with it (its earlier failure was a stack definition lost in a
   * round Kafka did not acknowledge, fixed in TrackedProcess.rewind).
   */
  public static final long DEFAULT_PAIR_GRACE_MS = 1000;

  public CollectorConfig withPairGraceMs(long ms) {
    return new CollectorConfig(
        kafka,
        runDir,
        host,
        httpBind,
        httpPort,
        pollIntervalMs,
        counterIntervalMs,
        maxBatchEvents,
        names,
        maxStacksRemembered,
        jvmPerfMaps,
        redaction,
        webConfig,
        ms,
        sourceLines);
  }

  public CollectorConfig withSourceLines(SourceLines.Options lines) {
    return new CollectorConfig(
        kafka,
        runDir,
        host,
        httpBind,
        httpPort,
        pollIntervalMs,
        counterIntervalMs,
        maxBatchEvents,
        names,
        maxStacksRemembered,
        jvmPerfMaps,
        redaction,
        webConfig,
        pairGraceMs,
        lines);
  }

  /** The kernel's host name, made safe for keys ("host/pid") and labels. */
  public static String localHostName() {
    String name = null;
    try {
      name = Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
    } catch (IOException | RuntimeException e) {
      // fall through
    }
    if (name == null || name.isEmpty())
      name = System.getenv().getOrDefault("HOSTNAME", "localhost");
    return name.replace('/', '_');
  }
}
