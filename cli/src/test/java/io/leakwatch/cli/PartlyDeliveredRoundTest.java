package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.leakwatch.collector.Collector;
import io.leakwatch.collector.CollectorConfig;
import io.leakwatch.kafka.EmbeddedKafka;
import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.AvroSerde;
import io.leakwatch.schemas.EventBatch;
import io.leakwatch.schemas.EventType;
import io.leakwatch.schemas.ProcessMessage;
import io.leakwatch.schemas.Topics;
import io.leakwatch.streams.StreamsApp;
import io.leakwatch.streams.StreamsAppConfig;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.ProducerInterceptor;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kafka fails one record of a collector round and delivers a later record of the same process in
 * that round. That is what a delivery timeout does while a partition's leader moves: the expired
 * batch is dropped and the batches queued behind it go to the new leader (FleetNetnsTest's run 44
 * lost a service's burst this way after a broker host was cut off). The round fails and its retry
 * sends every event again; the streams-app must not have applied the later record over the gap, or
 * the failed record's events look like duplicates when they come again.
 *
 * <p>A real broker, collector, streams-app and shim; the failure is a real producer's: an
 * interceptor sends the chosen record to a partition the topic does not have, so the producer fails
 * that send (after max.block.ms) and only that one.
 */
class PartlyDeliveredRoundTest {
  private static final int LEAK_SIZE = 48;

  /** More than two of the collector's records (20,000 events each), released together. */
  private static final int LEAKS = 50_000;

  @TempDir Path tmp;

  /**
   * Fails the first events record of {@link #pid} carrying a leaked block, and notes whether the
   * next record of that process went on from after it (a later record of the same round) rather
   * than from before it (the round's retry).
   */
  public static final class FailOneRecord implements ProducerInterceptor<String, byte[]> {
    static volatile long pid = -1;
    static final AtomicLong failedLastSeq = new AtomicLong(-1);
    static volatile Boolean nextWentOnPastTheFailure;
    private final AvroSerde<ProcessMessage> serde = AvroSerde.of(ProcessMessage.class);

    @Override
    public ProducerRecord<String, byte[]> onSend(ProducerRecord<String, byte[]> record) {
      if (pid < 0 || !record.topic().equals(Topics.EVENTS)) return record;
      ProcessMessage m = serde.deserialize(record.topic(), record.value());
      if (m.getPid() != pid || !(m.getBody() instanceof EventBatch b) || b.getEvents().isEmpty())
        return record;
      List<AllocationEvent> events = b.getEvents();
      if (failedLastSeq.get() >= 0) {
        if (nextWentOnPastTheFailure == null)
          nextWentOnPastTheFailure = events.get(0).getSeq() > failedLastSeq.get();
        return record;
      }
      boolean leaks =
          events.stream().anyMatch(e -> e.getType() == EventType.ALLOC && e.getSize() == LEAK_SIZE);
      if (!leaks) return record;
      failedLastSeq.set(events.get(events.size() - 1).getSeq());
      return new ProducerRecord<>(record.topic(), 1_000_000, record.key(), record.value());
    }

    @Override
    public void onAcknowledgement(RecordMetadata metadata, Exception exception) {}

    @Override
    public void close() {}

    @Override
    public void configure(Map<String, ?> configs) {}
  }

  @Test
  void aRoundWhoseFirstRecordFailedAndLaterOneArrivedEndsExact() throws Exception {
    Path runDir = Files.createDirectories(tmp.resolve("run"));
    try (EmbeddedKafka kafka = EmbeddedKafka.start(tmp.resolve("kafka"), 0, false, Map.of());
        StreamsApp streams =
            new StreamsApp(
                    StreamsAppConfig.defaults(kafka.bootstrapServers(), tmp.resolve("streams"))
                        .withHttpPort(-1)
                        .withPartitions(1))
                .start(Duration.ofMinutes(2))) {
      CollectorConfig config =
          CollectorConfig.defaults(kafka.bootstrapServers())
              .withKafka(
                  Map.of(
                      "bootstrap.servers",
                      kafka.bootstrapServers(),
                      "interceptor.classes",
                      FailOneRecord.class.getName()))
              .withRunDir(runDir)
              .withHttpPort(0);
      try (Collector collector = new Collector(config).start()) {
        Process p =
            Targets.tracked(
                    runDir,
                    Home.nativeDir().resolve("fleet-target").toString(),
                    Integer.toString(LEAK_SIZE),
                    Integer.toString(LEAKS),
                    "0")
                .start();
        try {
          BufferedReader out =
              new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
          assertThat(out.readLine()).isEqualTo("ready");
          FailOneRecord.pid = p.pid();
          new ProcessBuilder("kill", "-USR1", Long.toString(p.pid())).start().waitFor();
          assertThat(out.readLine()).isEqualTo("leaked " + (long) LEAKS * LEAK_SIZE);
          // The collector reads the burst in rounds of 20,000 events and holds them for the pair
          // grace period (1 s): they leave together, as one round's records of 20,000 each.
          Thread.sleep(3 * CollectorConfig.DEFAULT_PAIR_GRACE_MS);
          new ProcessBuilder("kill", "-TERM", Long.toString(p.pid())).start().waitFor();
          assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        } finally {
          p.destroyForcibly();
        }

        JsonNode r =
            Targets.awaitExitReport(
                () -> streams.reports().report(config.host(), (int) p.pid()).map(Targets::json),
                120_000);
        assertThat(r).as("exit report").isNotNull();
        System.out.println(
            "partly delivered round: failed the record ending at event "
                + FailOneRecord.failedLastSeq.get()
                + ", the next record went on past it: "
                + FailOneRecord.nextWentOnPastTheFailure
                + "; fleet_leak bytes "
                + Targets.bytesOfStacksCalling(r, "fleet_leak")
                + "; tracking "
                + r.path("tracking"));
        assertThat(FailOneRecord.failedLastSeq.get()).as("a record was failed").isNotNegative();
        assertThat(FailOneRecord.nextWentOnPastTheFailure)
            .as("a later record of the same round was sent after the failed one")
            .isTrue();
        assertThat(Targets.bytesOfStacksCalling(r, "fleet_leak"))
            .as("every leaked block, after the round's retry")
            .isEqualTo((long) LEAKS * LEAK_SIZE);
        assertThat(r.path("tracking").path("lostEvents").asLong()).isZero();
      } finally {
        FailOneRecord.pid = -1;
      }
    }
  }
}
