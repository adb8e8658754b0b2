package io.leakwatch.streams.topology;

import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.AllocationKind;
import io.leakwatch.schemas.CounterSample;
import io.leakwatch.schemas.EventBatch;
import io.leakwatch.schemas.EventType;
import io.leakwatch.schemas.ExitReport;
import io.leakwatch.schemas.ProcessExited;
import io.leakwatch.schemas.ProcessMessage;
import io.leakwatch.schemas.ProcessStarted;
import io.leakwatch.schemas.Resync;
import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.streams.score.LeakScore;
import io.leakwatch.streams.score.StackAges;
import io.leakwatch.streams.state.LiveAllocation;
import io.leakwatch.streams.state.Outstanding;
import io.leakwatch.streams.state.ProcessState;
import io.leakwatch.streams.state.StackTrend;
import io.leakwatch.streams.stores.Keys;
import io.leakwatch.streams.stores.StoreNames;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Joins allocations with frees. A batch of one process's events (in sequence order) is matched
 * against the live-allocation store through a local overlay, and the resulting changes to the
 * outstanding aggregates are summed per (kind, stack, size) before the store is touched, so a batch
 * of thousands of events costs one read and one write per distinct row, not per event.
 *
 * <p>Rules: an event whose sequence number is not above the last applied one is a duplicate (a
 * collector re-sent it) and is skipped; a free of an address not live is counted and ignored, so
 * nothing goes negative; an allocation at an address still live means its free was lost, and the
 * old allocation is retired. A process exit keeps a report snapshot and retires the live state.
 */
