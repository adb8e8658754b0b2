package io.leakwatch.streams.report;

import io.leakwatch.streams.score.StackAges;
import io.leakwatch.streams.score.LeakScore;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.leakwatch.schemas.CounterSample;
import io.leakwatch.schemas.Frame;
import io.leakwatch.schemas.FrameNames;
import io.leakwatch.schemas.StackDefinition;
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
 * The report JSON of one process (docs/records.md, DESIGN.md "Report JSON"), in two steps: a
 * snapshot of the process's own state (what is outstanding, by stack and size), then a rendering
 * that names the stacks from the global stack store. Exit reports keep the snapshot and are
 * rendered when asked, so a stack definition that arrived late still names its frames.
 */
public final class ReportBuilder {
  public static final ObjectMapper JSON = new ObjectMapper();
  /** Bounds the report for processes with very many distinct stacks; the rest is summed. */
  public static final int MAX_STACKS = 500;
  /**
   * A report that travels as one Kafka record (an exit report, and its snapshot in the store's
   * changelog) stays under this many bytes of JSON: the broker's and producer's default limit is
   * 1 MiB, and a JVM's exit report with 500 stacks of 48 named frames was 2.5 MB.
   */
  public static final int MAX_RECORD_JSON_BYTES = 768 * 1024;
  /** Stack id of allocations a resync restored: their records (and stacks) were dropped. */
  public static final String LOST_STACK = "0000000000000000";
  /** Distinct allocator modules kept for the stacks a report leaves out; the rest are summed as one. */
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

