package io.leakwatch.streams.report;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.SerializationFeature;
import io.leakwatch.schemas.CounterSample;
import io.leakwatch.schemas.Frame;
import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.streams.report.model.ReportJson;
import io.leakwatch.streams.score.StackAges;
import io.leakwatch.streams.state.LiveAllocation;
import io.leakwatch.streams.state.Outstanding;
import io.leakwatch.streams.state.ProcessState;
import io.leakwatch.streams.state.StackTrend;
import io.leakwatch.streams.stores.Keys;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.apache.kafka.streams.KeyValue;
import org.junit.jupiter.api.Test;

/**
 * The report JSON is a contract (DESIGN.md "Report JSON"; the CLI, dashboards' links and users'
 * scripts read it): a fixed process, rendered, must give exactly the JSON recorded in
 * report-contract-*.json, field order included. A change to the contract changes those files on
 * purpose (regenerate with -Dleakwatch.regenerate=true and read the diff).
 */
class ReportJsonContractTest {
  private static final String PK = "host-a/4242";
  private static final long AS_OF_MS = 1_800_000_000_000L;

  private static StackDefinition stack(
      String id, String allocator, String culprit, Frame... frames) {
    return StackDefinition.newBuilder()
        .setId(id)
        .setAllocator(allocator)
        .setCulprit(culprit)
        .setFrames(List.of(frames))
        .build();
  }

  private static Frame frame(
      String module, String function, long offset, String file, Integer line) {
    return Frame.newBuilder()
        .setModule(module)
        .setFunction(function)
        .setOffset(offset)
        .setModuleOffset(0x1000 + offset)
        .setBuildId(function == null ? null : "ab12cd34")
        .setFile(file)
        .setLine(line)
        .build();
  }

  static final Map<String, StackDefinition> STACKS =
      Map.of(
          "0000000000001111",
              stack(
                  "0000000000001111",
                  "libtoykey.so",
                  "libtoykey.so!derive_key+0x2c",
                  frame("libc.so.6", "malloc", 0x10, null, null),
                  frame("libtoykey.so", "derive_key", 0x2c, "toykey.c", 42),
                  frame("demo-service", null, 0x99, null, null)),
          "0000000000002222",
              stack(
                  "0000000000002222",
                  "libc.so.6",
                  "demo-service!cache_put+0x10",
                  frame("libc.so.6", "strdup", 0x8, null, null),
                  frame("demo-service", "cache_put", 0x10, "cache.c", 7)));

  static ProcessState state(boolean exited) {
    return ProcessState.newBuilder()
        .setHost("host-a")
        .setPid(4242)
        .setName("demo-service")
        .setCommand("demo-service --port=80")
        .setStartedAtMs(AS_OF_MS - 3_600_000)
        .setSampleBytes(524288)
        .setLastSeq(99)
        .setLostEvents(3)
        .setUnknownFrees(1)
        .setDuplicateEvents(2)
        .setReplacedAllocations(4)
        .setResyncs(1)
        .setResyncedFrees(5)
        .setResyncedAllocations(6)
        .setExited(exited)
        .setExitedAtMs(exited ? AS_OF_MS - 1000 : 0)
        .setCleanExit(false)
        .build();
  }

  static List<KeyValue<String, Outstanding>> rows() {
    List<KeyValue<String, Outstanding>> rows = new ArrayList<>();
    rows.add(
        KeyValue.pair(
            Keys.outstanding(PK, 0, 0x1111, 64), new Outstanding(640_000.5, 10_000.2, 12L)));
    rows.add(
        KeyValue.pair(
            Keys.outstanding(PK, 0, 0x1111, 4096), new Outstanding(819_200.0, 200.0, 3L)));
    rows.add(
        KeyValue.pair(Keys.outstanding(PK, 0, 0x2222, 32), new Outstanding(3_200.0, 100.0, 1L)));
    rows.add(
        KeyValue.pair(
            Keys.outstanding(PK, 1, 0x3333, 1 << 20), new Outstanding(1_048_576.0, 1.0, 1L)));
    rows.add(KeyValue.pair(Keys.outstanding(PK, 0, 0, 128), new Outstanding(256.0, 2.0, 2L)));
    return rows;
  }

