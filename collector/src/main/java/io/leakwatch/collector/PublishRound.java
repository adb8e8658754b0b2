package io.leakwatch.collector;

import io.leakwatch.collector.symbols.SourceLines;
import io.leakwatch.collector.symbols.Symbolizer;
import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.EventBatch;
import io.leakwatch.schemas.ProcessStarted;
import io.leakwatch.schemas.Resync;
import io.leakwatch.schemas.StackDefinition;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves one batch from every ring to Kafka: a process's start the first time, then the stacks new
 * to the stacks topic, then the batch that uses them. Ring space is released only once Kafka has
 * acknowledged the whole round; if it does not, every ring is rewound and the same records go again
 * next round (the Streams app drops the duplicates by sequence number), so a failure loses nothing.
 */
final class PublishRound {
  // The collector's log lines keep the name operators and the docs know them by.
  private static final Logger log = LoggerFactory.getLogger(Collector.class);

  private final TrackedRings rings;
  private final ExecOrder execOrder;
  private final EventPublisher publisher;
  private final Symbolizer symbolizer;
  private final CollectorMetrics metrics;
  private final CollectorHealth health;
  private final int maxBatchEvents;

  /**
   * Stack ids already on the stacks topic, most recently used last; bounded by maxStacksRemembered.
   */
  private final Map<String, Boolean> publishedStacks;

  PublishRound(
      TrackedRings rings,
      ExecOrder execOrder,
      EventPublisher publisher,
      Symbolizer symbolizer,
      CollectorMetrics metrics,
      CollectorHealth health,
      int maxBatchEvents,
      int maxStacksRemembered) {
    this.rings = rings;
    this.execOrder = execOrder;
    this.publisher = publisher;
    this.symbolizer = symbolizer;
    this.metrics = metrics;
    this.health = health;
    this.maxBatchEvents = maxBatchEvents;
    this.publishedStacks =
        new LinkedHashMap<>(1024, 0.75f, true) {
          @Override
          protected boolean removeEldestEntry(Map.Entry<String, Boolean> e) {
            return size() > maxStacksRemembered;
          }
        };
  }

  /** A ring at least a quarter full is read ten batches at a time (see {@link #recordsToRead}). */
  static final double FLOOD_FILL = 0.25;

  static final int FLOOD_BATCHES = 10;

  /**
   * How many records of {@code tp}'s ring this round reads: one batch, or ten when the ring is
   * filling. A round ends in a Kafka round trip whatever it moves; in a flood (an exact-mode
   * program outrunning the collector, whose writers wait for room under {@code run --exact}) most
   * records are short-lived pairs dropped here, so a round of one batch was mostly that round trip.
   * Ten batches hold at most ten batches' worth of ring space until Kafka acknowledges them, and
   * leave as records of one batch each.
   */
  int recordsToRead(TrackedProcess tp) {
    return tp.ring.fill() >= FLOOD_FILL ? maxBatchEvents * FLOOD_BATCHES : maxBatchEvents;
  }

