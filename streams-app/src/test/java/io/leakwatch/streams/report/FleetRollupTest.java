package io.leakwatch.streams.report;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.streams.report.model.FleetReport;
import io.leakwatch.streams.report.model.ProcessReport;
import io.leakwatch.streams.report.model.ReportJson;
import org.junit.jupiter.api.Test;

/** The same stack on many hosts reads as one row, whichever instance merges which share. */
class FleetRollupTest {
  private static ProcessReport report(String host, int pid, long leakBytes, double score) {
    return ReportJson.read(
        """
        {"process": {"host": "%s", "pid": %d},
         "outstanding": {"bytes": %d, "allocations": 10},
         "allocators": [{"module": "libtoykey.so", "bytes": %d, "allocations": 10}],
         "stacks": [{"id": "aaaa", "allocator": "libtoykey.so", "culprit": "svc!verify_signature+0x1c", "bytes": %d,
                     "allocations": 10, "score": %s, "frames": [{"module": "svc", "function": "verify_signature"}]}]}
        """
            .formatted(host, pid, leakBytes, leakBytes, leakBytes, score),
        ProcessReport.class);
  }

  /** Through JSON, as a peer's answer arrives. */
  private static FleetReport overTheWire(FleetRollup r) {
    return ReportJson.read(ReportJson.write(r.toReport()), FleetReport.class);
  }

  @Test
  void oneRowPerStackAcrossHostsAndInstances() {
    // Instance 1 owns two hosts, instance 2 a third; a third instance merges both shares.
    FleetReport share1 =
        overTheWire(
            new FleetRollup("svc")
                .addReport(report("h1", 1, 1000, 0.9))
                .addReport(report("h2", 1, 2000, 0.5)));
    FleetReport share2 = overTheWire(new FleetRollup("svc").addReport(report("h3", 7, 4000, 0.7)));
    FleetReport merged = new FleetRollup("svc").addRollup(share1).addRollup(share2).toReport();
    FleetReport direct =
        new FleetRollup("svc")
            .addReport(report("h1", 1, 1000, 0.9))
            .addReport(report("h2", 1, 2000, 0.5))
            .addReport(report("h3", 7, 4000, 0.7))
            .toReport();
    assertThat(ReportJson.write(merged)).isEqualTo(ReportJson.write(direct));
    assertThat(merged.hosts()).isEqualTo(3);
    assertThat(merged.processes()).isEqualTo(3);
    assertThat(merged.stacks()).hasSize(1);
    FleetReport.Stack row = merged.stacks().get(0);
    assertThat(row.bytes()).isEqualTo(7000);
    assertThat(row.hosts()).isEqualTo(3);
    assertThat(row.maxScore()).isEqualTo(0.9);
    assertThat(merged.allocators().get(0).bytes()).isEqualTo(7000);
    // The contract's field order.
    assertThat(ReportJson.write(merged))
        .startsWith("{\"program\":\"svc\",\"processes\":3,\"hosts\":3,\"hostList\":")
        .contains("\"processes\":3,\"frames\":[")
        .contains("\"maxScore\":0.9,\"hosts\":3,\"hostList\":[");
  }

  @Test
  void emptyAndHostileInputsMergeWithoutSurprises() {
    FleetReport empty = new FleetRollup("svc").toReport();
    assertThat(empty.processes()).isZero();
    // A peer's answer missing every field still merges (it adds nothing).
    FleetReport merged =
        new FleetRollup("svc")
            .addRollup(ReportJson.read("{}", FleetReport.class))
            .addRollup(ReportJson.read("{\"stacks\": [{}]}", FleetReport.class))
            .toReport();
    assertThat(merged.processes()).isZero();
  }
}
