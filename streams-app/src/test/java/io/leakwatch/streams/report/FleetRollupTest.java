package io.leakwatch.streams.report;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

/** The same stack on many hosts reads as one row, whichever instance merges which share. */
class FleetRollupTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static JsonNode report(String host, int pid, long leakBytes, double score) throws Exception {
    return JSON.readTree("""
        {"process": {"host": "%s", "pid": %d},
         "outstanding": {"bytes": %d, "allocations": 10},
         "allocators": [{"module": "libtoykey.so", "bytes": %d, "allocations": 10}],
         "stacks": [{"id": "aaaa", "allocator": "libtoykey.so", "culprit": "svc!verify_signature+0x1c", "bytes": %d,
                     "allocations": 10, "score": %s, "frames": [{"module": "svc", "function": "verify_signature"}]}]}
        """.formatted(host, pid, leakBytes, leakBytes, leakBytes, score));
  }

  @Test
  void oneRowPerStackAcrossHostsAndInstances() throws Exception {
    // Instance 1 owns two hosts, instance 2 a third; a third instance merges both shares.
    JsonNode share1 = new FleetRollup("svc").addReport(report("h1", 1, 1000, 0.9)).addReport(report("h2", 1, 2000, 0.5)).toJson();
    JsonNode share2 = new FleetRollup("svc").addReport(report("h3", 7, 4000, 0.7)).toJson();
    JsonNode merged = new FleetRollup("svc").addRollup(share1).addRollup(share2).toJson();
    JsonNode direct = new FleetRollup("svc").addReport(report("h1", 1, 1000, 0.9)).addReport(report("h2", 1, 2000, 0.5))
        .addReport(report("h3", 7, 4000, 0.7)).toJson();
    assertThat(merged).isEqualTo(direct);
    assertThat(merged.path("hosts").asInt()).isEqualTo(3);
    assertThat(merged.path("processes").asLong()).isEqualTo(3);
    assertThat(merged.path("stacks")).hasSize(1);
    JsonNode row = merged.path("stacks").get(0);
    assertThat(row.path("bytes").asLong()).isEqualTo(7000);
    assertThat(row.path("hosts").asInt()).isEqualTo(3);
    assertThat(row.path("maxScore").asDouble()).isEqualTo(0.9);
    assertThat(merged.path("allocators").get(0).path("bytes").asLong()).isEqualTo(7000);
  }

  @Test
  void emptyAndHostileInputsMergeWithoutSurprises() throws Exception {
    JsonNode empty = new FleetRollup("svc").toJson();
    assertThat(empty.path("processes").asLong()).isZero();
    // A peer's answer missing every field still merges (it adds nothing).
    JsonNode merged = new FleetRollup("svc").addRollup(JSON.readTree("{}")).addRollup(JSON.readTree("{\"stacks\": [{}]}")).toJson();
    assertThat(merged.path("processes").asLong()).isZero();
  }
}
