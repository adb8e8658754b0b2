package io.leakwatch.collector;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class CollectorHealthTest {
  private final AtomicLong now = new AtomicLong(1_000_000);
  private final CollectorHealth health = new CollectorHealth(now::get);

  @Test
  void notReadyUntilARoundIsAcknowledgedAndNotReadyWhileKafkaRefuses() {
    assertThat(health.live()).isTrue();
    assertThat(health.ready()).isFalse();
    assertThat(health.readiness()).isEqualTo("starting");
    health.roundAcknowledged(10, 10);
    assertThat(health.ready()).isTrue();
    health.roundFailed("Kafka did not acknowledge a round; records stay in the rings");
    assertThat(health.live()).isTrue();
    assertThat(health.ready()).isFalse();
    assertThat(health.readiness())
        .isEqualTo("not ready: Kafka did not acknowledge a round; records stay in the rings");
    health.roundAcknowledged(0, 0);
    assertThat(health.ready()).isTrue();
  }

  /**
   * After a failed round the rewound events are read again and held for their grace: the rounds
   * that only wait for them send Kafka nothing, and must not say the pipeline is back.
   */
  @Test
  void roundsThatSendNothingKeepTheVerdictWhileEventsWaitAndAnIdleCollectorIsReady() {
    health.roundSentNothing(false);
    assertThat(health.ready()).as("idle from the start: ready").isTrue();
    health.roundFailed("broker down");
    health.roundSentNothing(true);
    assertThat(health.ready()).as("events held, Kafka not tried yet").isFalse();
    assertThat(health.readiness()).isEqualTo("not ready: broker down");
    now.addAndGet(1_000);
    health.roundSentNothing(true);
    assertThat(health.live()).isTrue();
    assertThat(health.ready()).isFalse();
    health.roundAcknowledged(40, 40);
    assertThat(health.ready()).isTrue();
    health.roundSentNothing(true);
    assertThat(health.ready()).as("a good verdict stays too").isTrue();
    health.roundFailed("broker down");
    health.roundSentNothing(false);
    assertThat(health.ready()).as("nothing held: idle, as before").isTrue();
  }

  @Test
  void aLoopThatFinishesNoRoundForFiveMinutesIsNotLive() {
    health.roundAcknowledged(1, 1);
    now.addAndGet(CollectorHealth.STALLED_MS - 1);
    assertThat(health.live()).isTrue();
    now.addAndGet(1);
    assertThat(health.live()).isFalse();
    assertThat(health.ready()).isFalse();
    assertThat(health.readiness()).startsWith("stalled");
  }

  @Test
  void oneSummaryLinePerMinuteWithTheMinutesCounts() {
    assertThat(health.maybeSummarize(() -> 2, () -> 0.5)).isNull();
    health.roundAcknowledged(100, 90);
    health.roundFailed("broker down");
    health.roundAcknowledged(5, 15);
    now.addAndGet(CollectorHealth.SUMMARY_INTERVAL_MS);
    String line = health.maybeSummarize(() -> 2, () -> 0.5);
    assertThat(line)
        .isEqualTo(
            "health: ready; following 2 rings, fullest 50%; last minute: 3 rounds (1 failed), 105 events read, 105 published");
    assertThat(health.maybeSummarize(() -> 2, () -> 0.5)).isNull();
    now.addAndGet(CollectorHealth.SUMMARY_INTERVAL_MS);
    assertThat(health.maybeSummarize(() -> 0, () -> 0))
        .contains("0 rounds (0 failed), 0 events read, 0 published");
  }
}
