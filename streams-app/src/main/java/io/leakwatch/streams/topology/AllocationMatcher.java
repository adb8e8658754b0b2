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
import io.leakwatch.schemas.Topics;
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
import java.util.LinkedHashMap;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Joins allocations with frees. A batch of one process's events (in sequence order) is matched
 * against the live-allocation store through a local overlay, and the resulting changes to the
 * outstanding aggregates are summed per (kind, stack, size) before the store is touched, so a batch
 * of thousands of events costs one read and one write per distinct row, not per event.
 *
 * <p>Rules: an event whose sequence number is not above the last applied one is a duplicate (a
 * collector re-sent it) and is skipped; a batch that continues one of its collector round that was
 * not applied is left for the collector's retry of that round; a free of an address not live is
 * counted and ignored, so nothing goes negative; an allocation at an address still live means its
 * free was lost, and the old allocation is retired. A process exit keeps a report snapshot and
 * retires the live state.
 */
public final class AllocationMatcher
    implements Processor<String, ProcessMessage, String, ExitReport> {
  private static final Logger log = LoggerFactory.getLogger(AllocationMatcher.class);
  private static final StringSerializer KEYS = new StringSerializer();

  /** LiveAllocation's kind of a heap block (AllocationKind's ordinal, as stored). */
  private static final int HEAP = AllocationKind.HEAP.ordinal();

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

  /**
   * How long an exit waits for the definitions of the process's stacks. They come on another topic,
   * applied by another thread (the global store's), so an exit can be applied before the last of
   * them; its report snapshot is made once, and a stack unnamed then is named later only for the
   * first few thousand (the snapshot is bounded). So the exit waits a little, while stacks are
   * missing, then is applied as it is.
   */
  static final long EXIT_WAITS_FOR_STACKS_MS = 15_000;

  /** Stack id 0: blocks a resync restored, whose stack was never seen (never defined). */
  private static final String NO_STACK = Topics.stackIdHex(0);

  /**
   * Processes whose exit waits for stack definitions, and since when (wall clock). The exit itself
   * is kept in the process's state (exitDeferred*), so a restart or a rebalance does not lose it:
   * this index is rebuilt from the store in {@link #init}.
   */
  private final Map<String, Long> deferredExits = new LinkedHashMap<>();

  /**
   * The stacks a deferred exit still waits for, found by one scan of its rows when it was deferred
   * (or after a restart, at the first check): each check then only asks the stacks store about
   * these. Scanning every row again every 250 ms cost a 100,000-stack process's instance its thread
   * for the whole wait (about 0.4 s a scan), and held every other partition it serves.
   */
  private final Map<String, Set<String>> stillMissing = new HashMap<>();

  /**
   * Rows deleted per punctuation (and at a retirement itself) for a retired process. A process's
   * rows are deleted a bounded number at a time because a task's work between two commits must stay
   * well inside the transaction timeout (10 s by default under exactly-once): deleting a
   * 100,000-stack process's 300,000 rows in the call that retired it took longer than that on a
   * 2-core VM, the broker aborted the transaction, the task restarted from its last commit and did
   * it again (FleetNetnsTest: InvalidProducerEpochException, then minutes of recovery).
   */
  static final int ROWS_DELETED_PER_ROUND = 20_000;

  /**
   * Deletions left until the next round: a retirement between two rounds (an exit, or many
   * processes of a lost host retired in one expiry) uses what the last round left, the rest waits.
   * One exception is unbounded: a pid reused while its old process's rows are still being deleted
   * (within about 1.5 s of a 100,000-stack process's exit) deletes them at once, so that the two
   * processes' rows never mix.
   */
  private int deletionsLeft = ROWS_DELETED_PER_ROUND;

  /**
   * Retired processes whose rows are still being deleted. Kept in their state too (rowsLeft), so a
   * restart or a rebalance carries on: this index is rebuilt from the store in {@link #init}.
   */
  private final Set<String> rowsLeft = new java.util.LinkedHashSet<>();

  /** What this task has read up to: silence is judged against it, not the wall clock. */
  private HeardClock heardClock;

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
    // Kafka Streams may init this same instance again (a task revived after a failed transaction,
    // its stores rolled back to the last commit): what the indexes held may no longer be true.
    deferredExits.clear();
    stillMissing.clear();
    rowsLeft.clear();
    deletionsLeft = ROWS_DELETED_PER_ROUND;
    // Exited processes are forgotten after the retention: a fleet's pids churn for months.
    long every = Math.max(1_000, Math.min(600_000, Math.min(exitRetentionMs, staleAfterMs) / 10));
    context.schedule(Duration.ofMillis(every), PunctuationType.WALL_CLOCK_TIME, this::expireExited);
    context.schedule(
        Duration.ofMillis(250), PunctuationType.WALL_CLOCK_TIME, this::applyDeferredExits);
    context.schedule(
        Duration.ofMillis(100), PunctuationType.WALL_CLOCK_TIME, now -> deleteRetiredRows());
    long lastHeard = context.currentStreamTimeMs();
    try (KeyValueIterator<String, ProcessState> it = processes.all()) {
      while (it.hasNext()) {
        KeyValue<String, ProcessState> kv = it.next();
        String pk = kv.key;
        ProcessState st = kv.value;
        if (!st.getExited() && st.getExitDeferredAtMs() > 0)
          deferredExits.put(pk, st.getExitDeferredAtMs());
        if (st.getExited() && st.getRowsLeft()) rowsLeft.add(pk);
        if (!st.getExited()) lastHeard = Math.max(lastHeard, st.getLastEventMs());
      }
    }
    // After a restore the task's clock starts from what its store last heard, not from the wall
    // clock: the records sent while it was away are still to be read. It starts at the first expiry
    // round (the wall clock is not known to init). A stream time that stood still for half the
    // staleness limit (a minute at least) means the task has read everything.
    heardClock = new HeardClock(lastHeard, Math.max(60_000, staleAfterMs / 2));
  }

  /**
   * A round: {@link #ROWS_DELETED_PER_ROUND} deletions, for the rows of retired processes now and
   * for retirements until the next round.
   */
  void deleteRetiredRows() {
    deletionsLeft = ROWS_DELETED_PER_ROUND;
    for (String pk : List.copyOf(rowsLeft)) {
      if (deletionsLeft <= 0) break;
      deletionsLeft -= deleteRows(pk, deletionsLeft);
    }
  }

  /**
   * Deletes up to {@code budget} of {@code pk}'s rows; when none are left, says so in its state.
   * Returns how many it deleted.
   */
  private int deleteRows(String pk, int budget) {
    ProcessState st = processes.get(pk);
    if (st == null || !st.getExited() || !st.getRowsLeft()) {
      // Not (or no longer) a retired process with rows to go: never delete a live one's.
      rowsLeft.remove(pk);
      return 0;
    }
    int deleted = 0;
    for (KeyValueStore<String, ?> store : List.of(live, outstanding, trends)) {
      deleted += deletePrefix(store, pk, budget - deleted);
      if (deleted >= budget) return deleted;
    }
    rowsLeft.remove(pk);
    st.setRowsLeft(false);
    processes.put(pk, st);
    return deleted;
  }

  /**
   * A new process takes {@code pk} (a reused pid): what is left of the retired one's rows goes
   * first, whatever it costs, so the two are never mixed.
   */
  private void deleteLeftRows(String pk) {
    if (rowsLeft.contains(pk)) deleteRows(pk, Integer.MAX_VALUE);
  }

  /** Applies the exits whose stacks are all named now, or that have waited long enough. */
  void applyDeferredExits(long nowMs) {
    if (deferredExits.isEmpty()) return;
    for (String pk : List.copyOf(deferredExits.keySet())) {
      long since = deferredExits.get(pk);
      if (nowMs - since < EXIT_WAITS_FOR_STACKS_MS && stillMissing(pk) > 0) continue;
      applyDeferredExit(pk);
    }
  }

  /** How many of the stacks {@code pk}'s deferred exit waits for are still unnamed. */
  private int stillMissing(String pk) {
    Set<String> missing = stillMissing.computeIfAbsent(pk, this::stacksMissing);
    missing.removeIf(id -> stacks.get(id) != null);
    return missing.size();
  }

  /** Distinct stacks with outstanding bytes in {@code pk} whose definition has not arrived. */
  private Set<String> stacksMissing(String pk) {
    Set<String> seen = new HashSet<>();
    Set<String> missing = new HashSet<>();
    try (KeyValueIterator<String, Outstanding> it = outstanding.prefixScan(Keys.prefix(pk), KEYS)) {
      while (it.hasNext()) {
        String id = Keys.parseOutstanding(it.next().key).stackId();
        if (!NO_STACK.equals(id) && seen.add(id) && stacks.get(id) == null) missing.add(id);
      }
    }
    return missing;
  }

  /**
   * Deletes exited processes older than the retention, with a tombstone for their exit report, and
   * retires live ones that went silent (no events, no counters) for longer than the staleness
   * limit.
   */
  void expireExited(long nowMs) {
    long heardNow = heardClock.now(context.currentStreamTimeMs(), nowMs);
    List<String> expired = new ArrayList<>();
    List<KeyValue<String, ProcessState>> silent = new ArrayList<>();
    try (KeyValueIterator<String, ProcessState> it = processes.all()) {
      it.forEachRemaining(
          kv -> {
            if (kv.value.getExited() && nowMs - kv.value.getExitedAtMs() > exitRetentionMs)
              expired.add(kv.key);
            if (!kv.value.getExited()
                && kv.value.getLastEventMs() > 0
                && heardNow - kv.value.getLastEventMs() > staleAfterMs) silent.add(kv);
          });
    }
    for (KeyValue<String, ProcessState> kv : silent) {
      retire(kv.key, kv.value, nowMs, false, kv.value.getLostEvents(), nowMs);
    }
    if (!silent.isEmpty())
      log.info(
          "retired {} process(es) as gone, silent for over {} s in what this task has read (up to {},"
              + " {} s behind the wall clock): {}",
          silent.size(),
          staleAfterMs / 1000,
          java.time.Instant.ofEpochMilli(heardNow),
          (nowMs - heardNow) / 1000,
          silent.stream().limit(5).map(kv -> kv.key).toList()
              + (silent.size() > 5 ? " and " + (silent.size() - 5) + " more" : ""));
    for (String pk : expired) {
      deleteLeftRows(pk);
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
    // Anything after an exit (a new image under the same pid): the waiting exit goes first.
    if (deferredExits.containsKey(pk)) applyDeferredExit(pk);
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
      heardFrom(state);
      processes.put(pk, state);
      return;
    }
    if (state != null && !state.getExited()) {
      // The pid was reused and we never saw the old process exit: retire it as killed.
      long now = context.currentSystemTimeMs();
      retire(pk, state, now, false, state.getLostEvents(), now);
    }
    deleteLeftRows(pk);
    ProcessState fresh = newState(pk, m);
    fresh.setName(s.getName());
    fresh.setCommand(s.getCommand());
    fresh.setStartedAtMs(s.getStartedAtMs());
    fresh.setSampleBytes(s.getSampleBytes());
    fresh.setAttached(s.getAttached());
    processes.put(pk, fresh);
    exitReports.delete(pk);
  }

  /** Notes that a record of the process was read now (see {@link HeardClock}). */
  private void heardFrom(ProcessState state) {
    long heard = HeardClock.stamp(context.currentStreamTimeMs(), context.currentSystemTimeMs());
    state.setLastEventMs(Math.max(state.getLastEventMs(), heard));
  }

  /** A process's first state, as one of its records is read. */
  private ProcessState newState(String pk, ProcessMessage m) {
    return ProcessState.newBuilder()
        .setHost(m.getHost())
        .setPid(m.getPid())
        .setProcessStartTicks(m.getProcessStartTicks())
        .setLastEventMs(
            HeardClock.stamp(context.currentStreamTimeMs(), context.currentSystemTimeMs()))
        .setTotalsKept(true)
        .build();
  }

  private void onBatch(
      String pk, ProcessMessage m, EventBatch batch, ProcessState state, long timestampMs) {
    if (state == null
        || (state.getExited() && state.getProcessStartTicks() != m.getProcessStartTicks())) {
      deleteLeftRows(pk);
      state = newState(pk, m); // events before (or without) a start announcement
    }
    if (state.getExited()) {
      state.setDuplicateEvents(state.getDuplicateEvents() + batch.getEvents().size());
      processes.put(pk, state);
      return;
    }
    if (batch.getContinuesAfterSeq() > state.getLastSeq()) {
      // The record before it in its collector round never arrived (Kafka failed it and delivered
      // this one): that round failed, and its retry sends both again. Applied now, this one would
      // make the missing one's events look like duplicates when they come.
      log.warn(
          "process {}: a record continuing after event {} arrived without it (last applied {});"
              + " left for the collector's retry",
          pk,
          batch.getContinuesAfterSeq(),
          state.getLastSeq());
      return;
    }
    LiveOverlay overlay = new LiveOverlay();
    BatchEffects effects = new BatchEffects();
    long lastSeq = applyEvents(pk, batch, state.getLastSeq(), overlay, effects);
    writeLive(pk, overlay);
    if (batch.getResync() != null) applyResync(pk, batch.getResync(), effects, state);
    writeOutstanding(pk, effects, timestampMs, state);
    state.setLastSeq(lastSeq);
    state.setDuplicateEvents(state.getDuplicateEvents() + effects.duplicates);
    state.setUnknownFrees(state.getUnknownFrees() + effects.unknownFrees);
    state.setReplacedAllocations(state.getReplacedAllocations() + effects.replaced);
    state.setLostEvents(Math.max(state.getLostEvents(), batch.getLostEvents()));
    heardFrom(state);
    processes.put(pk, state);
  }

  /**
   * A batch's view of the live store, written once at its end: heap blocks by address in a
   * Long-keyed map (the hot path), mappings by store key; null marks a block freed in the batch.
   */
  private static final class LiveOverlay {
    final Map<Long, LiveAllocation> heap = new HashMap<>();

    /** Addresses the store held before this batch (only those need a delete). */
    final Set<Long> inStore = new HashSet<>();

    final Map<String, LiveAllocation> mappings = new HashMap<>();
  }

  /**
   * Matches the batch's new events against the live blocks; returns the highest sequence applied.
   */
  private long applyEvents(
      String pk, EventBatch batch, long lastSeq, LiveOverlay overlay, BatchEffects effects) {
    for (AllocationEvent ev : batch.getEvents()) {
      if (ev.getSeq() <= lastSeq) {
        effects.duplicates++;
        continue;
      }
      lastSeq = ev.getSeq();
      if (ev.getKind() == AllocationKind.MMAP) {
        applyMapping(pk, ev, overlay.mappings, effects);
        continue;
      }
      Long address = ev.getAddress();
      LiveAllocation current;
      if (overlay.heap.containsKey(address)) {
        current = overlay.heap.get(address);
      } else {
        current = live.get(Keys.live(pk, address));
        if (current != null) overlay.inStore.add(address);
      }
      if (ev.getType() == EventType.ALLOC) {
        if (current != null) {
          effects.replaced++;
          effects.add(current, -1);
        }
        LiveAllocation a = allocation(ev, ev.getSize(), ev.getWeight());
        overlay.heap.put(address, a);
        effects.add(a, +1);
      } else if (current == null) {
        effects.unknownFrees++;
      } else {
        overlay.heap.put(address, null);
        effects.add(current, -1);
      }
    }
    return lastSeq;
  }

  private void writeLive(String pk, LiveOverlay overlay) {
    List<KeyValue<String, LiveAllocation>> puts = new ArrayList<>();
    for (Map.Entry<Long, LiveAllocation> e : overlay.heap.entrySet()) {
      if (e.getValue() != null) {
        puts.add(KeyValue.pair(Keys.live(pk, e.getKey()), e.getValue()));
      } else if (overlay.inStore.contains(e.getKey())) {
        // (one born and freed within the batch was never stored: nothing to delete)
        live.delete(Keys.live(pk, e.getKey()));
      }
    }
    for (Map.Entry<String, LiveAllocation> e : overlay.mappings.entrySet()) {
      if (e.getValue() == null) {
        live.delete(e.getKey());
      } else {
        puts.add(KeyValue.pair(e.getKey(), e.getValue()));
      }
    }
    if (!puts.isEmpty()) live.putAll(puts);
  }

  /**
   * The outstanding rows the batch changed, then each stack's trend (the leak score's input). The
   * process's totals move by what its rows moved by, so listing processes reads one state each
   * instead of every row (a 100,000-stack process made each listing scan 100,000 rows).
   */
  private void writeOutstanding(
      String pk, BatchEffects effects, long timestampMs, ProcessState state) {
    Map<Long, Double> byStack = new HashMap<>();
    double totalBytes = state.getOutstandingBytes();
    double totalAllocations = state.getOutstandingAllocations();
    for (Map.Entry<BatchEffects.Row, BatchEffects.Delta> d : effects.deltas.entrySet()) {
      BatchEffects.Delta v = d.getValue();
      if (v.isNone()) continue;
      BatchEffects.Row row = d.getKey();
      byStack.merge(row.stackId(), v.bytes, Double::sum);
      String key = Keys.outstanding(pk, row.kind(), row.stackId(), row.size());
      Outstanding o = outstanding.get(key);
      double bytes = v.bytes, allocations = v.allocations;
      long samples = v.samples;
      if (o != null) {
        bytes += o.getBytes();
        allocations += o.getAllocations();
        samples += o.getSamples();
      }
      if (o != null) {
        totalBytes -= o.getBytes();
        totalAllocations -= o.getAllocations();
      }
      if (samples <= 0) {
        outstanding.delete(key);
      } else {
        outstanding.put(key, new Outstanding(bytes, allocations, samples));
        totalBytes += bytes;
        totalAllocations += allocations;
      }
    }
    state.setOutstandingBytes(totalBytes);
    state.setOutstandingAllocations(totalAllocations);
    // Each stack's outstanding bytes per window of stream time.
    for (Map.Entry<Long, Double> e : byStack.entrySet()) {
      String key = Keys.trend(pk, Keys.hex16(e.getKey()));
      trends.put(key, LeakScore.roll(trends.get(key), e.getValue(), timestampMs, trendWindowMs));
    }
  }

  /**
   * Converges the live store to the shim's list after an overflow: an entry recorded before the
   * list began and not on it was freed (its free was lost); a listed address unknown here was
   * allocated (its allocation was lost: stack id 0, "lost stack"); a listed address known here with
   * another size was both (the block there was freed and the address reused). Entries after the
   * list began, and addresses the collector saw touched inside the window, are left to their own
   * events.
   */
  private void applyResync(String pk, Resync resync, BatchEffects effects, ProcessState state) {
    Map<Long, Integer> listed = new HashMap<>();
    for (int i = 0; i < resync.getAddresses().size(); i++)
      listed.put(resync.getAddresses().get(i), i);
    String prefix = Keys.prefix(pk);
    List<KeyValue<String, LiveAllocation>> heap = new ArrayList<>();
    try (KeyValueIterator<String, LiveAllocation> it = live.prefixScan(prefix, KEYS)) {
      while (it.hasNext()) {
        KeyValue<String, LiveAllocation> kv = it.next();
        if (kv.value.getKind() == HEAP && kv.key.indexOf('/', prefix.length()) < 0) heap.add(kv);
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
        // On both sides: the same block (or one of the same size, which counts the same).
        listed.remove(address);
        continue;
      }
      // Not listed: its free was dropped. Listed with another size: the address was reused while
      // both the free and the new allocation were dropped; the listed block is restored below.
      live.delete(kv.key);
      effects.add(kv.value, -1);
      freed++;
    }
    for (Map.Entry<Long, Integer> e : listed.entrySet()) {
      int i = e.getValue();
      LiveAllocation a =
          LiveAllocation.newBuilder()
              .setStackId(0)
              .setSize(resync.getSizes().get(i))
              .setWeight(resync.getWeights().get(i))
              .setKind(HEAP)
              .setTimestampNs(context.currentSystemTimeMs() * 1_000_000L)
              .setSeq(resync.getFromSeq())
              .build();
      live.put(Keys.live(pk, e.getKey()), a);
      effects.add(a, +1);
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
      String pk, AllocationEvent ev, Map<String, LiveAllocation> overlay, BatchEffects effects) {
    if (ev.getType() == EventType.ALLOC) {
      String key = Keys.liveMapping(pk, ev.getAddress());
      LiveAllocation current = overlay.containsKey(key) ? overlay.get(key) : live.get(key);
      if (current != null) {
        effects.replaced++;
        effects.add(current, -1);
      }
      LiveAllocation a = allocation(ev, ev.getSize(), ev.getSize());
      overlay.put(key, a);
      effects.add(a, +1);
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
      effects.add(a, -1);
      if (Long.compareUnsigned(mStart, start) < 0) { // the part below the unmapped range stays
        LiveAllocation left =
            LiveAllocation.newBuilder(a).setSize(start - mStart).setWeight(start - mStart).build();
        overlay.put(Keys.liveMapping(pk, mStart), left);
        effects.add(left, +1);
      }
      if (Long.compareUnsigned(end, mEnd) < 0) { // and the part above it
        LiveAllocation right =
            LiveAllocation.newBuilder(a).setSize(mEnd - end).setWeight(mEnd - end).build();
        overlay.put(Keys.liveMapping(pk, end), right);
        effects.add(right, +1);
      }
    }
    if (!hit) effects.unknownFrees++;
  }

  private void onExited(String pk, ProcessExited e, ProcessState state, long timestamp) {
    if (state == null || state.getExited()) return; // never seen, or a repeated exit
    if (state.getExitDeferredAtMs() > 0) return; // a repeated exit while the first one waits
    Set<String> missing = stacksMissing(pk);
    if (!missing.isEmpty()) {
      stillMissing.put(pk, missing);
      long now = context.currentSystemTimeMs();
      state.setExitDeferredAtMs(now);
      state.setDeferredExitedAtMs(e.getExitedAtMs());
      state.setDeferredClean(e.getClean());
      state.setDeferredLostEvents(e.getLostEvents());
      state.setDeferredDetached(e.getDetached());
      state.setDeferredRecordTimestamp(timestamp);
      processes.put(pk, state);
      deferredExits.put(pk, now);
      return;
    }
    state.setDetached(e.getDetached());
    retire(
        pk,
        state,
        e.getExitedAtMs(),
        e.getClean(),
        Math.max(state.getLostEvents(), e.getLostEvents()),
        timestamp);
  }

  /** Applies the exit that waited in {@code pk}'s state. */
  private void applyDeferredExit(String pk) {
    deferredExits.remove(pk);
    stillMissing.remove(pk);
    ProcessState state = processes.get(pk);
    if (state == null || state.getExited() || state.getExitDeferredAtMs() == 0) return;
    state.setExitDeferredAtMs(0);
    state.setDetached(state.getDeferredDetached());
    retire(
        pk,
        state,
        state.getDeferredExitedAtMs(),
        state.getDeferredClean(),
        Math.max(state.getLostEvents(), state.getDeferredLostEvents()),
        state.getDeferredRecordTimestamp());
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
    counters.delete(pk);
    // Its rows go a bounded number at a time (see ROWS_DELETED_PER_ROUND); nothing reads the rows
    // of an exited process (its report is the snapshot, its total is in its state).
    state.setRowsLeft(true);
    processes.put(pk, state);
    rowsLeft.add(pk);
    if (deletionsLeft > 0) deletionsLeft -= deleteRows(pk, deletionsLeft);
  }

  private List<KeyValue<String, Outstanding>> rows(String pk) {
    List<KeyValue<String, Outstanding>> out = new ArrayList<>();
    try (KeyValueIterator<String, Outstanding> it = outstanding.prefixScan(Keys.prefix(pk), KEYS)) {
      it.forEachRemaining(out::add);
    }
    return out;
  }

  /** Deletes up to {@code max} of {@code pk}'s rows in {@code store}; returns how many. */
  private static <V> int deletePrefix(KeyValueStore<String, V> store, String pk, int max) {
    List<String> keys = new ArrayList<>();
    try (KeyValueIterator<String, V> it = store.prefixScan(Keys.prefix(pk), KEYS)) {
      while (keys.size() < max && it.hasNext()) keys.add(it.next().key);
    }
    keys.forEach(store::delete);
    return keys.size();
  }
}