  static CounterSample counters() {
    Map<String, Long> regions = new LinkedHashMap<>();
    regions.put("heap", 5_000_000L);
    regions.put("heap:reserved", 8_000_000L);
    regions.put("stack:reserved", 8_388_608L);
    return CounterSample.newBuilder()
        .setHost("host-a")
        .setPid(4242)
        .setName("demo-service")
        .setTimestampMs(AS_OF_MS - 500)
        .setPrivateBytes(9_000_000)
        .setVirtualBytes(90_000_000)
        .setResidentBytes(7_000_000)
        .setManagedHeapBytes(null)
        .setOpenFds(17)
        .setStartTimeSeconds((AS_OF_MS - 3_700_000) / 1000.0)
        .setRegions(regions)
        .setHeapArenaBytes(6_000_000L)
        .setHeapInUseBytes(4_500_000L)
        .setHeapFreeBytes(1_500_000L)
        .build();
  }

  static StackAges ages(Map<Long, StackTrend> trendsOut) {
    List<KeyValue<String, StackTrend>> trends =
        List.of(
            KeyValue.pair(
                Keys.trend(PK, "0000000000001111"),
                new StackTrend(
                    1_459_200.5,
                    AS_OF_MS - 60_000,
                    AS_OF_MS - 3_600_000,
                    new ArrayList<>(
                        List.of(
                            100_000.0, 200_000.0, 300_000.0, 400_000.0, 500_000.0, 600_000.0)))));
    List<KeyValue<String, LiveAllocation>> live =
        List.of(
            KeyValue.pair(
                Keys.live(PK, 0x10),
                new LiveAllocation(0x1111L, 64L, 64.0, 0, (AS_OF_MS - 3_000_000) * 1_000_000L, 1L)),
            KeyValue.pair(
                Keys.live(PK, 0x20),
                new LiveAllocation(
                    0x1111L, 4096L, 4096.0, 0, (AS_OF_MS - 100_000) * 1_000_000L, 2L)),
            KeyValue.pair(
                Keys.live(PK, 0x30),
                new LiveAllocation(0x2222L, 32L, 32.0, 0, (AS_OF_MS - 10_000) * 1_000_000L, 3L)));
    return StackAges.scan(trends.iterator(), live.iterator(), AS_OF_MS, 300_000, trendsOut);
  }

  static String render(boolean exited, CounterSample counters) throws Exception {
    Map<Long, StackTrend> trends = new HashMap<>();
    StackAges ages = ages(trends);
    Function<String, String> allocatorOf = id -> ReportBuilder.allocatorOf(id, STACKS.get(id));
    String snapshot =
        ReportJson.write(
            ReportBuilder.snapshot(
                state(exited), rows(), ages, trends, counters, AS_OF_MS, allocatorOf));
    String rendered =
        ReportBuilder.JSON
            .writer(SerializationFeature.INDENT_OUTPUT)
            .writeValueAsString(ReportBuilder.render(snapshot, STACKS::get));
    return "snapshot: " + snapshot + "\nreport:\n" + rendered + "\n";
  }

  private static void check(String name, String actual) throws Exception {
    Path golden = Path.of("src/test/resources/io/leakwatch/streams/report", name);
    if (Boolean.getBoolean("leakwatch.regenerate") || !Files.exists(golden)) {
      Files.writeString(golden, actual, StandardCharsets.UTF_8);
    }
    assertThat(actual).isEqualTo(Files.readString(golden, StandardCharsets.UTF_8));
  }

  @Test
  void aLiveProcessWithCountersRendersExactlyTheContract() throws Exception {
    check("report-contract-live.json", render(false, counters()));
  }

  @Test
  void anExitedProcessWithoutCountersRendersExactlyTheContract() throws Exception {
    check("report-contract-exited.json", render(true, null));
  }
}
