package io.leakwatch.collector;

import io.leakwatch.collector.proc.ProcCounters;
import io.leakwatch.collector.ring.ModuleTableFile;
import io.leakwatch.schemas.ProcessExited;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.function.LongSupplier;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Retires the rings of processes that are gone (or replaced by an exec) once they are drained: says
 * so downstream, and only when Kafka has acknowledged that, forgets the ring and removes its files.
 * A shim leaves its ring behind while a collector serves the run directory ({@link RunDirLock}), so
 * removing it is this job's; done sooner, the exit would be lost, done never, the tmpfs fills.
 */
final class ExitRetirement implements AutoCloseable {
  // The collector's log lines keep the name operators and the docs know them by.
  private static final Logger log = LoggerFactory.getLogger(Collector.class);

  private final TrackedRings rings;
  private final ExecOrder execOrder;
  private final ProcCounters proc;
  private final ProcessLiveness<TrackedProcess> liveness;
  private final EventPublisher publisher;

  /** How many scans of the run directory have run (each in a round, before its retirements). */
  private final LongSupplier scans;

  ExitRetirement(
      TrackedRings rings,
      ExecOrder execOrder,
      ProcCounters proc,
      EventPublisher publisher,
      LongSupplier scans) {
    this.rings = rings;
    this.execOrder = execOrder;
    this.proc = proc;
    this.liveness =
        new ProcessLiveness<>(
            proc, tp -> tp.pid, tp -> tp.ring.procStartTicks(), ProcessLiveness.maxPidfds());
    this.publisher = publisher;
    this.scans = scans;
  }

  /** An attached recording whose process exec'd: it ended there, the process runs on. */
  private boolean attachedAndGone(TrackedProcess tp) {
    return tp.ring.attachedFlag() && liveness.alive(tp);
  }

  /** Checked every 2 s per attached ring: a maps file is read for it. */
  private boolean attachedAndExeced(TrackedProcess tp) {
    if (!tp.ring.attachedFlag()) return false;
    long now = System.currentTimeMillis();
    if (now - tp.mapsCheckedAtMs < 2_000) return false;
    tp.mapsCheckedAtMs = now;
    return !proc.maps(tp.pid, tp.ring.path());
  }

  /**
   * A process found gone is retired only after a scan of the run directory that began after it was
   * found gone (counted, not timed: a clock stepping back must not reopen the window). It may have
   * exec'd before it ended, and its newer image's ring, not discovered yet, is then its last image:
   * retired first, the older image would be taken for the last one (run 46: {@code run -- sh -c
   * 'exec churn ...'} reported sh). Costs a retirement at most one scan interval.
   */
  private boolean scannedSinceSeenGone(TrackedProcess tp) {
    if (tp.goneSeenAtScan < 0) tp.goneSeenAtScan = scans.getAsLong();
    return scans.getAsLong() > tp.goneSeenAtScan;
  }

  /**
   * Throws when Kafka did not acknowledge the exits: those rings stay followed and are tried again.
   */
  void retireExited() {
    liveness.refresh(rings.processes());
    List<Future<RecordMetadata>> futures = new ArrayList<>();
    List<Map.Entry<Path, TrackedProcess>> done = new ArrayList<>();
    for (Map.Entry<Path, TrackedProcess> e : rings.entries()) {
      TrackedProcess tp = e.getValue();
      if (!tp.startAnnounced) continue;
      // Gone, or replaced by exec: the new image's shim made a newer ring for the same process.
      // An attached recording also ends at its detach, or at an exec (the new program has no shim
      // and makes no ring: the old one is simply no longer mapped).
      boolean newerImage = execOrder.hasNewerImage(tp);
      if (liveness.alive(tp)) {
        tp.goneSeenAtScan = -1; // a /proc read that failed once is not an exit
        if (!newerImage && !tp.ring.detachedFlag() && !attachedAndExeced(tp)) continue;
      } else if (!newerImage && !scannedSinceSeenGone(tp)) {
        continue;
      }
      // Dead and drained as far as published records go; a record reserved but never published
      // by a writer that died with the process (or left by a siglongjmp) is given up and counted.
      if (!tp.reader.drained()) {
        if (!tp.reader.blockedOnUnpublished()) continue;
        tp.reader.abandonUnpublished();
        if (!tp.reader.drained()) continue; // what follows the abandoned record is read first
      }
      if (!tp.pairs.isEmpty()) {
        tp.releaseAllHeld = true; // published by the next round, then retired
        continue;
      }
      tp.reader.release();
      boolean clean = tp.sawExitRecord || tp.ring.exitedFlag();
      futures.add(
          publisher.send(
              tp.message(
                  ProcessExited.newBuilder()
                      .setExitedAtMs(System.currentTimeMillis())
                      .setClean(clean)
                      .setLostEvents(tp.lostEvents())
                      .setDetached(tp.ring.detachedFlag() || attachedAndGone(tp))
                      .build())));
      done.add(e);
    }
    if (done.isEmpty()) return;
    if (!publisher.awaitAll(futures))
      throw new IllegalStateException("Kafka did not acknowledge process exits");
    for (Map.Entry<Path, TrackedProcess> e : done) {
      rings.remove(e.getKey());
      execOrder.retired(e.getValue());
      try {
        e.getValue().ring.close();
        Files.deleteIfExists(e.getKey());
        ModuleTableFile.delete(e.getKey());
      } catch (IOException ex) {
        log.warn("cannot remove ring {}: {}", e.getKey(), ex.toString());
      }
      log.info("pid {} exited; ring retired", e.getValue().pid);
    }
  }

  /** Gives back the pidfds (the collector is closing). */
  @Override
  public void close() {
    liveness.close();
  }
}
