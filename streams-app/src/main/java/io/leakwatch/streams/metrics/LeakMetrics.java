package io.leakwatch.streams.metrics;

import io.leakwatch.schemas.CounterSample;
import io.leakwatch.streams.report.History;
import io.leakwatch.streams.report.ReportService;
import io.leakwatch.streams.state.ProcessState;
import io.leakwatch.streams.stores.Keys;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MultiGauge;
import io.micrometer.core.instrument.Tags;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.errors.InvalidStateStoreException;

/**
 * The Prometheus metrics of DESIGN.md, computed from this instance's stores when scraped. Only keys
 * this instance owns are reported, so Prometheus can sum instances without double counting. Labels
 * are bounded: host, process name, allocator module, and stack ids only for the top K stacks of
 * each process name.
 */
public final class LeakMetrics {
  private final PrometheusMeterRegistry registry =
      new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final ReportService reports;
  private final int topK;
  private final MultiGauge outstandingBytes;
  private final MultiGauge outstandingAllocations;
  private final MultiGauge stackBytes;
  private final MultiGauge suspectScore;
  private volatile History history;
  private final MultiGauge privateBytes;
  private final MultiGauge virtualBytes;
  private final MultiGauge residentBytes;
  private final MultiGauge managedHeapBytes;
  private final MultiGauge openFds;
  private final MultiGauge startTime;
  private final MultiGauge fragmentation;
  private final MultiGauge regionBytes;
  private final MultiGauge regionReservedBytes;

  /** Counters, not gauges: one per (host, process), removed when the process is gone. */
  private final Map<Tags, AtomicLong> lostEvents = new HashMap<>();

  private final Map<Tags, FunctionCounter> lostCounters = new HashMap<>();

  public LeakMetrics(ReportService reports, int topK) {
    this.reports = reports;
    this.topK = topK;
    outstandingBytes =
        gauge(
            "leakwatch.outstanding",
            "bytes",
            "unfreed bytes per allocator module (estimate when sampled)");
    outstandingAllocations =
        gauge(
            "leakwatch.outstanding.allocations", null, "unfreed allocations per allocator module");
    stackBytes =
        gauge(
            "leakwatch.stack.outstanding",
            "bytes",
            "unfreed bytes of the top stacks of each process name");
    suspectScore =
        MultiGauge.builder("leakwatch.leak.suspect.score")
            .description(
                "leak score 0-1 (sustained growth x held by old allocations) of the top leak suspects of each process name,"
                    + " ranked by score x outstanding bytes; the highest score among the process's instances")
            .register(registry);
    privateBytes =
        gauge("leakwatch.process.private", "bytes", "private bytes (smaps Private_* + Swap)");
    virtualBytes = gauge("leakwatch.process.virtual", "bytes", "virtual bytes (VmSize)");
    residentBytes = gauge("leakwatch.process.resident", "bytes", "resident bytes (VmRSS)");
    managedHeapBytes =
        gauge("leakwatch.process.managed.heap", "bytes", "managed (JVM) heap in use");
    openFds = gauge("leakwatch.process.open.fds", null, "open file descriptors");
    startTime = gauge("leakwatch.process.start.time", "seconds", "process start, epoch seconds");
    regionBytes =
        gauge(
            "leakwatch.process.region",
            "bytes",
            "committed bytes (resident + swapped) by region kind: heap, anonymous, image, stack, shared (!address -summary)");
    regionReservedBytes =
        gauge(
            "leakwatch.process.region.reserved", "bytes", "reserved address space by region kind");
    fragmentation =
        MultiGauge.builder("leakwatch.heap.fragmentation.ratio")
            .description("free / total bytes in glibc's arenas (mallinfo2)")
            .register(registry);
  }

  private MultiGauge gauge(String name, String unit, String description) {
    MultiGauge.Builder b = MultiGauge.builder(name).description(description);
    if (unit != null) b.baseUnit(unit);
    return b.register(registry);
  }

  /**
   * Where the leak scores come from (the pages' history takes a snapshot of every process's stacks
   * each minute).
   */
  public void useHistory(History h) {
    this.history = h;
  }

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /** When the latest refresh began (System.nanoTime), and what it rendered. */
  private long refreshBeganNs;

  private String lastExposition;

  /**
   * Recomputes every row from the stores, then renders the exposition. Scrapes that arrive while
   * one is computing take the result of the next one to begin after they arrived, never an older
   * one, so concurrent scrapers (two Prometheus servers, a retrying client) cost one computation,
   * not one each in a queue that grows while a big process makes each computation slow.
   */
  public String scrape() {
    long arrived = System.nanoTime();
    synchronized (this) {
      if (lastExposition != null && refreshBeganNs - arrived >= 0) return lastExposition;
      refreshBeganNs = System.nanoTime();
      lastExposition = null; // a refresh that fails hands nothing to the scrapes waiting for it
      try {
        refresh();
      } catch (InvalidStateStoreException e) {
        // Rebalancing or restoring: report nothing rather than rows for partitions that may have
        // moved to another instance (Prometheus would sum both). The next scrape fills in again.
        clearRows();
      }
      lastExposition = registry.scrape();
      return lastExposition;
    }
  }

