package io.leakwatch.streams;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.kafka.KafkaFixture;
import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.AllocationKind;
import io.leakwatch.schemas.AvroSerde;
import io.leakwatch.schemas.CounterSample;
import io.leakwatch.schemas.EventBatch;
import io.leakwatch.schemas.EventType;
import io.leakwatch.schemas.Frame;
import io.leakwatch.schemas.ProcessExited;
import io.leakwatch.schemas.ProcessMessage;
import io.leakwatch.schemas.ProcessStarted;
import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.schemas.Topics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * Twelve thousand malformed, truncated and mutated records of every type the streams-app reads,
 * interleaved with one valid process: every record that cannot be read is skipped, counted and
 * dead-lettered; the valid process comes out exact; the app keeps running.
 */
class DeadLetterTest {
  private static final int PER_TOPIC = 4_000;

  private static byte[] mutate(byte[] valid, Random rnd) {
    byte[] b = valid.clone();
    switch (rnd.nextInt(5)) {
      case 0 -> b = java.util.Arrays.copyOf(b, rnd.nextInt(b.length)); // truncated
      case 1 -> { // bytes flipped
        for (int i = 0; i < 1 + rnd.nextInt(4); i++)
          b[rnd.nextInt(b.length)] ^= (byte) (1 + rnd.nextInt(255));
      }
      case 2 -> { // garbage
        b = new byte[rnd.nextInt(200)];
        rnd.nextBytes(b);
      }
      case 3 -> { // a wrong schema fingerprint behind a valid marker
        for (int i = 2; i < 10 && i < b.length; i++) b[i] = (byte) rnd.nextInt(256);
      }
      default -> { // a valid header with a body cut and padded with noise
        int keep = Math.min(b.length, 10 + rnd.nextInt(Math.max(1, b.length - 10)));
        byte[] tail = new byte[rnd.nextInt(64)];
        rnd.nextBytes(tail);
        byte[] c = java.util.Arrays.copyOf(b, keep + tail.length);
        System.arraycopy(tail, 0, c, keep, tail.length);
        b = c;
      }
    }
    return b;
  }

  /** Readable, but keyed by another process than the one it speaks of (refused by the topology). */
  private static boolean misrouted(String key, String topic, byte[] b) {
    try {
      if (topic.equals(Topics.EVENTS)) {
        ProcessMessage m = AvroSerde.of(ProcessMessage.class).deserialize(topic, b);
        return m != null
            && m.getBody() != null
            && !key.equals(Topics.processKey(m.getHost(), m.getPid()));
      }
      CounterSample c = AvroSerde.of(CounterSample.class).deserialize(topic, b);
      return c != null && !key.equals(Topics.processKey(c.getHost(), c.getPid()));
    } catch (RuntimeException e) {
      return false;
    }
  }

  private static boolean unreadable(AvroSerde<?> serde, String topic, byte[] b) {
    try {
      serde.deserialize(topic, b);
      return false;
    } catch (RuntimeException e) {
      return true;
    }
  }

