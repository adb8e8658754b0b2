package io.leakwatch.streams.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.leakwatch.schemas.CounterSample;
import io.leakwatch.schemas.Frame;
import io.leakwatch.schemas.FrameNames;
import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.streams.report.model.AllocatorRow;
import io.leakwatch.streams.report.model.Counters;
import io.leakwatch.streams.report.model.FrameRow;
import io.leakwatch.streams.report.model.ProcessInfo;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.ReportJson;
import io.leakwatch.streams.report.model.ReportSnapshot;
import io.leakwatch.streams.report.model.SizeRow;
import io.leakwatch.streams.report.model.StackRow;
import io.leakwatch.streams.report.model.Totals;
import io.leakwatch.streams.report.model.Tracking;
import io.leakwatch.streams.score.LeakScore;
import io.leakwatch.streams.score.StackAges;
import io.leakwatch.streams.state.Outstanding;
import io.leakwatch.streams.state.ProcessState;
import io.leakwatch.streams.state.StackTrend;
import io.leakwatch.streams.stores.Keys;
import io.leakwatch.streams.topology.ExitReportMaker;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import org.apache.kafka.streams.KeyValue;

/**
 * The report of one process (docs/records.md, DESIGN.md "Report JSON"), in two steps: a {@link
 * ReportSnapshot} of the process's own state (what is outstanding, by stack and size), then a
 * {@link ProcessReport} that names the stacks from the global stack store. Exit reports keep the
 * snapshot and are rendered when asked, so a stack definition that arrived late still names its
 * frames.
 */
public final class ReportBuilder {
  public static final ObjectMapper JSON = ReportJson.MAPPER;

  /** Bounds the report for processes with very many distinct stacks; the rest is summed. */
  public static final int MAX_STACKS = 500;

  /**
   * A report that travels as one Kafka record (an exit report, and its snapshot in the store's
   * changelog) stays under this many bytes of JSON: the broker's and producer's default limit is 1
   * MiB, and a JVM's exit report with 500 stacks of 48 named frames was 2.5 MB.
   */
  public static final int MAX_RECORD_JSON_BYTES = 768 * 1024;

  /** Stack id of allocations a resync restored: their records (and stacks) were dropped. */
  public static final String LOST_STACK = "0000000000000000";

  /**
   * Distinct allocator modules kept for the stacks a report leaves out; the rest are summed as one.
   */
  static final int MAX_OMITTED_ALLOCATORS = 256;

  static final String OTHER_ALLOCATORS = "[other modules]";

  /**
   * Left-out stacks whose definition had not arrived when the snapshot was taken (a process's last
   * stacks, published just before it exited) are kept by id, up to this many, and named at
   * rendering like the kept stacks; beyond it they count as "[unresolved]".
   */
  static final int MAX_OMITTED_UNRESOLVED = 2_000;

  /** The allocator a stack is counted under: its definition's, or why there is none. */
  public static String allocatorOf(String stackId, StackDefinition def) {
    if (LOST_STACK.equals(stackId)) return "[lost]";
    return def == null ? "[unresolved]" : def.getAllocator();
  }

  private ReportBuilder() {}

  /** One size of one stack, as the outstanding store holds it. */
  private record SizeAt(long size, double bytes, double allocations, long samples) {}