  /**
   * @param allocatorOf stack id to allocator module, for the stacks beyond {@link #MAX_STACKS}: the
   *     snapshot keeps their bytes by allocator ({@code omittedAllocators}), so the rendered
   *     allocators list still counts every block
   */
  public static ObjectNode snapshot(ProcessState st, List<KeyValue<String, Outstanding>> rows, StackAges ages,
      Map<Long, StackTrend> trends, CounterSample counters, long asOfMs, Function<String, String> allocatorOf) {
    Map<Long, Long> oldestNsByStack = ages.oldestNs();
    ObjectNode r = JSON.createObjectNode();
    ObjectNode process = r.putObject("process");
    process.put("host", st.getHost());
    process.put("pid", st.getPid());
    process.put("name", st.getName());
    process.put("command", st.getCommand());
    process.put("exited", st.getExited());
    if (st.getExited()) {
      process.put("exitedAt", Instant.ofEpochMilli(st.getExitedAtMs()).toString());
      process.put("cleanExit", st.getCleanExit());
    }

    ObjectNode tracking = r.putObject("tracking");
    tracking.put("mode", st.getSampleBytes() == 0 ? "exact" : "sampled");
    tracking.put("sampleBytes", st.getSampleBytes());
    tracking.put("startedAt", Instant.ofEpochMilli(st.getStartedAtMs()).toString());
    tracking.put("seconds", st.getStartedAtMs() > 0 ? Math.max(0, asOfMs - st.getStartedAtMs()) / 1000.0 : 0);
    tracking.put("lostEvents", st.getLostEvents());
    tracking.put("unknownFrees", st.getUnknownFrees());
    tracking.put("duplicateEvents", st.getDuplicateEvents());
    tracking.put("replacedAllocations", st.getReplacedAllocations());
    tracking.put("resyncs", st.getResyncs());
    tracking.put("resyncedFrees", st.getResyncedFrees());
    tracking.put("resyncedAllocations", st.getResyncedAllocations());
    tracking.put("asOf", Instant.ofEpochMilli(asOfMs).toString());

    // (kind, stack) -> sizes
    Map<String, List<Object[]>> byStack = new LinkedHashMap<>();
    double totalBytes = 0, totalAllocations = 0;
    for (KeyValue<String, Outstanding> kv : rows) {
      Keys.OutstandingKey k = Keys.parseOutstanding(kv.key);
      byStack.computeIfAbsent(k.kind() + "/" + k.stackId(), x -> new ArrayList<>())
          .add(new Object[] {k.size(), kv.value.getBytes(), kv.value.getAllocations(), kv.value.getSamples()});
      totalBytes += kv.value.getBytes();
      totalAllocations += kv.value.getAllocations();
    }
    ObjectNode outstanding = r.putObject("outstanding");
    outstanding.put("bytes", Math.round(totalBytes));
    outstanding.put("allocations", Math.round(totalAllocations));

    List<ObjectNode> stacks = new ArrayList<>();
    long asOfNs = asOfMs * 1_000_000L;
    for (Map.Entry<String, List<Object[]>> e : byStack.entrySet()) {
      String[] parts = e.getKey().split("/");
      ObjectNode s = JSON.createObjectNode();
      s.put("id", parts[1]);
      s.put("kind", "1".equals(parts[0]) ? "mmap" : "heap");
      double bytes = 0, allocations = 0;
      long samples = 0;
      List<Object[]> sizes = e.getValue();
      sizes.sort(Comparator.comparingDouble((Object[] x) -> -(double) x[1]));
      ArrayNode sizeArray = JSON.createArrayNode();
      for (Object[] z : sizes) {
        bytes += (double) z[1];
        allocations += (double) z[2];
        samples += (long) z[3];
        ObjectNode sz = sizeArray.addObject();
        sz.put("size", (long) z[0]);
        sz.put("bytes", Math.round((double) z[1]));
        sz.put("allocations", Math.round((double) z[2]));
      }
      s.put("bytes", Math.round(bytes));
      s.put("allocations", Math.round(allocations));
      s.put("samples", samples);
      long stackId = Long.parseUnsignedLong(parts[1], 16);
      Long oldest = oldestNsByStack.get(stackId);
      s.put("oldestAgeSeconds", oldest == null || oldest <= 0 ? 0 : Math.max(0, asOfNs - oldest) / 1e9);
      var trend = trends.get(stackId);
      double score = trend == null ? Double.NaN : LeakScore.score(trend, ages.oldShare(stackId));
      if (!Double.isNaN(score)) s.put("score", Math.round(score * 100) / 100.0);
      s.set("sizes", sizeArray);
      stacks.add(s);
    }
    stacks.sort(Comparator.comparingLong((ObjectNode s) -> -s.get("bytes").asLong()));
    ArrayNode stackArray = r.putArray("stacks");
    stacks.stream().limit(MAX_STACKS).forEach(stackArray::add);
    r.put("stacksOmitted", Math.max(0, stacks.size() - MAX_STACKS));
    r.putObject("omittedAllocators");
    r.putObject("omittedUnresolved");
    for (int i = MAX_STACKS; i < stacks.size(); i++) addOmitted(r, stacks.get(i), allocatorOf);

    ObjectNode c = r.putObject("counters");
    if (counters != null) {
      c.put("privateBytes", counters.getPrivateBytes());
      c.put("virtualBytes", counters.getVirtualBytes());
      c.put("residentBytes", counters.getResidentBytes());
      if (counters.getManagedHeapBytes() != null) c.put("managedHeapBytes", counters.getManagedHeapBytes());
      else c.putNull("managedHeapBytes");
      if (counters.getOpenFds() != null) c.put("openFds", counters.getOpenFds());
      if (counters.getHeapArenaBytes() != null) {
        c.put("heapArenaBytes", counters.getHeapArenaBytes());
        c.put("heapInUseBytes", counters.getHeapInUseBytes());
        c.put("heapFreeBytes", counters.getHeapFreeBytes());
        if (counters.getHeapArenaBytes() > 0) {
          c.put("heapFragmentationRatio", (double) counters.getHeapFreeBytes() / counters.getHeapArenaBytes());
        }
      }
      c.put("sampledAt", Instant.ofEpochMilli(counters.getTimestampMs()).toString());
      if (counters.getStartTimeSeconds() != null && counters.getStartTimeSeconds() > 0) {
        c.put("processStartedAt", Instant.ofEpochMilli(Math.round(counters.getStartTimeSeconds() * 1000)).toString());
      }
      if (counters.getRegions() != null && !counters.getRegions().isEmpty()) {
        ObjectNode regions = c.putObject("regions");
        counters.getRegions().forEach((k, v) -> {
          boolean reserved = k.endsWith(":reserved");
          String kind = reserved ? k.substring(0, k.length() - ":reserved".length()) : k;
          ObjectNode region = regions.has(kind) ? (ObjectNode) regions.get(kind) : regions.putObject(kind);
          region.put(reserved ? "reservedBytes" : "committedBytes", v);
        });
      }
    } else {
      c.putNull("privateBytes");
      c.putNull("virtualBytes");
      c.putNull("residentBytes");
      c.putNull("managedHeapBytes");
    }
    return r;
  }

