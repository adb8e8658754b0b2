package io.leakwatch.streams.topology;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.AllocationKind;
import io.leakwatch.schemas.AvroSerde;
import io.leakwatch.schemas.EventBatch;
import io.leakwatch.schemas.EventType;
import io.leakwatch.schemas.ExitReport;
import io.leakwatch.schemas.ProcessExited;
import io.leakwatch.schemas.ProcessMessage;
import io.leakwatch.schemas.ProcessStarted;
import io.leakwatch.schemas.Topics;
import io.leakwatch.streams.report.ReportBuilder;
import io.leakwatch.streams.state.ProcessState;
import io.leakwatch.streams.stores.Keys;
import io.leakwatch.streams.stores.StoreNames;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.Test;

/**
 * An exited process's report is kept for the retention, then deleted and compacted out of the
 * topic.
 */
class ExitRetentionTest {
  @Test
  void exitReportsOutliveTheLiveStateUntilTheRetentionEnds() throws Exception {
    Path dir = Files.createTempDirectory("ttd-retention");
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, "retention");
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    p.put(StreamsConfig.STATE_DIR_CONFIG, dir.toString());
    long retention = 3_600_000;
    try (TopologyTestDriver driver =
        new TopologyTestDriver(
            LeakTopology.build(
                TopologyOptions.defaults(ReportBuilder::exitReport)
                    .withStoreKind(LeakTopology.StoreKind.IN_MEMORY)
                    .withTrendWindowMs(60_000)
                    .withExitRetentionMs(retention)),
            p)) {
      TestInputTopic<String, ProcessMessage> events =
          driver.createInputTopic(
              Topics.EVENTS, Serdes.String().serializer(), AvroSerde.of(ProcessMessage.class));
      TestOutputTopic<String, ExitReport> exits =
          driver.createOutputTopic(
              Topics.EXIT_REPORTS, Serdes.String().deserializer(), AvroSerde.of(ExitReport.class));
      KeyValueStore<String, ProcessState> processes = driver.getKeyValueStore(StoreNames.PROCESSES);
      KeyValueStore<String, String> reports = driver.getKeyValueStore(StoreNames.EXIT_REPORTS);
      String pk = Keys.process("h", 7);
      long now = System.currentTimeMillis();
      events.pipeInput(
          pk,
          msg(
              ProcessStarted.newBuilder()
                  .setName("svc")
                  .setCommand("svc")
                  .setPpid(1)
                  .setStartedAtMs(now)
                  .setSampleBytes(0)
                  .build()));
      events.pipeInput(
          pk,
          msg(
              EventBatch.newBuilder()
                  .setFirstSeq(64)
                  .setEndSeq(128)
                  .setLostEvents(0)
                  .setEvents(
                      List.of(
                          AllocationEvent.newBuilder()
                              .setSeq(64)
                              .setType(EventType.ALLOC)
                              .setKind(AllocationKind.HEAP)
                              .setAddress(0x1000)
                              .setSize(422)
                              .setWeight(422)
                              .setTimestampNs(now * 1_000_000L)
                              .setStackId(9)
                              .build()))
                  .build()));
      events.pipeInput(
          pk,
          msg(
              ProcessExited.newBuilder()
                  .setExitedAtMs(now)
                  .setClean(true)
                  .setLostEvents(0)
                  .build()));
      // Stack 9 is never defined here: the exit waits for it, then is applied as it is.
      driver.advanceWallClockTime(
          Duration.ofMillis(AllocationMatcher.EXIT_WAITS_FOR_STACKS_MS + 500));
      assertThat(exits.readKeyValue().value).isNotNull();
      assertThat(reports.get(pk)).contains("\"bytes\":422");

      driver.advanceWallClockTime(Duration.ofMinutes(30));
      assertThat(reports.get(pk)).as("kept within the retention").isNotNull();
      assertThat(processes.get(pk).getExited()).isTrue();

      driver.advanceWallClockTime(Duration.ofMinutes(45));
      assertThat(reports.get(pk)).as("forgotten after it").isNull();
      assertThat(processes.get(pk)).isNull();
      var tombstone = exits.readKeyValue();
      assertThat(tombstone.key).isEqualTo(pk);
      assertThat(tombstone.value)
          .as("a tombstone compacts it out of the exit-reports topic")
          .isNull();
    }
  }

  /**
   * A process whose host vanished (no events, no counters) is retired after the staleness limit,
   * with its report.
   */
  @Test
  void aSilentProcessIsRetiredButCountersKeepAnIdleOneAlive() throws Exception {
    long stale = 10 * 60_000L;
    Instant t0 = Instant.now();
    try (TopologyTestDriver driver = staleDriver("stale", stale, t0)) {
      TestInputTopic<String, ProcessMessage> events = eventsTopic(driver);
      TestInputTopic<String, io.leakwatch.schemas.CounterSample> counters = countersTopic(driver);
      KeyValueStore<String, ProcessState> processes = driver.getKeyValueStore(StoreNames.PROCESSES);
      KeyValueStore<String, String> reports = driver.getKeyValueStore(StoreNames.EXIT_REPORTS);
      for (int pid : new int[] {7, 8})
        events.pipeInput(Keys.process("h", pid), started(pid, t0), t0);
      // Only pid 8's collector keeps reporting (an idle process: counters, no events). Both were
      // last heard twice the limit ago: aged by hand instead of waiting.
      for (String pk : new String[] {Keys.process("h", 7), Keys.process("h", 8)}) {
        ProcessState st = processes.get(pk);
        st.setLastEventMs(t0.toEpochMilli() - 2 * stale);
        processes.put(pk, st);
      }
      counters.pipeInput(Keys.process("h", 8), sample(8, t0, 0), t0);
      driver.advanceWallClockTime(Duration.ofMinutes(2));
      assertThat(processes.get(Keys.process("h", 7)).getExited()).as("silent: retired").isTrue();
      assertThat(processes.get(Keys.process("h", 7)).getCleanExit()).isFalse();
      assertThat(reports.get(Keys.process("h", 7))).as("with its report").isNotNull();
      assertThat(processes.get(Keys.process("h", 8)).getExited())
          .as("counters keep an idle process alive")
          .isFalse();
    }
  }

  /**
   * A task minutes behind its input (a backlog, a restore) judges silence by what it has read, not
   * by the wall clock: a process whose records wait unread behind others' is not retired, one that
   * stays silent while the others on its partition move on is, and so is one on a partition where
   * nothing arrives at all. (CI of e60a1ec: FleetNetnsTest's app3 was retired while its counters
   * waited behind a 100,000-stack process's records.)
   */
  @Test
  void aTaskBehindItsInputRetiresOnlyWhatIsSilentInWhatItRead() throws Exception {
    long stale = 120_000L;
    Instant t0 = Instant.now();
    try (TopologyTestDriver driver = staleDriver("behind", stale, t0)) {
      TestInputTopic<String, ProcessMessage> events = eventsTopic(driver);
      TestInputTopic<String, io.leakwatch.schemas.CounterSample> counters = countersTopic(driver);
      KeyValueStore<String, ProcessState> processes = driver.getKeyValueStore(StoreNames.PROCESSES);
      for (int pid : new int[] {7, 8, 9})
        events.pipeInput(Keys.process("h", pid), started(pid, t0), t0);
      // The task reads 10 s of records for every 30 s of wall clock (a record every 10 s, as a task
      // behind its input reads without pause): after 300 s it has read up to t0 + 100 s, and pid 7
      // (which has said nothing since t0) has been silent 100 s in that time.
      for (int j = 1; j <= 30; j++) readBehind(driver, counters, t0, j);
      assertThat(processes.get(Keys.process("h", 7)).getExited())
          .as("300 s of wall clock, 100 s of what the task read: not silent yet")
          .isFalse();
      // Pid 7's sample, sent at t0 + 105 s, was waiting in the backlog.
      counters.pipeInput(Keys.process("h", 7), sample(7, t0, 105_000), t0.plusSeconds(105));
      for (int j = 31; j <= 75; j++) {
        long atMs = readBehind(driver, counters, t0, j);
        long silentMs = atMs - 105_000;
        if (silentMs <= stale)
          assertThat(processes.get(Keys.process("h", 7)).getExited())
              .as("read up to t0 + %d ms: pid 7 heard at 105 s", atMs)
              .isFalse();
        if (silentMs > stale + 12_000 + 4_000) // + an expiry period and a step
        assertThat(processes.get(Keys.process("h", 7)).getExited())
              .as("read up to t0 + %d ms while pid 7 said nothing since 105 s", atMs)
              .isTrue();
      }
      assertThat(processes.get(Keys.process("h", 8)).getExited()).isFalse();
      assertThat(processes.get(Keys.process("h", 9)).getExited())
          .as("a host whose clock runs an hour behind, heard as often")
          .isFalse();
      // Then nothing arrives at all: after its stream time stood still half the staleness limit (60
      // s) the task has read everything, and silence is the wall clock's: pid 8, heard at t0 + 250
      // s
      // with the wall at t0 + 750 s, is retired.
      driver.advanceWallClockTime(Duration.ofSeconds(36));
      assertThat(processes.get(Keys.process("h", 8)).getExited())
          .as("36 s with nothing to read")
          .isFalse();
      driver.advanceWallClockTime(Duration.ofSeconds(40));
      assertThat(processes.get(Keys.process("h", 8)).getExited())
          .as("76 s with nothing to read")
          .isTrue();
    }
  }

  /**
   * Step {@code j} of a task behind its input: it reads pid 8's sample sent at t0 + j * 10/3 s (and
   * every third step pid 9's, whose host clock runs an hour behind: it speaks as often, and is not
   * silent) while the wall clock moves 10 s. Returns the time read up to, after t0.
   */
  private static long readBehind(
      TopologyTestDriver driver,
      TestInputTopic<String, io.leakwatch.schemas.CounterSample> counters,
      Instant t0,
      int j) {
    long atMs = j * 10_000L / 3;
    counters.pipeInput(Keys.process("h", 8), sample(8, t0, atMs), t0.plusMillis(atMs));
    if (j % 3 == 0)
      counters.pipeInput(
          Keys.process("h", 9), sample(9, t0, atMs), t0.plusMillis(atMs).minusSeconds(3600));
    driver.advanceWallClockTime(Duration.ofSeconds(10));
    return atMs;
  }

  /** A driver of the topology with a staleness limit of {@code staleMs}, its wall clock at t0. */
  private static TopologyTestDriver staleDriver(String appId, long staleMs, Instant t0)
      throws Exception {
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("ttd-" + appId).toString());
    return new TopologyTestDriver(
        LeakTopology.build(
            TopologyOptions.defaults(ReportBuilder::exitReport)
                .withStoreKind(LeakTopology.StoreKind.IN_MEMORY)
                .withTrendWindowMs(60_000)
                .withExitRetentionMs(3_600_000)
                .withStaleAfterMs(staleMs)),
        p,
        t0);
  }

  private static TestInputTopic<String, ProcessMessage> eventsTopic(TopologyTestDriver driver) {
    return driver.createInputTopic(
        Topics.EVENTS, Serdes.String().serializer(), AvroSerde.of(ProcessMessage.class));
  }

  private static TestInputTopic<String, io.leakwatch.schemas.CounterSample> countersTopic(
      TopologyTestDriver driver) {
    return driver.createInputTopic(
        Topics.COUNTERS,
        Serdes.String().serializer(),
        AvroSerde.of(io.leakwatch.schemas.CounterSample.class));
  }

  /** Host h's process {@code pid} announced, started at t0. */
  private static ProcessMessage started(int pid, Instant t0) {
    return ProcessMessage.newBuilder()
        .setHost("h")
        .setPid(pid)
        .setProcessStartTicks(1)
        .setBody(
            ProcessStarted.newBuilder()
                .setName("svc")
                .setCommand("svc")
                .setPpid(1)
                .setStartedAtMs(t0.toEpochMilli())
                .setSampleBytes(0)
                .build())
        .build();
  }

  private static io.leakwatch.schemas.CounterSample sample(int pid, Instant t0, long atMs) {
    return io.leakwatch.schemas.CounterSample.newBuilder()
        .setHost("h")
        .setPid(pid)
        .setName("svc")
        .setTimestampMs(t0.toEpochMilli() + atMs)
        .setPrivateBytes(1)
        .setVirtualBytes(1)
        .setResidentBytes(1)
        .build();
  }

  private static ProcessMessage msg(Object body) {
    return ProcessMessage.newBuilder()
        .setHost("h")
        .setPid(7)
        .setProcessStartTicks(1)
        .setBody(body)
        .build();
  }
}