  /**
   * Publishes a batch of every ring (the exec order indexed for this round) and waits for Kafka;
   * returns the number of records moved. Throws when Kafka did not acknowledge: the records stay in
   * the rings.
   */
  int publish() {
    int moved = 0;
    long eventsRead = 0;
    List<TrackedProcess> sent = new ArrayList<>();
    Map<TrackedProcess, Long> lostPublishedNow = new HashMap<>();
    List<Future<RecordMetadata>> futures = new ArrayList<>();
    List<StackDefinition> stacksThisRound = new ArrayList<>();
    for (TrackedProcess tp : rings.processes()) {
      if (execOrder.hasOlderImage(tp)) continue; // the image before an exec goes first
      List<AllocationEvent> events = new ArrayList<>();
      List<StackDefinition> newStacks = new ArrayList<>();
      if (!tp.startAnnounced) {
        futures.add(
            publisher.send(
                tp.message(
                    ProcessStarted.newBuilder()
                        .setName(tp.name)
                        .setCommand(tp.command)
                        .setPpid(tp.ring.ppid())
                        .setStartedAtMs(tp.ring.startTimeNs() / 1_000_000)
                        .setSampleBytes(tp.ring.sampleBytes())
                        .setAttached(tp.ring.attachedFlag())
                        .build())));
      }
      if (tp.unpublishedFrom < 0) tp.unpublishedFrom = tp.reader.position();
      long first = tp.unpublishedFrom;
      int n;
      try {
        n = tp.drain(recordsToRead(tp), symbolizer, events, newStacks);
      } catch (RuntimeException e) {
        // One ring's trouble (a bug, hostile contents) must not stop the rounds of every other
        // ring:
        // this one is read again from where it was next round, and said once in the log.
        tp.rewind();
        if (tp.drainFailureLogged++ == 0)
          log.warn("cannot read ring of pid {} ({}); others go on", tp.pid, e.toString());
        continue;
      }
      moved += n;
      for (StackDefinition s : newStacks) {
        if (publishedStacks.get(s.getId()) == null) {
          futures.add(publisher.send(s)); // before the batch that uses it
          stacksThisRound.add(s);
        }
      }
      Resync resync = tp.takeResync();
      long lost = tp.lostEvents();
      // Only what the streams-app needs: events, a resync, or a new loss. Most rounds of a sampled
      // process read only events held for their grace; a record saying so (one per process and
      // poll) cost the producer, the broker and the streams-app a record each for nothing (an
      // idle process's liveness comes from its counter samples).
      boolean publish = !events.isEmpty() || resync != null || lost != tp.lostPublished;
      if (publish) {
        // Held events released together (a resync's end, an exit) can be many: records of at most
        // maxBatchEvents each, in ring order, the resync with the last (it applies after them all).
        // The stretch of the ring this round read is the last one's; the others cover none of it
        // (their events were held from it or from before). Each after the first names the last
        // event of the one before it: Kafka may fail that one and deliver this one (a delivery
        // timeout while a partition's leader moves), and the streams-app then leaves this one for
        // the round's retry instead of applying it over a gap.
        int chunks = Math.max(1, (events.size() + maxBatchEvents - 1) / maxBatchEvents);
        for (int c = 0; c < chunks; c++) {
          int from = c * maxBatchEvents, to = Math.min(events.size(), from + maxBatchEvents);
          boolean last = c == chunks - 1;
          futures.add(
              publisher.send(
                  tp.message(
                      EventBatch.newBuilder()
                          .setFirstSeq(first)
                          .setEndSeq(last ? tp.reader.position() : first)
                          .setLostEvents(lost)
                          .setEvents(events.subList(from, to))
                          .setResync(last ? resync : null)
                          .setContinuesAfterSeq(c == 0 ? -1 : events.get(from - 1).getSeq())
                          .build())));
        }
        metrics.eventsRead(events.size());
        eventsRead += events.size();
        lostPublishedNow.put(tp, lost);
      }
      sent.add(tp);
    }
    // Stacks published earlier whose file and line have been resolved since: again, same id.
    SourceLines lines = symbolizer.sourceLines();
    List<StackDefinition> renamed = lines == null ? List.of() : lines.takeNamed();
    for (StackDefinition s : renamed) futures.add(publisher.send(s));
    boolean ok = publisher.awaitAll(futures);
    if (!ok && !renamed.isEmpty()) lines.retry(renamed);
    for (TrackedProcess tp : sent) {
      if (ok) {
        tp.startAnnounced = true;
        tp.reader.releaseTo(tp.releasablePosition());
      } else {
        tp.rewind();
      }
    }
    if (ok) {
      lostPublishedNow.forEach(
          (tp, lost) -> {
            tp.unpublishedFrom = -1;
            tp.lostPublished = lost;
          });
      for (StackDefinition s : stacksThisRound) publishedStacks.put(s.getId(), Boolean.TRUE);
      metrics.eventsPublished(moved);
      if (futures.isEmpty()) {
        boolean held = false;
        for (TrackedProcess tp : sent) held |= !tp.pairs.isEmpty();
        health.roundSentNothing(held);
      } else {
        health.roundAcknowledged(eventsRead, moved);
      }
    } else {
      metrics.publishFailed();
      throw new IllegalStateException(
          "Kafka did not acknowledge a round; records stay in the rings");
    }
    return moved;
  }
}