  public static ObjectNode render(String snapshotJson, Function<String, StackDefinition> stacks) {
    try {
      return render((ObjectNode) JSON.readTree(snapshotJson), stacks);
    } catch (JsonProcessingException | ClassCastException e) {
      throw new IllegalStateException("stored report snapshot is not JSON", e);
    }
  }

  /** Names every stack (allocator, culprit, frames) and adds the allocators list. */
  public static ObjectNode render(ObjectNode snapshot, Function<String, StackDefinition> stacks) {
    ObjectNode r = snapshot.deepCopy();
    Map<String, long[]> allocators = new TreeMap<>();
    // The stacks left out of the snapshot still count under their allocators.
    r.path("omittedAllocators").fields().forEachRemaining(e -> {
      long[] a = allocators.computeIfAbsent(e.getKey(), k -> new long[2]);
      a[0] += e.getValue().path(0).asLong();
      a[1] += e.getValue().path(1).asLong();
    });
    boolean complete = true;
    for (var it = r.path("omittedUnresolved").fields(); it.hasNext(); ) {
      var e = it.next();
      StackDefinition def = stacks.apply(e.getKey());
      if (def == null) complete = false; // named later, when its definition arrives
      long[] a = allocators.computeIfAbsent(allocatorOf(e.getKey(), def), k -> new long[2]);
      a[0] += e.getValue().path(0).asLong();
      a[1] += e.getValue().path(1).asLong();
    }
    for (JsonNode node : r.withArray("stacks")) {
      ObjectNode s = (ObjectNode) node;
      StackDefinition def = stacks.apply(s.get("id").asText());
      ArrayNode frames = JSON.createArrayNode();
      String allocator = allocatorOf(s.get("id").asText(), def);
      String culprit = "[unresolved]";
      if (LOST_STACK.equals(s.get("id").asText())) {
        // Restored by a resync after a ring overflow: the block is real, its stack was never seen.
        culprit = "[allocation record lost in a ring overflow]";
      } else if (def != null) {
        culprit = def.getCulprit();
        for (Frame f : def.getFrames()) {
          ObjectNode fn = frames.addObject();
          fn.put("module", f.getModule());
          fn.put("function", f.getFunction());
          fn.put("offset", f.getOffset());
          fn.put("file", f.getFile());
          if (f.getLine() != null) fn.put("line", f.getLine());
          else fn.putNull("line");
          fn.put("moduleOffset", f.getModuleOffset());
          fn.put("buildId", f.getBuildId());
          fn.put("display", FrameNames.display(f));
        }
      } else {
        complete = false;
      }
      s.put("allocator", allocator);
      s.put("culprit", culprit);
      s.set("frames", frames);
      long[] a = allocators.computeIfAbsent(allocator, k -> new long[2]);
      a[0] += s.get("bytes").asLong();
      a[1] += s.get("allocations").asLong();
    }
    List<Map.Entry<String, long[]>> sorted = new ArrayList<>(allocators.entrySet());
    sorted.sort(Comparator.comparingLong((Map.Entry<String, long[]> e) -> -e.getValue()[0]));
    ArrayNode list = JSON.createArrayNode();
    for (Map.Entry<String, long[]> e : sorted) {
      ObjectNode a = list.addObject();
      a.put("module", e.getKey());
      a.put("bytes", e.getValue()[0]);
      a.put("allocations", e.getValue()[1]);
    }
    // Keep the contract's field order: allocators before stacks.
    ObjectNode out = JSON.createObjectNode();
    out.set("process", r.get("process"));
    out.set("tracking", r.get("tracking"));
    out.set("outstanding", r.get("outstanding"));
    out.set("allocators", list);
    out.set("stacks", r.get("stacks"));
    out.set("stacksOmitted", r.get("stacksOmitted"));
    out.set("counters", r.get("counters"));
    out.put("stacksResolved", complete);
    return out;
  }

