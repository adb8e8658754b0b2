package io.leakwatch.collector;

import io.leakwatch.collector.proc.ProcCounters;
import io.leakwatch.collector.ring.RingFile;
import io.leakwatch.collector.ring.RingLayout;
import io.leakwatch.collector.ring.RingFormatException;
import io.leakwatch.collector.symbols.Symbolizer;
import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.CounterSample;
import io.leakwatch.schemas.EventBatch;
import io.leakwatch.schemas.ProcessExited;
import io.leakwatch.schemas.ProcessMessage;
import io.leakwatch.schemas.ProcessStarted;
import io.leakwatch.schemas.StackDefinition;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The per-host daemon: finds rings in the run directory, drains them in batches, symbolizes new
 * stacks, publishes to Kafka, and only then releases ring space (so a collector that dies loses
 * nothing: the next one resumes at the ring's read position, and the Streams app drops the
 * duplicates by sequence number). When a process is gone and its ring drained, it says so
 * downstream and removes the ring.
 */
public final class Collector implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(Collector.class);
  private static final long SCAN_INTERVAL_MS = 250;

  private final CollectorConfig config;
  private final EventPublisher publisher;
  private final Symbolizer symbolizer = new Symbolizer();
  private final ProcCounters proc = new ProcCounters();
  private final CollectorMetrics metrics;
  private final CollectorHealth health = new CollectorHealth(System::currentTimeMillis);
  private final io.leakwatch.collector.proc.JvmAttach jvmAttach = new io.leakwatch.collector.proc.JvmAttach(Path.of("/proc"));
  private final java.util.concurrent.ExecutorService attachExecutor = io.leakwatch.collector.proc.JvmAttach.executor();
  private final Map<Path, TrackedProcess> tracked = new HashMap<>();
  private final Set<Path> refused = new HashSet<>();
  /** Stack ids already on the stacks topic, most recently used last; bounded by config.maxStacksRemembered(). */
  private final Map<String, Boolean> publishedStacks;
  /** pid -> start (ms) of the image whose exit was published last: exec'd processes have several. */
  private final Map<Integer, Long> lastRetiredStartMs = new java.util.LinkedHashMap<>(16, 0.75f, false) {
    @Override
    protected boolean removeEldestEntry(Map.Entry<Integer, Long> e) {
      return size() > 10_000;
    }
  };
  private final long bootTime = proc.bootTimeSeconds();
  private final int uid = currentUid();
  private volatile boolean running = true;
  private Thread thread;
  private long lastScan;

  public Collector(CollectorConfig config) {
    this.config = config;
    this.publisher = new EventPublisher(config.kafka());
    this.metrics = new CollectorMetrics(this);
    int remembered = config.maxStacksRemembered();
    this.publishedStacks = new java.util.LinkedHashMap<>(1024, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, Boolean> e) {
        return size() > remembered;
      }
    };
  }

  /**
   * Says to the shims that a collector serves the run directory: a POSIX lock on collector.lock held
   * while this JVM runs (the kernel drops it when the process dies, however it dies). A shim that finds
   * it unlocked at exit removes its ring: nobody would read it, and rings of short processes would
   * otherwise fill the tmpfs.
   */
  private void holdRunDirLock() {
    try {
      java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(config.runDir().resolve(RingLayout.COLLECTOR_LOCK),
          java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
      try {
        runDirLock = ch.tryLock();
      } catch (java.nio.channels.OverlappingFileLockException e) {
        runDirLock = null; // another collector in this JVM holds it already
      }
      if (runDirLock == null) ch.close();
    } catch (IOException e) {
      log.warn("cannot lock {} in the run directory: shims will remove their rings at exit: {}", RingLayout.COLLECTOR_LOCK, e.toString());
    }
  }

  private java.nio.channels.FileLock runDirLock;

  public synchronized Collector start() {
    try {
      Files.createDirectories(config.runDir());
    } catch (IOException e) {
      throw new IllegalStateException("cannot create run directory " + config.runDir(), e);
    }
    holdRunDirLock();
    if (config.httpPort() > 0) metrics.serve(config.httpBind(), config.httpPort(), health);
    thread = new Thread(this::runLoop, "leakwatch-collector");
    thread.setDaemon(true);
    thread.start();
    return this;
  }

  /**
   * When every ring of {@code pid} has been retired (its exit published downstream), the start
   * time in ms of its last image; empty while any ring of that pid is still followed.
   */
  public synchronized java.util.Optional<Long> retiredStartMs(int pid) {
    for (TrackedProcess tp : tracked.values()) if (tp.pid == pid) return java.util.Optional.empty();
    return java.util.Optional.ofNullable(lastRetiredStartMs.get(pid));
  }

  public CollectorMetrics metrics() {
    return metrics;
  }

  int followed() {
    return tracked.size();
  }

  synchronized double maxRingFill() {
    double max = 0;
    for (TrackedProcess tp : List.copyOf(tracked.values())) max = Math.max(max, tp.ring.fill());
    return max;
  }

  Symbolizer symbolizer() {
    return symbolizer;
  }

  private void runLoop() {
    long backoff = 0;
    while (running) {
      try {
        int moved = round();
        backoff = 0;
        health.maybeSummarize(this::followed, this::maxRingFill);
        // Go again at once only when a ring had more than a batch: a trickle of samples is gathered
        // for a poll interval, so rounds (each a Kafka round trip) stay few when there is little to move.
        // A ring filling up is drained at once whatever the round moved: a full ring drops events.
        if (moved < config.maxBatchEvents() && maxRingFill() < 0.25) Thread.sleep(config.pollIntervalMs());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      } catch (RuntimeException e) {
        if (!running || Thread.currentThread().isInterrupted()) return; // closing: the flush was interrupted, nothing failed
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
    }
    indexImages();
    int moved = 0;
    long eventsRead = 0;
    List<TrackedProcess> sent = new ArrayList<>();
    List<Future<RecordMetadata>> futures = new ArrayList<>();
    List<StackDefinition> stacksThisRound = new ArrayList<>();
    for (TrackedProcess tp : tracked.values()) {
      if (hasSibling(tp, true)) continue; // the image before an exec goes first
      List<AllocationEvent> events = new ArrayList<>();
      List<StackDefinition> newStacks = new ArrayList<>();
      if (!tp.startAnnounced) {
        futures.add(publisher.send(message(tp, ProcessStarted.newBuilder().setName(tp.name).setCommand(tp.command)
            .setPpid(tp.ring.ppid()).setStartedAtMs(tp.ring.startTimeNs() / 1_000_000)
            .setSampleBytes(tp.ring.sampleBytes()).build())));
      }
      long first = tp.reader.position();
      int n;
      try {
        n = tp.drain(config.maxBatchEvents(), symbolizer, events, newStacks);
      } catch (RuntimeException e) {
        // One ring's trouble (a bug, hostile contents) must not stop the rounds of every other ring:
        // this one is read again from where it was next round, and said once in the log.
        tp.reader.rewind();
        if (tp.drainFailureLogged++ == 0) log.warn("cannot read ring of pid {} ({}); others go on", tp.pid, e.toString());
        continue;
      }
      moved += n;
      for (StackDefinition s : newStacks) {
        if (publishedStacks.get(s.getId()) == null) {
          futures.add(publisher.send(s)); // before the batch that uses it
          stacksThisRound.add(s);
        }
      }
      io.leakwatch.schemas.Resync resync = tp.takeResync();
      if (!events.isEmpty() || tp.reader.position() != first || resync != null) {
        futures.add(publisher.send(message(tp, EventBatch.newBuilder().setFirstSeq(first)
            .setEndSeq(tp.reader.position()).setLostEvents(tp.lostEvents()).setEvents(events).setResync(resync).build())));
        metrics.eventsRead(events.size());
        eventsRead += events.size();
      }
      sent.add(tp);
    }
    boolean ok = awaitAll(futures);
    for (TrackedProcess tp : sent) {
      if (ok) {
        tp.startAnnounced = true;
        tp.reader.release();
      } else {
        tp.reader.rewind();
      }
    }
    if (ok) {
      for (StackDefinition s : stacksThisRound) publishedStacks.put(s.getId(), Boolean.TRUE);
      metrics.eventsPublished(moved);
      health.roundAcknowledged(eventsRead, moved);
    } else {
      metrics.publishFailed();
      throw new IllegalStateException("Kafka did not acknowledge a round; records stay in the rings");
    }
    retireExited();
    sampleCounters(now);
    return moved;
  }

  private boolean awaitAll(List<Future<RecordMetadata>> futures) {
    if (futures.isEmpty()) return true;
    publisher.flush();
    for (Future<RecordMetadata> f : futures) {
      try {
        f.get(60, TimeUnit.SECONDS);
      } catch (ExecutionException | TimeoutException e) {
        log.warn("publish failed: {}", e.getCause() != null ? e.getCause().toString() : e.toString());
        return false;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
    }
    return true;
  }

  private ProcessMessage message(TrackedProcess tp, Object body) {
    return ProcessMessage.newBuilder().setHost(tp.host).setPid(tp.pid).setProcessStartTicks(tp.ring.procStartTicks())
        .setBody(body).build();
  }

  void discover() {
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(config.runDir(), "leakwatch-*.ring")) {
      for (Path p : dir) {
        if (tracked.containsKey(p) || refused.contains(p)) continue;
        if (!trustworthy(p)) {
          refused.add(p);
          continue;
        }
        try {
          RingFile ring = RingFile.open(p);
          if (!ownerMaySpeakFor(p, ring.pid())) {
            log.warn("refusing ring {}: its owner does not own pid {}", p, ring.pid());
            ring.close();
            refused.add(p);
            continue;
          }
          tracked.put(p, new TrackedProcess(ring, config.host(), config.names(),
              config.jvmPerfMaps() ? pid -> new io.leakwatch.collector.symbols.JitSymbols(pid, jvmAttach, attachExecutor) : null));
          log.info("following pid {} ({})", ring.pid(), p.getFileName());
        } catch (RingFormatException e) {
          log.warn("refusing ring {}: {}", p, e.getMessage());
          refused.add(p);
        } catch (IOException e) {
          log.debug("cannot open {} yet: {}", p, e.toString());
        }
      }
    } catch (IOException e) {
      log.warn("cannot list {}: {}", config.runDir(), e.toString());
    }
    // Module tables whose ring is gone (removed by hand, or retired by a collector killed before it
    // removed the table): the table is ours and nothing will read it.
    try (DirectoryStream<Path> dir = Files.newDirectoryStream(config.runDir(), "leakwatch-*.ring.modules")) {
      for (Path p : dir) {
        Path ring = p.resolveSibling(p.getFileName().toString().replaceFirst("\\.modules$", ""));
        if (!Files.exists(ring, LinkOption.NOFOLLOW_LINKS) && trustworthy(p)) Files.deleteIfExists(p);
      }
    } catch (IOException e) {
      log.debug("cannot tidy module tables in {}: {}", config.runDir(), e.toString());
    }
  }

  /** A ring is read only when it is a regular file (no symlink) owned by us or by root-run collectors' targets. */
  private boolean trustworthy(Path p) {
    try {
      PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
      if (!a.isRegularFile()) return false;
      if (uid == 0) return true; // root follows every user's processes
      Object owner = Files.getAttribute(p, "unix:uid", LinkOption.NOFOLLOW_LINKS);
      return owner instanceof Integer o && o == uid;
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return false;
    }
  }

  /**
   * A ring speaks for the process whose pid it carries; only that process's user can have written
   * it. So while the process lives, the ring's owner must be its real or effective uid: otherwise one
   * user could forge data for another user's (or root's) service. A ring of a process already gone
   * cannot impersonate a running one and is read.
   */
  private boolean ownerMaySpeakFor(Path ring, int pid) {
    try {
      Object owner = Files.getAttribute(ring, "unix:uid", LinkOption.NOFOLLOW_LINKS);
      String status = Files.readString(Path.of("/proc", Integer.toString(pid), "status"));
      for (String line : status.split("\n")) {
        if (line.startsWith("Uid:")) {
          String[] f = line.substring(4).trim().split("\\s+");
          for (int i = 0; i < Math.min(2, f.length); i++) if (f[i].equals(String.valueOf(owner))) return true;
          return false;
        }
      }
      return false;
    } catch (java.nio.file.NoSuchFileException e) {
      return true; // the process is gone
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** Rings refused (symlinks, other owners, unreadable headers, impersonation). */
  public synchronized int refusedRings() {
    return refused.size();
  }

  private static int currentUid() {
    try {
      Object v = Files.getAttribute(Path.of("/proc/self"), "unix:uid");
      return v instanceof Integer i ? i : -1;
    } catch (IOException | RuntimeException e) {
      return -1;
    }
  }

  private void retireExited() {
    Iterator<Map.Entry<Path, TrackedProcess>> it = tracked.entrySet().iterator();
    List<Future<RecordMetadata>> futures = new ArrayList<>();
    List<Map.Entry<Path, TrackedProcess>> done = new ArrayList<>();
    while (it.hasNext()) {
      Map.Entry<Path, TrackedProcess> e = it.next();
      TrackedProcess tp = e.getValue();
      if (!tp.startAnnounced) continue;
      // Gone, or replaced by exec: the new image's shim made a newer ring for the same process.
      if (proc.alive(tp.pid, tp.ring.procStartTicks()) && !hasSibling(tp, false)) continue;
      // Dead and drained as far as published records go; a record reserved but never published
      // by a writer that died with the process (or left by a siglongjmp) is given up and counted.
      if (!tp.reader.drained()) {
        if (!tp.reader.blockedOnUnpublished()) continue;
        tp.reader.abandonUnpublished();
        if (!tp.reader.drained()) continue; // what follows the abandoned record is read first
      }
      tp.reader.release();
      boolean clean = tp.sawExitRecord || tp.ring.exitedFlag();
      futures.add(publisher.send(message(tp, ProcessExited.newBuilder().setExitedAtMs(System.currentTimeMillis())
          .setClean(clean).setLostEvents(tp.lostEvents()).build())));
      done.add(e);
    }
    if (done.isEmpty()) return;
    if (!awaitAll(futures)) throw new IllegalStateException("Kafka did not acknowledge process exits");
    for (Map.Entry<Path, TrackedProcess> e : done) {
      tracked.remove(e.getKey());
      lastRetiredStartMs.merge(e.getValue().pid, e.getValue().ring.startTimeNs() / 1_000_000, Math::max);
      try {
        e.getValue().ring.close();
        Files.deleteIfExists(e.getKey());
        io.leakwatch.collector.ring.ModuleTableFile.delete(e.getKey());
      } catch (IOException ex) {
        log.warn("cannot remove ring {}: {}", e.getKey(), ex.toString());
      }
      log.info("pid {} exited; ring retired", e.getValue().pid);
    }
  }

  /** Oldest and newest ring start of each process (pid and start time): several mean an exec happened. */
  private final Map<String, long[]> imageSpan = new HashMap<>();

  private void indexImages() {
    imageSpan.clear();
    for (TrackedProcess tp : tracked.values()) {
      long start = tp.ring.startTimeNs();
      imageSpan.merge(tp.pid + "/" + tp.ring.procStartTicks(), new long[] {start, start},
          (a, b) -> new long[] {Math.min(a[0], b[0]), Math.max(a[1], b[1])});
    }
  }

  /** Another ring of the same process, older or newer than this one (from the index of this round). */
  private boolean hasSibling(TrackedProcess tp, boolean older) {
    long[] span = imageSpan.get(tp.pid + "/" + tp.ring.procStartTicks());
    if (span == null) return false;
    return older ? span[0] < tp.ring.startTimeNs() : span[1] > tp.ring.startTimeNs();
  }

  private void sampleCounters(long now) {
    List<Future<RecordMetadata>> futures = new ArrayList<>();
    for (TrackedProcess tp : tracked.values()) {
      if (now - tp.lastCountersMs < config.counterIntervalMs() || !tp.startAnnounced || hasSibling(tp, false)) continue;
      tp.lastCountersMs = now;
      ProcCounters.Memory m = proc.memory(tp.pid);
      if (m == null) continue;
      int fds = proc.openFds(tp.pid);
      io.leakwatch.collector.proc.HsPerfData.Heap heap = proc.managedHeap(tp.pid);
      Map<String, Long> regions = new HashMap<>();
      Map<String, ProcCounters.Region> r = proc.regions(tp.pid);
      if (r != null) {
        r.forEach((kind, region) -> {
          regions.put(kind, region.committedBytes());
          regions.put(kind + ":reserved", region.reservedBytes());
        });
      }
      long ticks = tp.ring.procStartTicks();
      futures.add(publisher.send(CounterSample.newBuilder().setHost(tp.host).setPid(tp.pid).setName(tp.name)
          .setTimestampMs(now).setPrivateBytes(m.privateBytes()).setVirtualBytes(m.virtualBytes())
          .setResidentBytes(m.residentBytes()).setOpenFds(fds >= 0 ? fds : null).setRegions(regions)
          .setManagedHeapBytes(heap == null ? null : heap.usedBytes())
          .setStartTimeSeconds(bootTime > 0 && ticks > 0 ? bootTime + ticks / 100.0 : null)
          .setHeapArenaBytes(tp.allocatorStats == null ? null : tp.allocatorStats.arenaBytes())
          .setHeapInUseBytes(tp.allocatorStats == null ? null : tp.allocatorStats.inUseBytes())
          .setHeapFreeBytes(tp.allocatorStats == null ? null : tp.allocatorStats.freeBytes()).build()));
    }
    // Counters are best effort: a lost sample is replaced by the next one.
    if (!futures.isEmpty()) awaitAll(futures);
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
      for (TrackedProcess tp : tracked.values()) {
        try {
          tp.ring.close();
        } catch (IOException ignored) {
          // closing a mapping cannot lose data: the ring file keeps it
        }
      }
      tracked.clear();
      if (runDirLock != null) {
        try {
          runDirLock.channel().close(); // releases the lock
        } catch (IOException ignored) {
          // the lock goes with the process anyway
        }
        runDirLock = null;
      }
    }
    attachExecutor.shutdownNow();
    metrics.close();
    publisher.close();
  }
}
