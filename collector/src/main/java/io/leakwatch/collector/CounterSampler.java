package io.leakwatch.collector;

import io.leakwatch.collector.proc.HsPerfData;
import io.leakwatch.collector.proc.ProcCounters;
import io.leakwatch.schemas.CounterSample;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * Samples each followed process's counters every counter interval: what /proc says it holds
 * (private, virtual and resident bytes, open fds, mapped regions, a JVM's managed heap) and the
 * shim's allocator figures. The rings only say what was allocated through the shim; these are the
 * process's size as the system sees it (the native-memory-growing alert is private bytes minus the
 * managed heap).
 */
final class CounterSampler {
  private final TrackedRings rings;
  private final ExecOrder execOrder;
  private final ProcCounters proc;
  private final EventPublisher publisher;
  private final long counterIntervalMs;
  private final long bootTime;

  CounterSampler(
      TrackedRings rings,
      ExecOrder execOrder,
      ProcCounters proc,
      EventPublisher publisher,
      long counterIntervalMs) {
    this.rings = rings;
    this.execOrder = execOrder;
    this.proc = proc;
    this.publisher = publisher;
    this.counterIntervalMs = counterIntervalMs;
    this.bootTime = proc.bootTimeSeconds();
  }

  /** Samples the processes whose interval has passed at {@code now}, and waits for Kafka. */
  void sample(long now) {
    List<Future<RecordMetadata>> futures = new ArrayList<>();
    for (TrackedProcess tp : rings.processes()) {
      if (now - tp.lastCountersMs < counterIntervalMs
          || !tp.startAnnounced
          || execOrder.hasNewerImage(tp)) continue;
      tp.lastCountersMs = now;
      ProcCounters.Sample sample = proc.sample(tp.pid);
      if (sample == null) continue;
      ProcCounters.Memory m = sample.memory();
      int fds = proc.openFds(tp.pid);
      if (tp.managedHeap == null) tp.managedHeap = proc.managedHeapSource(tp.pid);
      HsPerfData.Heap heap = tp.managedHeap.heap(now);
      Map<String, Long> regions = new HashMap<>();
      if (sample.regions() != null) {
        sample
            .regions()
            .forEach(
                (kind, region) -> {
                  regions.put(kind, region.committedBytes());
                  regions.put(kind + ":reserved", region.reservedBytes());
                });
      }
      long ticks = tp.ring.procStartTicks();
      futures.add(
          publisher.send(
              CounterSample.newBuilder()
                  .setHost(tp.host)
                  .setPid(tp.pid)
                  .setName(tp.name)
                  .setTimestampMs(now)
                  .setPrivateBytes(m.privateBytes())
                  .setVirtualBytes(m.virtualBytes())
                  .setResidentBytes(m.residentBytes())
                  .setOpenFds(fds >= 0 ? fds : null)
                  .setRegions(regions)
                  .setManagedHeapBytes(heap == null ? null : heap.usedBytes())
                  .setStartTimeSeconds(bootTime > 0 && ticks > 0 ? bootTime + ticks / 100.0 : null)
                  .setHeapArenaBytes(
                      tp.allocatorStats == null ? null : tp.allocatorStats.arenaBytes())
                  .setHeapInUseBytes(
                      tp.allocatorStats == null ? null : tp.allocatorStats.inUseBytes())
                  .setHeapFreeBytes(
                      tp.allocatorStats == null ? null : tp.allocatorStats.freeBytes())
                  .build()));
    }
    // Counters are best effort: a lost sample is replaced by the next one.
    if (!futures.isEmpty()) publisher.awaitAll(futures);
  }
}