  /**
   * The exit report of a retired process (the topology's {@link ExitReportMaker}): the snapshot the
   * store keeps and the report the topic carries, both bounded to one record.
   */
  public static ExitReportMaker.ExitReportJson exitReport(ExitReportMaker.ProcessAtExit exit) {
    Function<String, String> allocatorOf = id -> allocatorOf(id, exit.stacks().apply(id));
    String snapshot = boundToBytes(snapshot(exit.state(), exit.rows(), exit.ages(), exit.trends(), exit.counters(),
        exit.exitedAtMs(), allocatorOf), MAX_RECORD_JSON_BYTES, allocatorOf).toString();
    String rendered = boundToBytes(render(snapshot, exit.stacks()), MAX_RECORD_JSON_BYTES, allocatorOf).toString();
    return new ExitReportMaker.ExitReportJson(snapshot, rendered);
  }

  private static ObjectNode objectField(ObjectNode n, String name) {
    return n.get(name) instanceof ObjectNode o ? o : n.putObject(name);
  }

  /** Adds a left-out stack's bytes and allocations under its allocator (bounded: the rest as one). */
  private static void addOmitted(ObjectNode snapshot, JsonNode stack, Function<String, String> allocatorOf) {
    String id = stack.path("id").asText();
    String allocator = allocatorOf.apply(id);
    ObjectNode unresolved = objectField(snapshot, "omittedUnresolved");
    if (allocator.equals("[unresolved]") && unresolved.size() < MAX_OMITTED_UNRESOLVED) {
      unresolved.putArray(id).add(stack.path("bytes").asLong()).add(stack.path("allocations").asLong());
      return;
    }
    ObjectNode omitted = objectField(snapshot, "omittedAllocators");
    if (!omitted.has(allocator) && omitted.size() >= MAX_OMITTED_ALLOCATORS) allocator = OTHER_ALLOCATORS;
    ArrayNode a = omitted.has(allocator) ? (ArrayNode) omitted.get(allocator) : omitted.putArray(allocator).add(0L).add(0L);
    a.set(0, a.get(0).asLong() + stack.path("bytes").asLong());
    a.set(1, a.get(1).asLong() + stack.path("allocations").asLong());
  }

  /**
   * Keeps the largest stacks that fit in {@code maxBytes} of JSON and drops the rest (smallest bytes
   * last), adding them to {@code stacksOmitted}. Totals and the allocators list still count every
   * stack: a rendered report's allocators list is already complete; a snapshot keeps what it drops
   * by allocator ({@code allocatorOf}: stack id to module). Returns the report itself.
   */
  public static ObjectNode boundToBytes(ObjectNode report, int maxBytes, Function<String, String> allocatorOf) {
    try {
      byte[] whole = JSON.writeValueAsBytes(report);
      if (whole.length <= maxBytes) return report;
      ArrayNode stacks = report.withArray("stacks");
      boolean snapshot = !report.has("allocators");
      long budget = (long) whole.length;
      int keep = stacks.size();
      while (keep > 0 && budget > maxBytes) {
        budget -= JSON.writeValueAsBytes(stacks.get(keep - 1)).length + 1; // and its comma
        keep--;
      }
      int dropped = stacks.size() - keep;
      while (stacks.size() > keep) {
        JsonNode gone = stacks.remove(stacks.size() - 1);
        if (snapshot) addOmitted(report, gone, allocatorOf);
      }
      report.put("stacksOmitted", report.path("stacksOmitted").asLong() + dropped);
      return report;
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("report is not serializable", e);
    }
  }

}
