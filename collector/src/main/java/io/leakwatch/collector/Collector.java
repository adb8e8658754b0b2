package io.leakwatch.collector;

import io.leakwatch.collector.proc.JvmAttach;
import io.leakwatch.collector.proc.ProcCounters;
import io.leakwatch.collector.symbols.JitSymbols;
import io.leakwatch.collector.symbols.SourceLines;
import io.leakwatch.collector.symbols.Symbolizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The per-host daemon: finds rings in the run directory, drains them in batches, symbolizes new
 * stacks, publishes to Kafka, and only then releases ring space (so a collector that dies loses
 * nothing: the next one resumes at the ring's read position, and the Streams app drops the
 * duplicates by sequence number). When a process is gone and its ring drained, it says so
 * downstream and removes the ring.
 *
 * <p>This class is the coordinator: it wires the jobs of a round together ({@link RingDiscovery},
 * {@link ExecOrder}, {@link PublishRound}, {@link ExitRetirement}, {@link CounterSampler}, all
 * sharing the {@link TrackedRings}), runs them in order on its thread, and owns the lifecycle. Its
 * lock guards the rings: the jobs run inside {@link #round()}, which holds it, as do the readers
 * that walk the rings.
 */
public final class Collector implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Collector.class);
  private static final long SCAN_INTERVAL_MS = 250;

  private final CollectorConfig config;
  private final EventPublisher publisher;
  private final Symbolizer symbolizer = new Symbolizer();
  private final CollectorMetrics metrics;
  private final CollectorHealth health = new CollectorHealth(System::currentTimeMillis);
  private final ExecutorService attachExecutor = JvmAttach.executor();
  private final TrackedRings rings = new TrackedRings();
  private final RingDiscovery discovery;
  private final ExecOrder execOrder;
  private final PublishRound publishRound;
  private final ExitRetirement retirement;
  private final CounterSampler counters;
  private volatile boolean running = true;
  private Thread thread;
  private long lastScan;

  /** Scans of the run directory so far (see ExitRetirement's wait for one after an exit). */
  private long scans;

  private RunDirLock runDirLock;

  public Collector(CollectorConfig config) {
    this.config = config;
    this.publisher = new EventPublisher(config.kafka());
    this.metrics = new CollectorMetrics(this);
    if (config.sourceLines() != null && config.sourceLines().enabled()) {
      symbolizer.withSourceLines(
          new SourceLines(
              config.sourceLines(), symbolizer.debugFiles(), metrics.sourceLineListener()));
    }
    ProcCounters proc = new ProcCounters();
    JvmAttach jvmAttach = new JvmAttach(Path.of("/proc"));
    this.discovery =
        new RingDiscovery(
            config.runDir(),
            rings,
            ring ->
                new TrackedProcess(
                    ring,
                    config.host(),
                    config.names(),
                    config.redaction(),
                    config.pairGraceMs(),
                    pairsDropped,
                    config.jvmPerfMaps()
                        ? pid -> new JitSymbols(pid, jvmAttach, attachExecutor)
                        : null));
    this.execOrder = new ExecOrder(rings);
    this.publishRound =
        new PublishRound(
            rings,
            execOrder,
            publisher,
            symbolizer,
            metrics,
            health,
            config.maxBatchEvents(),
            config.maxStacksRemembered());
    this.retirement = new ExitRetirement(rings, execOrder, proc, publisher, () -> scans);
    this.counters =
        new CounterSampler(rings, execOrder, proc, publisher, config.counterIntervalMs());
  }

  public synchronized Collector start() {
    try {
      Files.createDirectories(config.runDir());
    } catch (IOException e) {
      throw new IllegalStateException("cannot create run directory " + config.runDir(), e);
    }
    runDirLock = RunDirLock.hold(config.runDir());
    if (symbolizer.sourceLines() != null) symbolizer.sourceLines().start();
    if (config.httpPort() > 0)
      metrics.serve(config.httpBind(), config.httpPort(), config.webConfig(), health);
    thread = new Thread(this::runLoop, "leakwatch-collector");
    thread.setDaemon(true);
    thread.start();
    return this;
  }

  /**
   * When every ring of {@code pid} has been retired (its exit published downstream), the start time
   * in ms of its last image; empty while any ring of that pid is still followed.
   */
  public synchronized Optional<Long> retiredStartMs(int pid) {
    return execOrder.retiredStartMs(pid);
  }

  /** Short-lived allocations dropped with their free before publishing (never sent to Kafka). */
  private final LongAdder pairsDropped = new LongAdder();

  public long pairsDropped() {
    return pairsDropped.sum();
  }

  public CollectorMetrics metrics() {
    return metrics;
  }

  int followed() {
    return rings.size();
  }

  /**
   * What is left to publish for a process: bytes written to its rings and not read yet, or -1 when
   * no ring of it is followed (retired, or not found yet). For progress while a report is awaited.
   */
  public synchronized long unreadBytes(int pid) {
    return rings.followsPid(pid) ? rings.unreadBytes(pid) : -1;
  }

  synchronized double maxRingFill() {
    return rings.maxFill();
  }

  /**
   * No stack is waiting for its file and line (or lines are off): what was resolved has been
   * published. Checked between rounds, so a definition taken for publishing has been acknowledged.
   */
  public synchronized boolean sourceLinesSettled() {
    SourceLines lines = symbolizer.sourceLines();
    return lines == null || lines.pendingStacks() == 0;
  }

  /** Whether this collector published stack {@code id} with file and line (recently). */
  public boolean publishedWithLines(String id) {
    SourceLines lines = symbolizer.sourceLines();
    return lines != null && lines.namedWithLines(id);
  }

  Symbolizer symbolizer() {
    return symbolizer;
  }

  /** Rings refused and still there (symlinks, other owners, unreadable headers, impersonation). */
  public synchronized int refusedRings() {
    return discovery.refusedCount();
  }

  private void runLoop() {
    long backoff = 0;
    while (running) {
      try {
        int moved = round();
        // Kafka took the round (or there was nothing to give it): the next failure starts the
        // backoff afresh. A round that only waited for re-read events' grace proves nothing.
        if (health.ready()) backoff = 0;
        health.maybeSummarize(this::followed, this::maxRingFill);
        // Go again at once only when a ring had more than a batch: a trickle of samples is gathered
        // for a poll interval, so rounds (each a Kafka round trip) stay few when there is little to
        // move.
        // A ring filling up is drained at once whatever the round moved: a full ring drops events.
        if (moved < config.maxBatchEvents() && maxRingFill() < PublishRound.FLOOD_FILL)
          Thread.sleep(config.pollIntervalMs());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (RuntimeException e) {
        if (!running || Thread.currentThread().isInterrupted())
          return; // closing: the flush was interrupted, nothing failed
        backoff = Math.min(5_000, Math.max(100, backoff * 2));
        log.warn("collector round failed ({}); retrying in {} ms", e.toString(), backoff);
        health.roundFailed(e.getMessage() == null ? e.toString() : e.getMessage());
        health.maybeSummarize(this::followed, this::maxRingFill);
        try {
          Thread.sleep(backoff);
        } catch (InterruptedException ie) {
          Thread.currentThread().interrupt();
          return;
        }
      }
    }
  }

  /** One pass over every ring; returns the number of records moved. Visible for tests. */
  synchronized int round() {
    long now = System.currentTimeMillis();
    if (now - lastScan >= SCAN_INTERVAL_MS) {
      discover();
      lastScan = now;
      scans++;
    }
    execOrder.index();
    int moved = publishRound.publish();
    retirement.retireExited();
    counters.sample(now);
    return moved;
  }

  /** Looks for new rings in the run directory. Visible for tests. */
  void discover() {
    discovery.discover();
  }

  @Override
  public void close() {
    running = false;
    if (thread != null) {
      thread.interrupt();
      try {
        thread.join(10_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    synchronized (this) {
      retirement.close();
      rings.closeAll();
      if (runDirLock != null) {
        runDirLock.close();
        runDirLock = null;
      }
    }
    attachExecutor.shutdownNow();
    if (symbolizer.sourceLines() != null) symbolizer.sourceLines().close();
    metrics.close();
    publisher.close();
  }
}
