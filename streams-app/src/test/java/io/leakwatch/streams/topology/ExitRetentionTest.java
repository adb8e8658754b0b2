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
import io.leakwatch.streams.state.ProcessState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.Test;

/** An exited process's report is kept for the retention, then deleted and compacted out of the topic. */
class ExitRetentionTest {
  @Test
  void exitReportsOutliveTheLiveStateUntilTheRetentionEnds() throws Exception {
    Path dir = Files.createTempDirectory("ttd-retention");
    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, "retention");
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
    p.put(StreamsConfig.STATE_DIR_CONFIG, dir.toString());
    long retention = 3_600_000;
    try (TopologyTestDriver driver = new TopologyTestDriver(LeakTopology.build(LeakTopology.StoreKind.IN_MEMORY,
        new java.util.concurrent.atomic.LongAdder(), 60_000, retention), p)) {
      TestInputTopic<String, ProcessMessage> events =
          driver.createInputTopic(Topics.EVENTS, Serdes.String().serializer(), AvroSerde.of(ProcessMessage.class));
      TestOutputTopic<String, ExitReport> exits =
          driver.createOutputTopic(Topics.EXIT_REPORTS, Serdes.String().deserializer(), AvroSerde.of(ExitReport.class));
      KeyValueStore<String, ProcessState> processes = driver.getKeyValueStore(StoreNames.PROCESSES);
      KeyValueStore<String, String> reports = driver.getKeyValueStore(StoreNames.EXIT_REPORTS);
      String pk = Keys.process("h", 7);
      long now = System.currentTimeMillis();
      events.pipeInput(pk, msg(ProcessStarted.newBuilder().setName("svc").setCommand("svc").setPpid(1).setStartedAtMs(now)
          .setSampleBytes(0).build()));
      events.pipeInput(pk, msg(EventBatch.newBuilder().setFirstSeq(64).setEndSeq(128).setLostEvents(0).setEvents(List.of(
          AllocationEvent.newBuilder().setSeq(64).setType(EventType.ALLOC).setKind(AllocationKind.HEAP).setAddress(0x1000).setSize(422)
              .setWeight(422).setTimestampNs(now * 1_000_000L).setStackId(9).build())).build()));
      events.pipeInput(pk, msg(ProcessExited.newBuilder().setExitedAtMs(now).setClean(true).setLostEvents(0).build()));
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
      assertThat(tombstone.value).as("a tombstone compacts it out of the exit-reports topic").isNull();
    }
  }

  private static ProcessMessage msg(Object body) {
    return ProcessMessage.newBuilder().setHost("h").setPid(7).setProcessStartTicks(1).setBody(body).build();
  }
}