  /**
   * @param allocatorOf stack id to allocator module, for the stacks beyond {@link #MAX_STACKS}: the
   *     snapshot keeps their bytes by allocator ({@code omittedAllocators}), so the rendered
   *     allocators list still counts every block
   */
  public static ReportSnapshot snapshot(
      ProcessState st,
      List<KeyValue<String, Outstanding>> rows,
      StackAges ages,
      Map<Long, StackTrend> trends,
      CounterSample counters,
      long asOfMs,
      Function<String, String> allocatorOf) {
    Map<Long, Long> oldestNsByStack = ages.oldestNs();
    ProcessInfo process =
        new ProcessInfo(
            st.getHost(),
            st.getPid(),
            st.getName(),
            st.getCommand(),
            st.getExited(),
            st.getExited() ? Instant.ofEpochMilli(st.getExitedAtMs()).toString() : null,
            st.getExited() ? st.getCleanExit() : null,
            st.getExited() && st.getDetached());
    Tracking tracking =
        new Tracking(
            st.getSampleBytes() == 0 ? "exact" : "sampled",
            st.getSampleBytes(),
            Instant.ofEpochMilli(st.getStartedAtMs()).toString(),
            st.getStartedAtMs() > 0 ? Math.max(0, asOfMs - st.getStartedAtMs()) / 1000.0 : 0,
            st.getLostEvents(),
            st.getUnknownFrees(),
            st.getDuplicateEvents(),
            st.getReplacedAllocations(),
            st.getResyncs(),
            st.getResyncedFrees(),
            st.getResyncedAllocations(),
            Instant.ofEpochMilli(asOfMs).toString(),
            st.getAttached());

    // (kind, stack) -> sizes
    Map<Keys.OutstandingKey, List<SizeAt>> byStack = new LinkedHashMap<>();
    double totalBytes = 0, totalAllocations = 0;
    for (KeyValue<String, Outstanding> kv : rows) {
      Keys.OutstandingKey k = Keys.parseOutstanding(kv.key);
      byStack
          .computeIfAbsent(
              new Keys.OutstandingKey(k.kind(), k.stackId(), 0), x -> new ArrayList<>())
          .add(
              new SizeAt(
                  k.size(), kv.value.getBytes(), kv.value.getAllocations(), kv.value.getSamples()));
      totalBytes += kv.value.getBytes();
      totalAllocations += kv.value.getAllocations();
    }

    List<StackRow> stacks = new ArrayList<>();
    long asOfNs = asOfMs * 1_000_000L;
    for (Map.Entry<Keys.OutstandingKey, List<SizeAt>> e : byStack.entrySet()) {
      String id = e.getKey().stackId();
      double bytes = 0, allocations = 0;
      long samples = 0;
      List<SizeAt> sizes = e.getValue();
      sizes.sort(Comparator.comparingDouble((SizeAt z) -> -z.bytes()));
      List<SizeRow> sizeRows = new ArrayList<>();
      for (SizeAt z : sizes) {
        bytes += z.bytes();
        allocations += z.allocations();
        samples += z.samples();
        sizeRows.add(new SizeRow(z.size(), Math.round(z.bytes()), Math.round(z.allocations())));
      }
      long stackId = Long.parseUnsignedLong(id, 16);
      Long oldest = oldestNsByStack.get(stackId);
      StackTrend trend = trends.get(stackId);
      double score = trend == null ? Double.NaN : LeakScore.score(trend, ages.oldShare(stackId));
      stacks.add(
          new StackRow(
              id,
              e.getKey().kind() == 1 ? "mmap" : "heap",
              Math.round(bytes),
              Math.round(allocations),
              samples,
              oldest == null || oldest <= 0 ? 0 : Math.max(0, asOfNs - oldest) / 1e9,
              Double.isNaN(score) ? null : Math.round(score * 100) / 100.0,
              sizeRows,
              null,
              null,
              null));
    }
    stacks.sort(Comparator.comparingLong((StackRow s) -> -s.bytes()));
    Omitted omitted = new Omitted(new LinkedHashMap<>(), new LinkedHashMap<>());
    for (int i = MAX_STACKS; i < stacks.size(); i++) omitted.add(stacks.get(i), allocatorOf);
    return new ReportSnapshot(
        process,
        tracking,
        new Totals(Math.round(totalBytes), Math.round(totalAllocations)),
        stacks.subList(0, Math.min(MAX_STACKS, stacks.size())),
        Math.max(0, stacks.size() - MAX_STACKS),
        omitted.byAllocator(),
        omitted.unresolved(),
        counters(counters));
  }