  @Test
  void malformedRecordsOfEveryTypeAreDeadLetteredAndCountedWhileValidOnesAreProcessed()
      throws Exception {
    Path state = Files.createTempDirectory("streams-dlq");
    try (KafkaFixture kafka = KafkaFixture.start();
        StreamsApp app =
            new StreamsApp(
                    StreamsAppConfig.defaults(kafka.bootstrapServers(), state).withHttpPort(-1))
                .start(Duration.ofMinutes(2));
        KafkaProducer<String, byte[]> producer =
            new KafkaProducer<>(
                Map.of(
                    "bootstrap.servers",
                    kafka.bootstrapServers(),
                    "linger.ms",
                    20,
                    "enable.idempotence",
                    true),
                new StringSerializer(),
                new ByteArraySerializer())) {
      AvroSerde<ProcessMessage> messages = AvroSerde.of(ProcessMessage.class);
      AvroSerde<StackDefinition> stacks = AvroSerde.of(StackDefinition.class);
      AvroSerde<CounterSample> counters = AvroSerde.of(CounterSample.class);
      long stackId = 0x5eed5eed5eedL;
      String goodKey = Topics.processKey("good", 1);
      long now = System.currentTimeMillis();
      StackDefinition def =
          StackDefinition.newBuilder()
              .setId(Topics.stackIdHex(stackId))
              .setAllocator("libgood.so")
              .setCulprit("svc!leak+0x1")
              .setFrames(
                  List.of(
                      Frame.newBuilder()
                          .setModule("libgood.so")
                          .setFunction("leak")
                          .setOffset(1)
                          .setModuleOffset(0x100)
                          .build()))
              .build();
      List<AllocationEvent> events = new ArrayList<>();
      for (int i = 0; i < 100; i++) {
        events.add(
            AllocationEvent.newBuilder()
                .setSeq(i)
                .setType(EventType.ALLOC)
                .setKind(AllocationKind.HEAP)
                .setAddress(0x1000 + i * 64L)
                .setSize(1000)
                .setWeight(1000)
                .setTimestampNs(now * 1_000_000L)
                .setStackId(stackId)
                .build());
      }
      for (int i = 0; i < 30; i++) {
        events.add(
            AllocationEvent.newBuilder()
                .setSeq(100 + i)
                .setType(EventType.FREE)
                .setKind(AllocationKind.HEAP)
                .setAddress(0x1000 + i * 64L)
                .setSize(0)
                .setWeight(0)
                .setTimestampNs(0)
                .setStackId(0)
                .build());
      }
      byte[] started =
          messages.serialize(
              Topics.EVENTS,
              ProcessMessage.newBuilder()
                  .setHost("good")
                  .setPid(1)
                  .setProcessStartTicks(5)
                  .setBody(
                      ProcessStarted.newBuilder()
                          .setName("good-service")
                          .setCommand("good")
                          .setPpid(1)
                          .setStartedAtMs(now)
                          .setSampleBytes(0)
                          .build())
                  .build());
      byte[] batch =
          messages.serialize(
              Topics.EVENTS,
              ProcessMessage.newBuilder()
                  .setHost("good")
                  .setPid(1)
                  .setProcessStartTicks(5)
                  .setBody(
                      EventBatch.newBuilder()
                          .setFirstSeq(0)
                          .setEndSeq(130)
                          .setLostEvents(0)
                          .setEvents(events)
                          .build())
                  .build());
      byte[] exited =
          messages.serialize(
              Topics.EVENTS,
              ProcessMessage.newBuilder()
                  .setHost("good")
                  .setPid(1)
                  .setProcessStartTicks(5)
                  .setBody(
                      ProcessExited.newBuilder()
                          .setExitedAtMs(now + 1)
                          .setClean(true)
                          .setLostEvents(0)
                          .build())
                  .build());
      byte[] stack = stacks.serialize(Topics.STACKS, def);
      byte[] counter =
          counters.serialize(
              Topics.COUNTERS,
              CounterSample.newBuilder()
                  .setHost("good")
                  .setPid(1)
                  .setName("good-service")
                  .setTimestampMs(now)
                  .setPrivateBytes(1 << 20)
                  .setVirtualBytes(1 << 22)
                  .setResidentBytes(1 << 20)
                  .setRegions(Map.of())
                  .build());

      Random rnd = new Random(1234);
      byte[][] eventTemplates = {started, batch, exited};
      long unreadable = 0;
      long unreadableStacks = 0;
      long misrouted =
          0; // readable records that name another process than their key (a forged good/1 exit,
      // say)
      int sent = 0;
      producer.send(new ProducerRecord<>(Topics.STACKS, def.getId(), stack));
      producer.send(new ProducerRecord<>(Topics.EVENTS, goodKey, started));
      for (int i = 0; i < PER_TOPIC; i++) {
        String junkKey = Topics.processKey("junk" + (i % 50), 1 + i % 7);
        byte[] e = mutate(eventTemplates[i % 3], rnd);
        byte[] s = mutate(stack, rnd);
        byte[] c = mutate(counter, rnd);
        boolean badStack = unreadable(stacks, Topics.STACKS, s);
        unreadableStacks += badStack ? 1 : 0;
        unreadable +=
            (unreadable(messages, Topics.EVENTS, e) ? 1 : 0)
                + (badStack ? 1 : 0)
                + (unreadable(counters, Topics.COUNTERS, c) ? 1 : 0);
        misrouted +=
            (misrouted(junkKey, Topics.EVENTS, e) ? 1 : 0)
                + (misrouted(junkKey, Topics.COUNTERS, c) ? 1 : 0);
        producer.send(new ProducerRecord<>(Topics.EVENTS, junkKey, e));
        producer.send(new ProducerRecord<>(Topics.STACKS, "junk" + i, s));
        producer.send(new ProducerRecord<>(Topics.COUNTERS, junkKey, c));
        sent += 3;
        if (i == PER_TOPIC / 2)
          producer.send(
              new ProducerRecord<>(Topics.EVENTS, goodKey, batch)); // valid ones among them
      }
      producer.send(new ProducerRecord<>(Topics.COUNTERS, goodKey, counter));
      producer.send(new ProducerRecord<>(Topics.EVENTS, goodKey, exited));
      producer.flush();
      System.out.println(
          "dead letters: sent "
              + sent
              + " hostile records, "
              + unreadable
              + " of them unreadable, "
              + misrouted
              + " readable but keyed by another process");
      assertThat(sent).isGreaterThanOrEqualTo(10_000);
      assertThat(unreadable).isGreaterThan(sent / 2);

      // The valid process, exact.
      long deadline = System.currentTimeMillis() + 120_000;
      var report = app.reports().report("good", 1);
      while ((report.isEmpty() || !report.get().process().exited())
          && System.currentTimeMillis() < deadline) {
        Thread.sleep(250);
        report = app.reports().report("good", 1);
      }
      assertThat(report).isPresent();
      assertThat(report.get().outstanding().bytes()).isEqualTo(70 * 1000);
      assertThat(report.get().outstanding().allocations()).isEqualTo(70);

      // Every unreadable record skipped, counted and dead-lettered; the app still running.
      double dropped = 0;
      while (System.currentTimeMillis() < deadline) {
        dropped = StreamsApp.droppedRecords(app.streams()) + app.malformedStacks();
        if (dropped >= unreadable + misrouted) break;
        Thread.sleep(250);
      }
      long dead = 0;
      try (KafkaConsumer<byte[], byte[]> c =
          new KafkaConsumer<>(
              Map.of(
                  "bootstrap.servers",
                  kafka.bootstrapServers(),
                  "group.id",
                  "dlq-count",
                  "auto.offset.reset",
                  "earliest",
                  "isolation.level",
                  "read_committed"),
              new ByteArrayDeserializer(),
              new ByteArrayDeserializer())) {
        c.subscribe(List.of(StreamsApp.DEAD_LETTERS));
        long quietSince = System.currentTimeMillis();
        while (System.currentTimeMillis() - quietSince < 5_000
            && System.currentTimeMillis() < deadline + 60_000) {
          int n = 0;
          for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) n++;
          if (n > 0) quietSince = System.currentTimeMillis();
          dead += n;
        }
      }
      System.out.println(
          "dead letters: "
              + (long) dropped
              + " dropped (leakwatch_streams_dropped_records_total), "
              + dead
              + " records on "
              + StreamsApp.DEAD_LETTERS
              + " (+ "
              + app.malformedStacks()
              + " unreadable stack definitions counted),"
              + " state "
              + app.streams().state());
      assertThat((long) dropped)
          .as("every unreadable or misrouted record counted")
          .isEqualTo(unreadable + misrouted);
      assertThat(app.malformedStacks())
          .as("stack definitions: counted by the global store's reader")
          .isEqualTo(unreadableStacks);
      assertThat(dead)
          .as("events and counters dead-lettered")
          .isEqualTo((long) dropped - app.malformedStacks());
      assertThat(app.streams().state())
          .isEqualTo(org.apache.kafka.streams.KafkaStreams.State.RUNNING);
    }
  }
}
