package io.leakwatch.collector;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.ring.RingFile;
import io.leakwatch.collector.ring.RingLayout;
import io.leakwatch.kafka.EmbeddedKafka;
import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.AvroSerde;
import io.leakwatch.schemas.EventBatch;
import io.leakwatch.schemas.EventType;
import io.leakwatch.schemas.ProcessExited;
import io.leakwatch.schemas.ProcessMessage;
import io.leakwatch.schemas.ProcessStarted;
import io.leakwatch.schemas.StackDefinition;
import io.leakwatch.schemas.Topics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The jobs of a round together, against a real broker: a ring of a process that has exited is
 * discovered, drained to Kafka (its start, its stacks before the batches that use them, the batches
 * in sequence), then retired (its exit published, the ring removed, its start remembered).
 */
class CollectorRoundTest {
  @TempDir Path tmp;

  @Test
  void aRingOfAnExitedProcessIsPublishedInOrderAndRetired() throws Exception {
    Path runDir = Files.createDirectories(tmp.resolve("run"));
    Path ring = churnRing(runDir, 1 << 20, 2000);
    int pid;
    long startMs;
    try (RingFile r = RingFile.open(ring)) {
      pid = r.pid();
      startMs = r.startTimeNs() / 1_000_000;
    }

    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      createTopics(kafka);
      CollectorConfig config =
          CollectorConfig.defaults(kafka.bootstrapServers()).withRunDir(runDir).withHttpPort(0);
      try (Collector c = new Collector(config)) {
        long moved = 0;
        // A process found gone is retired after the next scan of the run directory (250 ms).
        for (int i = 0; i < 100 && c.retiredStartMs(pid).isEmpty(); i++) {
          moved += c.round();
          Thread.sleep(20);
        }
        assertThat(c.retiredStartMs(pid)).contains(startMs);
        assertThat(c.followed()).isZero();
        assertThat(c.refusedRings()).isZero();
        assertThat(moved).isPositive();
        assertThat(ring).doesNotExist();
      }

      List<Object> bodies = new ArrayList<>();
      for (byte[] v : readAll(kafka, Topics.EVENTS)) {
        ProcessMessage m = AvroSerde.of(ProcessMessage.class).deserialize(Topics.EVENTS, v);
        if (m.getPid() == pid) bodies.add(m.getBody());
      }
      Set<String> stacks = new HashSet<>();
      for (byte[] v : readAll(kafka, Topics.STACKS))
        stacks.add(AvroSerde.of(StackDefinition.class).deserialize(Topics.STACKS, v).getId());

      assertThat(bodies.get(0)).isInstanceOf(ProcessStarted.class);
      assertThat(bodies.get(bodies.size() - 1)).isInstanceOf(ProcessExited.class);
      assertThat(bodies.subList(1, bodies.size() - 1))
          .isNotEmpty()
          .allMatch(b -> b instanceof EventBatch);
      long expectedFirst = ((EventBatch) bodies.get(1)).getFirstSeq();
      long allocs = 0;
      for (Object b : bodies.subList(1, bodies.size() - 1)) {
        EventBatch batch = (EventBatch) b;
        assertThat(batch.getFirstSeq()).as("batches follow each other").isEqualTo(expectedFirst);
        expectedFirst = batch.getEndSeq();
        for (AllocationEvent e : batch.getEvents()) {
          if (e.getType() != EventType.ALLOC) continue;
          allocs++;
          assertThat(stacks)
              .as("every stack an allocation names is on the stacks topic")
              .contains(Topics.stackIdHex(e.getStackId()));
        }
      }
      assertThat(allocs).isPositive();
      assertThat(((ProcessExited) bodies.get(bodies.size() - 1)).getClean()).isTrue();
    }
  }

  /**
   * A ring a quarter full or more (a flood) is read ten batches a round, not one: a round costs a
   * Kafka round trip whatever it moves. What it publishes is still records of at most one batch,
   * every event once, in ring order, and the pairs dropped with the events published account for
   * every allocation and free the program made.
   */
  @Test
  void aFillingRingIsReadTenBatchesARoundAndPublishedInRecordsOfOneBatch() throws Exception {
    int pairs = 300_000;
    Path runDir = Files.createDirectories(tmp.resolve("run"));
    Path ring = churnRing(runDir, 64L << 20, pairs);
    int pid;
    try (RingFile r = RingFile.open(ring)) {
      pid = r.pid();
      assertThat(r.fill())
          .as("the ring is filling")
          .isGreaterThanOrEqualTo(PublishRound.FLOOD_FILL);
      assertThat(r.stat(RingLayout.STAT_DROPPED_FULL))
          .as("the program's events all in the ring")
          .isZero();
    }

    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      createTopics(kafka);
      CollectorConfig config =
          CollectorConfig.defaults(kafka.bootstrapServers()).withRunDir(runDir).withHttpPort(0);
      int batch = config.maxBatchEvents();
      long pairsDropped;
      try (Collector c = new Collector(config)) {
        int firstRound = c.round();
        assertThat(firstRound)
            .as("records read by the first round of a filling ring")
            .isEqualTo(batch * PublishRound.FLOOD_BATCHES);
        for (int i = 0; i < 100 && c.retiredStartMs(pid).isEmpty(); i++) {
          c.round();
          Thread.sleep(20);
        }
        assertThat(c.retiredStartMs(pid)).isPresent();
        pairsDropped = c.pairsDropped();
      }

      long events = 0, lastSeq = -1, lost = 0, coveredTo = -1;
      for (byte[] v : readAll(kafka, Topics.EVENTS)) {
        ProcessMessage m = AvroSerde.of(ProcessMessage.class).deserialize(Topics.EVENTS, v);
        if (m.getPid() != pid || !(m.getBody() instanceof EventBatch b)) continue;
        assertThat(b.getEvents().size()).as("events in one record").isLessThanOrEqualTo(batch);
        // Most rounds of this churn read only pairs that die together: those publish nothing, and
        // the next record covers their stretch of the ring.
        assertThat(!b.getEvents().isEmpty() || b.getResync() != null || b.getLostEvents() != lost)
            .as("a record says something: events, a resync or a new loss")
            .isTrue();
        if (coveredTo >= 0) assertThat(b.getFirstSeq()).isEqualTo(coveredTo);
        coveredTo = b.getEndSeq();
        lost = b.getLostEvents();
        for (AllocationEvent e : b.getEvents()) {
          assertThat(e.getSeq()).as("every event once, in ring order").isGreaterThan(lastSeq);
          lastSeq = e.getSeq();
          events++;
        }
      }
      // the churn's pairs, plus the few blocks the C library and the program allocate themselves
      assertThat(events + 2 * pairsDropped).isBetween(2L * pairs, 2L * pairs + 200);
      assertThat(pairsDropped).as("short-lived pairs dropped in the flood").isPositive();
    }
  }

  /**
   * A live exact-mode process whose bursts are short-lived pairs and one leaked block: the rounds
   * that read only pairs (dropped together within the grace) publish no record at all, where each
   * used to send one saying nothing (a record per process and poll for the producer, the broker and
   * the streams-app). The records that are published still cover the ring without gaps.
   */
  @Test
  void roundsThatReadOnlyPairsDyingTogetherPublishNothing() throws Exception {
    Path runDir = Files.createDirectories(tmp.resolve("run"));
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      createTopics(kafka);
      CollectorConfig config =
          CollectorConfig.defaults(kafka.bootstrapServers()).withRunDir(runDir).withHttpPort(0);
      int pid;
      int rounds = 0;
      try (Collector c = new Collector(config)) {
        ProcessBuilder pb =
            new ProcessBuilder(
                    NativeRuns.NATIVE.resolve("fleet-target").toString(), "100", "1", "3000")
                .redirectErrorStream(true);
        pb.environment().put("LD_PRELOAD", NativeRuns.NATIVE.resolve("libleakwatch.so").toString());
        pb.environment().put("LEAKWATCH_RUN_DIR", runDir.toString());
        pb.environment().put("LEAKWATCH_SAMPLE_BYTES", "0");
        Process target = pb.start();
        pid = (int) target.pid();
        try {
          assertThat(new String(target.getInputStream().readNBytes(6))).isEqualTo("ready\n");
          for (int burst = 0; burst < 3; burst++) {
            new ProcessBuilder("kill", "-USR1", Integer.toString(pid)).start().waitFor();
            long until = System.nanoTime() + 1_000_000_000L;
            while (System.nanoTime() < until) {
              c.round();
              rounds++;
              Thread.sleep(50);
            }
          }
        } finally {
          target.destroy(); // SIGTERM: exits 0
          target.waitFor(10, TimeUnit.SECONDS);
        }
        for (int i = 0; i < 200 && c.retiredStartMs(pid).isEmpty(); i++) {
          c.round();
          rounds++;
          Thread.sleep(20);
        }
        assertThat(c.retiredStartMs(pid)).isPresent();
        assertThat(c.pairsDropped()).as("the bursts' pairs").isGreaterThanOrEqualTo(3 * 3000);
      }

      long records = 0, events = 0, lost = 0, coveredTo = -1;
      for (byte[] v : readAll(kafka, Topics.EVENTS)) {
        ProcessMessage m = AvroSerde.of(ProcessMessage.class).deserialize(Topics.EVENTS, v);
        if (m.getPid() != pid || !(m.getBody() instanceof EventBatch b)) continue;
        records++;
        events += b.getEvents().size();
        assertThat(!b.getEvents().isEmpty() || b.getResync() != null || b.getLostEvents() != lost)
            .as("record %d says something: events, a resync or a new loss", records)
            .isTrue();
        if (coveredTo >= 0)
          assertThat(b.getFirstSeq())
              .as("records cover the ring without gaps")
              .isEqualTo(coveredTo);
        coveredTo = b.getEndSeq();
        lost = b.getLostEvents();
      }
      assertThat(events)
          .as("the three leaked blocks, and what the C library kept")
          .isGreaterThanOrEqualTo(3);
      assertThat(records).as("records, against %d rounds", rounds).isLessThan(rounds / 4);
    }
  }

  /**
   * A process that exec'd and then ended before the collector found its newer image's ring: the
   * older image must not be taken for its last one. Until the newer ring is found, the pid is not
   * reported as retired (run 46: {@code run -- sh -c 'exec churn ...'} reported sh, whose
   * retirement had come before the scan that would have found churn's ring).
   */
  @Test
  void anImageFoundGoneWaitsForAScanThatMayFindANewerOne() throws Exception {
    Path made = Files.createDirectories(tmp.resolve("made-exec"));
    List<Path> images =
        NativeRuns.run(
            made, 0, 0, "/bin/sh", "-c", "exec " + NativeRuns.churn() + " -t 1 -p 100 -n 3 -s 10");
    assertThat(images).as("sh's ring and churn's").hasSize(2);
    List<RingFile> opened = new ArrayList<>();
    for (Path p : images) opened.add(RingFile.open(p));
    opened.sort(java.util.Comparator.comparingLong(RingFile::startTimeNs));
    int pid = opened.get(0).pid();
    long shStartMs = opened.get(0).startTimeNs() / 1_000_000;
    long churnStartMs = opened.get(1).startTimeNs() / 1_000_000;
    Path shRing = opened.get(0).path(), churnRing = opened.get(1).path();
    for (RingFile r : opened) r.close();
    assertThat(opened.get(1).pid()).isEqualTo(pid);

    Path runDir = Files.createDirectories(tmp.resolve("run"));
    // Copied now under a name the collector does not look for, renamed into place later at once
    // (a ring's copy takes longer than a scan interval).
    Path churnStaged = Files.copy(churnRing, runDir.resolve("churn.staged"));
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      createTopics(kafka);
      CollectorConfig config =
          CollectorConfig.defaults(kafka.bootstrapServers()).withRunDir(runDir).withHttpPort(0);
      try (Collector c = new Collector(config)) {
        // Another process's ring first, so that the producer is connected and the rounds below
        // take milliseconds, well inside one scan interval (250 ms).
        int warmPid;
        try (RingFile warm = RingFile.open(churnRing(runDir, 0, 10))) {
          warmPid = warm.pid();
        }
        for (int i = 0; i < 200 && c.retiredStartMs(warmPid).isEmpty(); i++) {
          c.round();
          Thread.sleep(20);
        }
        assertThat(c.retiredStartMs(warmPid)).isPresent();
        Thread.sleep(300); // the next round scans
        Files.copy(shRing, runDir.resolve(shRing.getFileName()));
        // sh's ring alone: found, announced, drained, and its process found gone
        c.round();
        assertThat(c.retiredStartMs(pid)).as("no scan since sh's process was found gone").isEmpty();
        // churn's ring shows up before the next scan, as an exec'd image's ring does (the next
        // rounds may or may not scan first: retiring sh without a scan is what must not happen)
        Files.move(
            churnStaged,
            runDir.resolve(churnRing.getFileName()),
            java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        for (int i = 0; i < 200 && !c.retiredStartMs(pid).equals(Optional.of(churnStartMs)); i++) {
          c.round();
          assertThat(c.retiredStartMs(pid))
              .as("the pid's last image is churn's (sh started at %d)", shStartMs)
              .isNotEqualTo(Optional.of(shStartMs));
          Thread.sleep(20);
        }
        assertThat(c.retiredStartMs(pid)).contains(churnStartMs);
      }
    }
  }

  /** The ring of a churn run (exact mode) of {@code pairs} pairs, copied into {@code runDir}. */
  private Path churnRing(Path runDir, long ringBytes, int pairs) throws Exception {
    List<Path> made =
        NativeRuns.run(
            Files.createDirectories(tmp.resolve("made")),
            0,
            ringBytes,
            NativeRuns.churn().toString(),
            "-t",
            "1",
            "-p",
            Integer.toString(pairs),
            "-n",
            "1",
            "-s",
            "10");
    assertThat(made).hasSize(1);
    return Files.copy(made.get(0), runDir.resolve(made.get(0).getFileName()));
  }

  private static void createTopics(EmbeddedKafka kafka) throws Exception {
    try (Admin admin = Admin.create(Map.of("bootstrap.servers", kafka.bootstrapServers()))) {
      admin
          .createTopics(
              List.of(
                  new NewTopic(Topics.EVENTS, 1, (short) 1),
                  new NewTopic(Topics.STACKS, 1, (short) 1),
                  new NewTopic(Topics.COUNTERS, 1, (short) 1)))
          .all()
          .get(30, TimeUnit.SECONDS);
    }
  }

  private static List<byte[]> readAll(EmbeddedKafka kafka, String topic) {
    Map<String, Object> props =
        Map.of("bootstrap.servers", kafka.bootstrapServers(), "enable.auto.commit", false);
    try (KafkaConsumer<byte[], byte[]> consumer =
        new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      TopicPartition tp = new TopicPartition(topic, 0);
      consumer.assign(List.of(tp));
      consumer.seekToBeginning(List.of(tp));
      long end = consumer.endOffsets(List.of(tp)).get(tp);
      List<byte[]> values = new ArrayList<>();
      long deadline = System.currentTimeMillis() + 30_000;
      while (consumer.position(tp) < end && System.currentTimeMillis() < deadline) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500)))
          values.add(r.value());
      }
      return values;
    }
  }
}