  private void clearRows() {
    for (MultiGauge g :
        new MultiGauge[] {
          outstandingBytes,
          outstandingAllocations,
          stackBytes,
          suspectScore,
          privateBytes,
          virtualBytes,
          residentBytes,
          managedHeapBytes,
          openFds,
          startTime,
          fragmentation,
          regionBytes,
          regionReservedBytes
        }) {
      g.register(List.of(), true);
    }
  }

  private void refresh() {
    Map<Tags, double[]> byAllocator = new HashMap<>();
    Map<String, Map<String, double[]>> stacksByProcess = new HashMap<>();
    Map<String, String> allocatorOf = new HashMap<>();
    Map<String, String> culpritOf = new HashMap<>();
    Map<Tags, double[]> memory = new HashMap<>();
    Map<Tags, double[]> lostByProcess = new HashMap<>();
    Map<Tags, double[]> regions = new HashMap<>();
    for (KeyValue<String, ProcessState> kv : reports.liveProcesses()) {
      ProcessState st = kv.value;
      String host = st.getHost();
      String name = st.getName();
      Tags hp = Tags.of("host", host, "process", name);
      reports.forEachOutstanding(
          kv.key,
          row -> {
            String stack = Keys.parseOutstanding(row.key).stackId();
            String allocator =
                allocatorOf.computeIfAbsent(
                    stack,
                    id -> {
                      culpritOf.put(id, reports.culpritOf(id));
                      return reports.allocatorOf(id);
                    });
            double[] a =
                byAllocator.computeIfAbsent(hp.and("allocator", allocator), t -> new double[2]);
            a[0] += row.value.getBytes();
            a[1] += row.value.getAllocations();
            stacksByProcess.computeIfAbsent(name, n -> new HashMap<>())
                    .computeIfAbsent(stack, s -> new double[1])[0] +=
                row.value.getBytes();
          });
      // private, virtual, resident, managed, fds, start time, has-sample, has-managed, heap arena,
      // heap free
      double[] m = memory.computeIfAbsent(hp, t -> new double[10]);
      CounterSample c = reports.counters(kv.key);
      if (c != null) {
        m[0] += c.getPrivateBytes();
        m[1] += c.getVirtualBytes();
        m[2] += c.getResidentBytes();
        if (c.getManagedHeapBytes() != null) {
          m[3] += c.getManagedHeapBytes();
          m[7] = 1;
        }
        if (c.getOpenFds() != null) m[4] += c.getOpenFds();
        if (c.getStartTimeSeconds() != null) m[5] = Math.max(m[5], c.getStartTimeSeconds());
        if (c.getRegions() != null) {
          c.getRegions()
              .forEach(
                  (k, v) -> {
                    boolean reserved = k.endsWith(":reserved");
                    String kind = reserved ? k.substring(0, k.length() - ":reserved".length()) : k;
                    regions
                            .computeIfAbsent(hp.and("region", kind), t -> new double[2])[
                            reserved ? 1 : 0] +=
                        v;
                  });
        }
        if (c.getHeapArenaBytes() != null && c.getHeapFreeBytes() != null) {
          m[8] += c.getHeapArenaBytes();
          m[9] += c.getHeapFreeBytes();
        }
        m[6] = 1;
      }
      lostByProcess.computeIfAbsent(hp, t -> new double[1])[0] += st.getLostEvents();
    }
    List<MultiGauge.Row<?>> bytes = new ArrayList<>(), allocs = new ArrayList<>();
    byAllocator.forEach(
        (tags, v) -> {
          bytes.add(MultiGauge.Row.of(tags, v[0]));
          allocs.add(MultiGauge.Row.of(tags, v[1]));
        });
    outstandingBytes.register(bytes, true);
    outstandingAllocations.register(allocs, true);

    List<MultiGauge.Row<?>> stackRows = new ArrayList<>();
    stacksByProcess.forEach(
        (process, stacks) -> {
          PriorityQueue<Map.Entry<String, double[]>> top =
              new PriorityQueue<>((x, y) -> Double.compare(x.getValue()[0], y.getValue()[0]));
          for (Map.Entry<String, double[]> e : stacks.entrySet()) {
            top.add(e);
            if (top.size() > topK) top.poll();
          }
          for (Map.Entry<String, double[]> e : top) {
            stackRows.add(
                MultiGauge.Row.of(
                    Tags.of(
                        "process",
                        process,
                        "stack",
                        e.getKey(),
                        "culprit",
                        culpritOf.getOrDefault(e.getKey(), "[unresolved]")),
                    e.getValue()[0]));
          }
        });
    stackBytes.register(stackRows, true);

    // Leak suspects: per process name, the stacks with the highest score x bytes.
    Map<String, Map<String, double[]>> suspects =
        new HashMap<>(); // name -> stack -> {score, bytes}
    Map<String, String> suspectCulprit = new HashMap<>();
    History h = history;
    if (h != null) {
      for (KeyValue<String, ProcessState> kv : reports.liveProcesses()) {
        h.latest(kv.key)
            .ifPresent(
                snap ->
                    snap.stacks()
                        .forEach(
                            (id, at) -> {
                              if (Double.isNaN(at.score())) return;
                              double[] v =
                                  suspects
                                      .computeIfAbsent(kv.value.getName(), n -> new HashMap<>())
                                      .computeIfAbsent(id, x -> new double[2]);
                              v[0] = Math.max(v[0], at.score());
                              v[1] += at.bytes();
                              suspectCulprit.put(id, at.culprit());
                            }));
      }
    }
    List<MultiGauge.Row<?>> suspectRows = new ArrayList<>();
    suspects.forEach(
        (process, stacks) -> {
          PriorityQueue<Map.Entry<String, double[]>> top =
              new PriorityQueue<>(
                  (x, y) ->
                      Double.compare(
                          x.getValue()[0] * x.getValue()[1], y.getValue()[0] * y.getValue()[1]));
          for (Map.Entry<String, double[]> e : stacks.entrySet()) {
            top.add(e);
            if (top.size() > topK) top.poll();
          }
          for (Map.Entry<String, double[]> e : top) {
            suspectRows.add(
                MultiGauge.Row.of(
                    Tags.of(
                        "process",
                        process,
                        "stack",
                        e.getKey(),
                        "culprit",
                        suspectCulprit.getOrDefault(e.getKey(), "[unresolved]")),
                    e.getValue()[0]));
          }
        });
    suspectScore.register(suspectRows, true);

    List<MultiGauge.Row<?>> priv = new ArrayList<>(),
        virt = new ArrayList<>(),
        res = new ArrayList<>(),
        managed = new ArrayList<>(),
        fds = new ArrayList<>(),
        start = new ArrayList<>(),
        frag = new ArrayList<>();
    updateLostCounters(lostByProcess);
    memory.forEach(
        (tags, m) -> {
          if (m[6] == 0) return; // no counter sample yet
          priv.add(MultiGauge.Row.of(tags, m[0]));
          virt.add(MultiGauge.Row.of(tags, m[1]));
          res.add(MultiGauge.Row.of(tags, m[2]));
          if (m[7] == 1) managed.add(MultiGauge.Row.of(tags, m[3]));
          fds.add(MultiGauge.Row.of(tags, m[4]));
          if (m[5] > 0) start.add(MultiGauge.Row.of(tags, m[5]));
          if (m[8] > 0) frag.add(MultiGauge.Row.of(tags, m[9] / m[8]));
        });
    privateBytes.register(priv, true);
    virtualBytes.register(virt, true);
    residentBytes.register(res, true);
    managedHeapBytes.register(managed, true);
    openFds.register(fds, true);
    startTime.register(start, true);
    fragmentation.register(frag, true);
    List<MultiGauge.Row<?>> committedRows = new ArrayList<>(), reservedRows = new ArrayList<>();
    regions.forEach(
        (tags, v) -> {
          committedRows.add(MultiGauge.Row.of(tags, v[0]));
          reservedRows.add(MultiGauge.Row.of(tags, v[1]));
        });
    regionBytes.register(committedRows, true);
    regionReservedBytes.register(reservedRows, true);
  }

  private void updateLostCounters(Map<Tags, double[]> current) {
    current.forEach(
        (tags, v) ->
            lostEvents
                .computeIfAbsent(
                    tags,
                    t -> {
                      AtomicLong holder = new AtomicLong();
                      lostCounters.put(
                          t,
                          FunctionCounter.builder(
                                  "leakwatch.lost.events", holder, AtomicLong::doubleValue)
                              .description("events dropped before Kafka (cumulative per process)")
                              .tags(t)
                              .register(registry));
                      return holder;
                    })
                .set((long) v[0]));
    for (Tags gone : new ArrayList<>(lostEvents.keySet())) {
      if (!current.containsKey(gone)) {
        registry.remove(lostCounters.remove(gone));
        lostEvents.remove(gone);
      }
    }
  }
}