  private static Counters counters(CounterSample c) {
    if (c == null) return Counters.NONE;
    Double fragmentation = null;
    if (c.getHeapArenaBytes() != null && c.getHeapArenaBytes() > 0) {
      fragmentation = (double) c.getHeapFreeBytes() / c.getHeapArenaBytes();
    }
    boolean heap = c.getHeapArenaBytes() != null;
    String startedAt =
        c.getStartTimeSeconds() != null && c.getStartTimeSeconds() > 0
            ? Instant.ofEpochMilli(Math.round(c.getStartTimeSeconds() * 1000)).toString()
            : null;
    Map<String, Counters.Region> regions = null;
    if (c.getRegions() != null && !c.getRegions().isEmpty()) {
      regions = new LinkedHashMap<>();
      for (Map.Entry<String, Long> e : c.getRegions().entrySet()) {
        String k = e.getKey();
        boolean reserved = k.endsWith(":reserved");
        String kind = reserved ? k.substring(0, k.length() - ":reserved".length()) : k;
        Counters.Region r = regions.getOrDefault(kind, new Counters.Region(null, null));
        regions.put(
            kind,
            reserved
                ? new Counters.Region(r.committedBytes(), e.getValue())
                : new Counters.Region(e.getValue(), r.reservedBytes()));
      }
    }
    return new Counters(
        c.getPrivateBytes(),
        c.getVirtualBytes(),
        c.getResidentBytes(),
        c.getManagedHeapBytes(),
        c.getOpenFds(),
        heap ? c.getHeapArenaBytes() : null,
        heap ? c.getHeapInUseBytes() : null,
        heap ? c.getHeapFreeBytes() : null,
        fragmentation,
        Instant.ofEpochMilli(c.getTimestampMs()).toString(),
        startedAt,
        regions);
  }

  public static ProcessReport render(
      String snapshotJson, Function<String, StackDefinition> stacks) {
    return render(ReportJson.read(snapshotJson, ReportSnapshot.class), stacks);
  }

  /** Names every stack (allocator, culprit, frames) and adds the allocators list. */
  public static ProcessReport render(
      ReportSnapshot snapshot, Function<String, StackDefinition> stacks) {
    Map<String, long[]> allocators = new TreeMap<>();
    // The stacks left out of the snapshot still count under their allocators.
    snapshot.omittedAllocators().forEach((module, a) -> add(allocators, module, a[0], a[1]));
    boolean complete = true;
    for (Map.Entry<String, long[]> e : snapshot.omittedUnresolved().entrySet()) {
      StackDefinition def = stacks.apply(e.getKey());
      if (def == null) complete = false; // named later, when its definition arrives
      add(allocators, allocatorOf(e.getKey(), def), e.getValue()[0], e.getValue()[1]);
    }
    List<StackRow> named = new ArrayList<>();
    for (StackRow s : snapshot.stacks()) {
      StackDefinition def = stacks.apply(s.id());
      List<FrameRow> frames = new ArrayList<>();
      String allocator = allocatorOf(s.id(), def);
      String culprit = "[unresolved]";
      if (LOST_STACK.equals(s.id())) {
        // Restored by a resync after a ring overflow: the block is real, its stack was never seen.
        culprit = "[allocation record lost in a ring overflow]";
      } else if (def != null) {
        culprit = def.getCulprit();
        for (Frame f : def.getFrames()) {
          frames.add(
              new FrameRow(
                  f.getModule(),
                  f.getFunction(),
                  f.getOffset(),
                  f.getFile(),
                  f.getLine(),
                  f.getInlined(),
                  f.getModuleOffset(),
                  f.getBuildId(),
                  FrameNames.display(f)));
        }
      } else {
        complete = false;
      }
      named.add(s.named(allocator, culprit, frames));
      add(allocators, allocator, s.bytes(), s.allocations());
    }
    List<AllocatorRow> list = new ArrayList<>();
    allocators.forEach((module, a) -> list.add(new AllocatorRow(module, a[0], a[1])));
    list.sort(Comparator.comparingLong((AllocatorRow a) -> -a.bytes()));
    return new ProcessReport(
        snapshot.process(),
        snapshot.tracking(),
        snapshot.outstanding(),
        list,
        named,
        snapshot.stacksOmitted(),
        snapshot.counters(),
        complete);
  }

  private static void add(
      Map<String, long[]> allocators, String module, long bytes, long allocations) {
    long[] a = allocators.computeIfAbsent(module, k -> new long[2]);
    a[0] += bytes;
    a[1] += allocations;
  }