public final class AllocationMatcher
    implements Processor<String, ProcessMessage, String, ExitReport> {
  private static final StringSerializer KEYS = new StringSerializer();

  private ProcessorContext<String, ExitReport> context;
  private KeyValueStore<String, LiveAllocation> live;
  private KeyValueStore<String, Outstanding> outstanding;
  private KeyValueStore<String, ProcessState> processes;
  private KeyValueStore<String, CounterSample> counters;
  private KeyValueStore<String, String> exitReports;
  private KeyValueStore<String, StackDefinition> stacks;
  private KeyValueStore<String, StackTrend> trends;
  private final long trendWindowMs;
  private final long exitRetentionMs;
  private final long staleAfterMs;
  private final ExitReportMaker exitReportMaker;

  public AllocationMatcher(TopologyOptions options) {
    this.exitReportMaker = options.exitReports();
    this.trendWindowMs = options.trendWindowMs();
    this.exitRetentionMs = options.exitRetentionMs();
    this.staleAfterMs = options.staleAfterMs();
  }

  @Override
  public void init(ProcessorContext<String, ExitReport> context) {
    this.context = context;
    this.live = context.getStateStore(StoreNames.LIVE);
    this.outstanding = context.getStateStore(StoreNames.OUTSTANDING);
    this.processes = context.getStateStore(StoreNames.PROCESSES);
    this.counters = context.getStateStore(StoreNames.COUNTERS);
    this.exitReports = context.getStateStore(StoreNames.EXIT_REPORTS);
    this.stacks = context.getStateStore(StoreNames.STACKS);
    this.trends = context.getStateStore(StoreNames.TRENDS);
    // Exited processes are forgotten after the retention: a fleet's pids churn for months.
    long every = Math.max(1_000, Math.min(600_000, Math.min(exitRetentionMs, staleAfterMs) / 10));
    context.schedule(Duration.ofMillis(every), PunctuationType.WALL_CLOCK_TIME, this::expireExited);
  }

  /**
   * Deletes exited processes older than the retention, with a tombstone for their exit report, and
   * retires live ones that went silent (no events, no counters) for longer than the staleness
   * limit.
   */
  void expireExited(long nowMs) {
    List<String> expired = new ArrayList<>();
    List<KeyValue<String, ProcessState>> silent = new ArrayList<>();
    try (KeyValueIterator<String, ProcessState> it = processes.all()) {
      it.forEachRemaining(
          kv -> {
            if (kv.value.getExited() && nowMs - kv.value.getExitedAtMs() > exitRetentionMs)
              expired.add(kv.key);
            if (!kv.value.getExited()
                && kv.value.getLastEventMs() > 0
                && nowMs - kv.value.getLastEventMs() > staleAfterMs) silent.add(kv);
          });
    }
    for (KeyValue<String, ProcessState> kv : silent) {
      retire(kv.key, kv.value, nowMs, false, kv.value.getLostEvents(), nowMs);
    }
    for (String pk : expired) {
      processes.delete(pk);
      exitReports.delete(pk);
      context.forward(new Record<String, ExitReport>(pk, null, nowMs));
    }
  }

  @Override
  public void process(Record<String, ProcessMessage> record) {
    ProcessMessage m = record.value();
    if (m == null || m.getBody() == null) return;
    String pk = Keys.process(m.getHost(), m.getPid());
    Keys.requireKeyMatches(record.key(), pk);
    ProcessState state = processes.get(pk);
    Object body = m.getBody();
    if (body instanceof ProcessStarted s) {
      onStarted(pk, m, s, state);
    } else if (body instanceof EventBatch b) {
      onBatch(pk, m, b, state, record.timestamp());
    } else if (body instanceof ProcessExited e) {
      onExited(pk, e, state, record.timestamp());
    }
  }

  private void onStarted(String pk, ProcessMessage m, ProcessStarted s, ProcessState state) {
    if (state != null
        && state.getProcessStartTicks() == m.getProcessStartTicks()
        && !state.getExited()) {
      // The collector announced this process again (it restarted): refresh what it says about it.
      state.setName(s.getName());
      state.setCommand(s.getCommand());
      processes.put(pk, state);
      return;
    }
    if (state != null && !state.getExited()) {
      // The pid was reused and we never saw the old process exit: retire it as killed.
      long now = System.currentTimeMillis();
      retire(pk, state, now, false, state.getLostEvents(), now);
    }
    ProcessState fresh = newState(pk, m);
    fresh.setName(s.getName());
    fresh.setCommand(s.getCommand());
    fresh.setStartedAtMs(s.getStartedAtMs());
    fresh.setSampleBytes(s.getSampleBytes());
    processes.put(pk, fresh);
    exitReports.delete(pk);
  }

  private static ProcessState newState(String pk, ProcessMessage m) {
    return ProcessState.newBuilder()
        .setHost(m.getHost())
        .setPid(m.getPid())
        .setProcessStartTicks(m.getProcessStartTicks())
        .setLastEventMs(System.currentTimeMillis())
        .build();
  }

  private void onBatch(
      String pk, ProcessMessage m, EventBatch batch, ProcessState state, long timestampMs) {
    if (state == null
        || (state.getExited() && state.getProcessStartTicks() != m.getProcessStartTicks())) {
      state = newState(pk, m); // events before (or without) a start announcement
    }
    if (state.getExited()) {
      state.setDuplicateEvents(state.getDuplicateEvents() + batch.getEvents().size());
      processes.put(pk, state);
      return;
    }
    // Heap blocks by address in a Long-keyed overlay (the hot path); mappings in their own, by key.
    Map<Long, LiveAllocation> overlay = new HashMap<>();
    Set<Long> inStore = new HashSet<>(); // addresses the store held before this batch
    Map<String, LiveAllocation> mapOverlay = new HashMap<>();
    Map<Row, double[]> deltas = new HashMap<>();
    long lastSeq = state.getLastSeq();
    long[] counts = new long[3]; // duplicates, unknown frees, replaced allocations
    for (AllocationEvent ev : batch.getEvents()) {
      if (ev.getSeq() <= lastSeq) {
        counts[0]++;
        continue;
      }
      lastSeq = ev.getSeq();
      if (ev.getKind() == AllocationKind.MMAP) {
        applyMapping(pk, ev, mapOverlay, deltas, counts);
        continue;
      }
      Long address = ev.getAddress();
      LiveAllocation current;
      if (overlay.containsKey(address)) {
        current = overlay.get(address);
      } else {
        current = live.get(Keys.live(pk, address));
        if (current != null) inStore.add(address);
      }
      if (ev.getType() == EventType.ALLOC) {
        if (current != null) {
          counts[2]++;
          addDelta(deltas, current, -1);
        }
        LiveAllocation a = allocation(ev, ev.getSize(), ev.getWeight());
        overlay.put(address, a);
        addDelta(deltas, a, +1);
      } else if (current == null) {
        counts[1]++;
      } else {
        overlay.put(address, null);
        addDelta(deltas, current, -1);
      }
    }
    long duplicates = counts[0], unknownFrees = counts[1], replaced = counts[2];
    List<KeyValue<String, LiveAllocation>> puts = new ArrayList<>();
    for (Map.Entry<Long, LiveAllocation> e : overlay.entrySet()) {
      if (e.getValue() != null) {
        puts.add(KeyValue.pair(Keys.live(pk, e.getKey()), e.getValue()));
      } else if (inStore.contains(e.getKey())) {
        live.delete(
            Keys.live(
                pk,
                e.getKey())); // born and freed within the batch: never stored, nothing to delete
      }
    }
    for (Map.Entry<String, LiveAllocation> e : mapOverlay.entrySet()) {
      if (e.getValue() == null) {
        live.delete(e.getKey());
      } else {
        puts.add(KeyValue.pair(e.getKey(), e.getValue()));
      }
    }
    if (!puts.isEmpty()) live.putAll(puts);
    if (batch.getResync() != null) applyResync(pk, batch.getResync(), deltas, state);
    Map<Long, Double> byStack = new HashMap<>();
    for (Map.Entry<Row, double[]> d : deltas.entrySet()) {
      double[] v = d.getValue();
      if (v[2] == 0 && v[0] == 0 && v[1] == 0) continue;
      Row row = d.getKey();
      byStack.merge(row.stackId(), v[0], Double::sum);
      String key = Keys.outstanding(pk, row.kind(), row.stackId(), row.size());
      Outstanding o = outstanding.get(key);
      double bytes = v[0], allocations = v[1];
      long samples = (long) v[2];
      if (o != null) {
        bytes += o.getBytes();
        allocations += o.getAllocations();
        samples += o.getSamples();
      }
      if (samples <= 0) {
        outstanding.delete(key);
      } else {
        outstanding.put(key, new Outstanding(bytes, allocations, samples));
      }
    }
    // The leak score's trend: each stack's outstanding bytes per window of stream time.
    for (Map.Entry<Long, Double> e : byStack.entrySet()) {
      String key = Keys.trend(pk, Keys.hex16(e.getKey()));
      trends.put(key, LeakScore.roll(trends.get(key), e.getValue(), timestampMs, trendWindowMs));
    }
    state.setLastSeq(lastSeq);
    state.setDuplicateEvents(state.getDuplicateEvents() + duplicates);
    state.setUnknownFrees(state.getUnknownFrees() + unknownFrees);
    state.setReplacedAllocations(state.getReplacedAllocations() + replaced);
    state.setLostEvents(Math.max(state.getLostEvents(), batch.getLostEvents()));
    state.setLastEventMs(System.currentTimeMillis());
    processes.put(pk, state);
  }

  /**
   * Converges the live store to the shim's list after an overflow: an entry recorded before the
   * list began and not on it was freed (its free was lost); a listed address unknown here was
   * allocated (its allocation was lost: stack id 0, "lost stack"); a listed address known here with
   * another size was both (the block there was freed and the address reused). Entries after the
   * list began, and addresses the collector saw touched inside the window, are left to their own
   * events.
   */
  private void applyResync(
      String pk, Resync resync, Map<Row, double[]> deltas, ProcessState state) {
    Map<Long, Integer> listed = new HashMap<>();
    for (int i = 0; i < resync.getAddresses().size(); i++)
      listed.put(resync.getAddresses().get(i), i);
    String prefix = Keys.prefix(pk);
    List<KeyValue<String, LiveAllocation>> heap = new ArrayList<>();
    try (KeyValueIterator<String, LiveAllocation> it = live.prefixScan(prefix, KEYS)) {
      while (it.hasNext()) {
        KeyValue<String, LiveAllocation> kv = it.next();
        if (kv.value.getKind() == 0 && kv.key.indexOf('/', prefix.length()) < 0) heap.add(kv);
      }
    }
    long freed = 0, added = 0;
    for (KeyValue<String, LiveAllocation> kv : heap) {
      long address = Long.parseUnsignedLong(kv.key.substring(prefix.length()), 16);
      if (kv.value.getSeq() >= resync.getFromSeq()) {
        listed.remove(address); // newer than the list: its own event settles it
        continue;
      }
      Integer i = listed.get(address);
      if (i != null && resync.getSizes().get(i) == kv.value.getSize()) {
        listed.remove(
            address); // on both sides: the same block (or one of the same size, which counts the
        // same)
        continue;
      }
      // Not listed: its free was dropped. Listed with another size: the address was reused while
      // both
      // the free and the new allocation were dropped; the listed block is restored below.
      live.delete(kv.key);
      addDelta(deltas, kv.value, -1);
      freed++;
    }
    for (Map.Entry<Long, Integer> e : listed.entrySet()) {
      int i = e.getValue();
      LiveAllocation a =
          LiveAllocation.newBuilder()
              .setStackId(0)
              .setSize(resync.getSizes().get(i))
              .setWeight(resync.getWeights().get(i))
              .setKind(0)
              .setTimestampNs(System.currentTimeMillis() * 1_000_000L)
              .setSeq(resync.getFromSeq())
              .build();
      live.put(Keys.live(pk, e.getKey()), a);
      addDelta(deltas, a, +1);
      added++;
    }
    state.setResyncs(state.getResyncs() + 1);
    state.setResyncedFrees(state.getResyncedFrees() + freed);
    state.setResyncedAllocations(state.getResyncedAllocations() + added);
  }

  private static LiveAllocation allocation(AllocationEvent ev, long size, double weight) {
    return LiveAllocation.newBuilder()
        .setStackId(ev.getStackId())
        .setSize(size)
        .setWeight(weight)
        .setKind(ev.getKind().ordinal())
        .setTimestampNs(ev.getTimestampNs())
        .setSeq(ev.getSeq())
        .build();
  }

  /**
   * A mapping or an unmap of a range. An unmap may cover part of a mapping (what is left stays
   * outstanding, as one or two smaller mappings with the original stack and time) or several.
   */
  private void applyMapping(
      String pk,
      AllocationEvent ev,
      Map<String, LiveAllocation> overlay,
      Map<Row, double[]> deltas,
      long[] counts) {
    if (ev.getType() == EventType.ALLOC) {
      String key = Keys.liveMapping(pk, ev.getAddress());
      LiveAllocation current = overlay.containsKey(key) ? overlay.get(key) : live.get(key);
      if (current != null) {
        counts[2]++;
        addDelta(deltas, current, -1);
      }
      LiveAllocation a = allocation(ev, ev.getSize(), ev.getSize());
      overlay.put(key, a);
      addDelta(deltas, a, +1);
      return;
    }
    long start = ev.getAddress();
    long end = start + Math.max(ev.getSize(), 1);
    Map<String, LiveAllocation> mappings = new HashMap<>();
    try (KeyValueIterator<String, LiveAllocation> it =
        live.prefixScan(Keys.mappingPrefix(pk), KEYS)) {
      it.forEachRemaining(kv -> mappings.put(kv.key, kv.value));
    }
    String prefix = Keys.mappingPrefix(pk);
    overlay.forEach(
        (k, v) -> {
          if (k.startsWith(prefix)) mappings.put(k, v); // null: unmapped earlier in this batch
        });
    boolean hit = false;
    for (Map.Entry<String, LiveAllocation> m : mappings.entrySet()) {
      LiveAllocation a = m.getValue();
      if (a == null) continue;
      long mStart = Long.parseUnsignedLong(m.getKey().substring(prefix.length()), 16);
      long mEnd = mStart + a.getSize();
      if (Long.compareUnsigned(mStart, end) >= 0 || Long.compareUnsigned(start, mEnd) >= 0)
        continue;
      hit = true;
      overlay.put(m.getKey(), null);
      addDelta(deltas, a, -1);
      if (Long.compareUnsigned(mStart, start) < 0) { // the part below the unmapped range stays
        LiveAllocation left =
            LiveAllocation.newBuilder(a).setSize(start - mStart).setWeight(start - mStart).build();
        overlay.put(Keys.liveMapping(pk, mStart), left);
        addDelta(deltas, left, +1);
      }
      if (Long.compareUnsigned(end, mEnd) < 0) { // and the part above it
        LiveAllocation right =
            LiveAllocation.newBuilder(a).setSize(mEnd - end).setWeight(mEnd - end).build();
        overlay.put(Keys.liveMapping(pk, end), right);
        addDelta(deltas, right, +1);
      }
    }
    if (!hit) counts[1]++;
  }

  /**
   * One row of the outstanding aggregate: kind, stack, size (its store key is built once per
   * batch).
   */
  record Row(int kind, long stackId, long size) {}

  private static void addDelta(Map<Row, double[]> deltas, LiveAllocation a, int sign) {
    double[] v =
        deltas.computeIfAbsent(
            new Row(a.getKind(), a.getStackId(), a.getSize()), k -> new double[3]);
    v[0] += sign * a.getWeight();
    v[1] += sign * (a.getSize() > 0 ? a.getWeight() / a.getSize() : 1.0);
    v[2] += sign;
  }

  private void onExited(String pk, ProcessExited e, ProcessState state, long timestamp) {
    if (state == null || state.getExited()) return; // never seen, or a repeated exit
    retire(
        pk,
        state,
        e.getExitedAtMs(),
        e.getClean(),
        Math.max(state.getLostEvents(), e.getLostEvents()),
        timestamp);
  }

  /**
   * @param recordTimestamp the Kafka timestamp of the exit report: the input record's, never a time
   *     taken from the record's body (a host's skewed clock or a corrupt value beyond the broker's
   *     message.timestamp.after.max.ms would get the write refused and stop the instance)
   */
  private void retire(
      String pk,
      ProcessState state,
      long exitedAtMs,
      boolean clean,
      long lost,
      long recordTimestamp) {
    state.setExited(true);
    state.setExitedAtMs(exitedAtMs);
    state.setCleanExit(clean);
    state.setLostEvents(lost);
    Map<Long, StackTrend> byStack = new HashMap<>();
    StackAges ages;
    try (KeyValueIterator<String, StackTrend> t = trends.prefixScan(Keys.prefix(pk), KEYS);
        KeyValueIterator<String, LiveAllocation> l = live.prefixScan(Keys.prefix(pk), KEYS)) {
      ages = StackAges.scan(t, l, recordTimestamp, trendWindowMs, byStack);
    }
    ExitReportMaker.ExitReportJson made =
        exitReportMaker.make(
            new ExitReportMaker.ProcessAtExit(
                state, rows(pk), ages, byStack, counters.get(pk), exitedAtMs, stacks::get));
    exitReports.put(pk, made.snapshotJson());
    context.forward(
        new Record<>(
            pk,
            new ExitReport(state.getHost(), state.getPid(), exitedAtMs, made.reportJson()),
            recordTimestamp));
    deletePrefix(live, pk);
    deletePrefix(outstanding, pk);
    deletePrefix(trends, pk);
    counters.delete(pk);
    processes.put(pk, state);
  }

  private List<KeyValue<String, Outstanding>> rows(String pk) {
    List<KeyValue<String, Outstanding>> out = new ArrayList<>();
    try (KeyValueIterator<String, Outstanding> it = outstanding.prefixScan(Keys.prefix(pk), KEYS)) {
      it.forEachRemaining(out::add);
    }
    return out;
  }

  private static <V> void deletePrefix(KeyValueStore<String, V> store, String pk) {
    List<String> keys = new ArrayList<>();
    try (KeyValueIterator<String, V> it = store.prefixScan(Keys.prefix(pk), KEYS)) {
      it.forEachRemaining(kv -> keys.add(kv.key));
    }
    keys.forEach(store::delete);
  }
}
