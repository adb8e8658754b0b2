package io.leakwatch.streams.report;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * One program across the fleet: the same leaking stack on 500 hosts is one row. Stack ids are
 * stable across hosts (hashes of symbolized frames), so rows merge by id. Roll-ups merge too:
 * each instance rolls up the processes it owns, and the instance asked merges their answers.
 */
public final class FleetRollup {
  static final int MAX_STACKS = 50;
  static final int MAX_HOSTS_LISTED = 1000;

  private final String program;
  private final TreeSet<String> hosts = new TreeSet<>();
  private long processes;
  private long bytes;
  private long allocations;
  private final Map<String, long[]> allocators = new LinkedHashMap<>();
  private final Map<String, ObjectNode> stacks = new LinkedHashMap<>();
  private final Map<String, TreeSet<String>> stackHosts = new LinkedHashMap<>();

  public FleetRollup(String program) {
    this.program = program;
  }

  /** Adds one process's report (as /api/report gives it). */
  public FleetRollup addReport(JsonNode r) {
    String host = r.path("process").path("host").asText();
    hosts.add(host);
    addTotalsAndAllocators(r, 1);
    for (JsonNode s : r.path("stacks")) {
      addStack(s, 1, s.path("score"), List.of(host));
    }
    return this;
  }

  /** Adds another instance's roll-up of the same program. */
  public FleetRollup addRollup(JsonNode other) {
    for (JsonNode h : other.path("hostList")) hosts.add(h.asText());
    addTotalsAndAllocators(other, other.path("processes").asLong());
    for (JsonNode s : other.path("stacks")) {
      List<String> hs = new ArrayList<>();
      for (JsonNode h : s.path("hostList")) hs.add(h.asText());
      addStack(s, s.path("processes").asLong(), s.path("maxScore"), hs);
    }
    return this;
  }

  /** One process report or one instance's roll-up: its outstanding totals and allocator rows. */
  private void addTotalsAndAllocators(JsonNode r, long processCount) {
    processes += processCount;
    bytes += r.path("outstanding").path("bytes").asLong();
    allocations += r.path("outstanding").path("allocations").asLong();
    for (JsonNode a : r.path("allocators")) {
      long[] v = allocators.computeIfAbsent(a.path("module").asText(), k -> new long[2]);
      v[0] += a.path("bytes").asLong();
      v[1] += a.path("allocations").asLong();
    }
  }

  /** A stack row from a report (one process) or a roll-up (several), merged by stable id. */
  private void addStack(JsonNode s, long processCount, JsonNode score, List<String> hosts) {
    String id = s.path("id").asText();
    ObjectNode row = stacks.computeIfAbsent(id, k -> newRow(s));
    row.put("bytes", row.path("bytes").asLong() + s.path("bytes").asLong());
    row.put("allocations", row.path("allocations").asLong() + s.path("allocations").asLong());
    row.put("processes", row.path("processes").asLong() + processCount);
    if (score.isNumber()) row.put("maxScore", Math.max(row.path("maxScore").asDouble(0), score.asDouble()));
    stackHosts.computeIfAbsent(id, k -> new TreeSet<>()).addAll(hosts);
  }

  private static ObjectNode newRow(JsonNode s) {
    ObjectNode row = ReportBuilder.JSON.createObjectNode();
    row.put("id", s.path("id").asText());
    row.put("allocator", s.path("allocator").asText());
    row.put("culprit", s.path("culprit").asText());
    row.put("bytes", 0L);
    row.put("allocations", 0L);
    row.put("processes", 0L);
    row.set("frames", s.path("frames").deepCopy());
    return row;
  }

  public ObjectNode toJson() {
    ObjectNode r = ReportBuilder.JSON.createObjectNode();
    r.put("program", program);
    r.put("processes", processes);
    r.put("hosts", hosts.size());
    ArrayNode hl = r.putArray("hostList");
    hosts.stream().limit(MAX_HOSTS_LISTED).forEach(hl::add);
    ObjectNode o = r.putObject("outstanding");
    o.put("bytes", bytes);
    o.put("allocations", allocations);
    ArrayNode al = r.putArray("allocators");
    allocators.entrySet().stream().sorted(Comparator.comparingLong((Map.Entry<String, long[]> e) -> -e.getValue()[0])
        .thenComparing(Map.Entry::getKey)).forEach(e -> {
      ObjectNode a = al.addObject();
      a.put("module", e.getKey());
      a.put("bytes", e.getValue()[0]);
      a.put("allocations", e.getValue()[1]);
    });
    List<ObjectNode> rows = new ArrayList<>(stacks.values());
    // Ties broken by id: every instance merging the same shares answers the same.
    rows.sort(Comparator.comparingLong((ObjectNode s) -> -s.path("bytes").asLong()).thenComparing(s -> s.path("id").asText()));
    ArrayNode sa = r.putArray("stacks");
    for (ObjectNode s : rows.subList(0, Math.min(MAX_STACKS, rows.size()))) {
      ObjectNode c = s.deepCopy();
      TreeSet<String> hs = stackHosts.getOrDefault(s.path("id").asText(), new TreeSet<>());
      c.put("hosts", hs.size());
      ArrayNode h = c.putArray("hostList");
      hs.stream().limit(MAX_HOSTS_LISTED).forEach(h::add);
      sa.add(c);
    }
    r.put("stacksOmitted", Math.max(0, rows.size() - MAX_STACKS));
    return r;
  }
}