  /**
   * The exit report of a retired process (the topology's {@link ExitReportMaker}): the snapshot the
   * store keeps and the report the topic carries, both bounded to one record.
   */
  public static ExitReportMaker.ExitReportJson exitReport(ExitReportMaker.ProcessAtExit exit) {
    Function<String, String> allocatorOf = id -> allocatorOf(id, exit.stacks().apply(id));
    ReportSnapshot snapshot =
        boundToBytes(
            snapshot(
                exit.state(),
                exit.rows(),
                exit.ages(),
                exit.trends(),
                exit.counters(),
                exit.exitedAtMs(),
                allocatorOf),
            MAX_RECORD_JSON_BYTES,
            allocatorOf);
    ProcessReport rendered = boundToBytes(render(snapshot, exit.stacks()), MAX_RECORD_JSON_BYTES);
    return new ExitReportMaker.ExitReportJson(
        ReportJson.write(snapshot), ReportJson.write(rendered));
  }

  /**
   * The stacks a snapshot leaves out, by allocator (bounded: the rest as one) or, unnamed yet, by
   * id.
   */
  private record Omitted(Map<String, long[]> byAllocator, Map<String, long[]> unresolved) {
    void add(StackRow stack, Function<String, String> allocatorOf) {
      String allocator = allocatorOf.apply(stack.id());
      if (allocator.equals("[unresolved]") && unresolved.size() < MAX_OMITTED_UNRESOLVED) {
        unresolved.put(stack.id(), new long[] {stack.bytes(), stack.allocations()});
        return;
      }
      if (!byAllocator.containsKey(allocator) && byAllocator.size() >= MAX_OMITTED_ALLOCATORS)
        allocator = OTHER_ALLOCATORS;
      long[] a = byAllocator.computeIfAbsent(allocator, k -> new long[2]);
      a[0] += stack.bytes();
      a[1] += stack.allocations();
    }
  }

  /**
   * How many of {@code stacks} (largest first) fit when the rest of the JSON takes {@code whole}
   * bytes with all of them: the smallest are dropped first.
   */
  private static int stacksThatFit(List<StackRow> stacks, long whole, int maxBytes) {
    long budget = whole;
    int keep = stacks.size();
    while (keep > 0 && budget > maxBytes) {
      budget -= ReportJson.bytes(stacks.get(keep - 1)).length + 1; // and its comma
      keep--;
    }
    return keep;
  }

  /**
   * Keeps the largest stacks that fit in {@code maxBytes} of JSON and drops the rest (smallest
   * bytes last), adding them to {@code stacksOmitted}. Totals and the allocators list still count
   * every stack: a rendered report's allocators list is already complete.
   */
  public static ProcessReport boundToBytes(ProcessReport report, int maxBytes) {
    byte[] whole = ReportJson.bytes(report);
    if (whole.length <= maxBytes) return report;
    return report.keepingStacks(stacksThatFit(report.stacks(), whole.length, maxBytes));
  }

  /**
   * A snapshot's version of {@link #boundToBytes(ProcessReport, int)}: what it drops is kept by
   * allocator ({@code allocatorOf}: stack id to module), so the rendered allocators still count it.
   */
  public static ReportSnapshot boundToBytes(
      ReportSnapshot snapshot, int maxBytes, Function<String, String> allocatorOf) {
    byte[] whole = ReportJson.bytes(snapshot);
    if (whole.length <= maxBytes) return snapshot;
    int keep = stacksThatFit(snapshot.stacks(), whole.length, maxBytes);
    Omitted omitted =
        new Omitted(
            new LinkedHashMap<>(snapshot.omittedAllocators()),
            new LinkedHashMap<>(snapshot.omittedUnresolved()));
    for (int i = keep; i < snapshot.stacks().size(); i++)
      omitted.add(snapshot.stacks().get(i), allocatorOf);
    return new ReportSnapshot(
        snapshot.process(),
        snapshot.tracking(),
        snapshot.outstanding(),
        snapshot.stacks().subList(0, keep),
        snapshot.stacksOmitted() + snapshot.stacks().size() - keep,
        omitted.byAllocator(),
        omitted.unresolved(),
        snapshot.counters());
  }
}
