package io.leakwatch.streams.health;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.streams.KafkaStreams.State;
import org.junit.jupiter.api.Test;

class InstanceHealthTest {
  private final AtomicLong now = new AtomicLong(5_000_000);
  private final InstanceHealth health = new InstanceHealth(now::get);

  @Test
  void rebalancingAndRestoringAreAliveButOnlyRunningIsReady() {
    for (State s : State.values()) {
      boolean stopped =
          s == State.ERROR
              || s == State.PENDING_ERROR
              || s == State.NOT_RUNNING
              || s == State.PENDING_SHUTDOWN;
      assertThat(InstanceHealth.live(s)).as(s.name()).isEqualTo(!stopped);
      assertThat(InstanceHealth.ready(s)).as(s.name()).isEqualTo(s == State.RUNNING);
    }
  }

  @Test
  void theSummarySaysTheStateAndTheMinutesShare() {
    health.onChange(State.REBALANCING, State.CREATED);
    assertThat(health.maybeSummarize(0, 0, 0, 0)).isNull();
    now.addAndGet(InstanceHealth.SUMMARY_INTERVAL_MS);
    assertThat(health.maybeSummarize(-1, 0, 500, 2))
        .isEqualTo(
            "health: REBALANCING, live, not ready; -1 processes (0 exited); last minute: 500 records processed, 2 dropped");
    health.onChange(State.RUNNING, State.REBALANCING);
    now.addAndGet(InstanceHealth.SUMMARY_INTERVAL_MS);
    assertThat(health.maybeSummarize(12, 3, 1500, 2))
        .isEqualTo(
            "health: RUNNING, ready; 12 processes (3 exited); last minute: 1000 records processed, 0 dropped");
    now.addAndGet(InstanceHealth.SUMMARY_INTERVAL_MS);
    assertThat(health.maybeSummarize(12, 3, 200, 2))
        .as("a replaced thread's count starts again")
        .contains("200 records processed");
    health.onChange(State.PENDING_ERROR, State.RUNNING);
    now.addAndGet(InstanceHealth.SUMMARY_INTERVAL_MS);
    assertThat(health.maybeSummarize(12, 3, 1500, 2)).startsWith("health: PENDING_ERROR, stopped;");
  }

  @Test
  void restoreProgressAddsUpAcrossPartitionsAndResets() {
    TopicPartition a = new TopicPartition("leakwatch-streams-live-changelog", 0);
    TopicPartition b = new TopicPartition("leakwatch-streams-live-changelog", 1);
    health.onRestoreStart(a, "live", 0, 1000);
    health.onRestoreStart(b, "live", 500, 1500);
    assertThat(health.restoreProgress()).isEqualTo("0 of 2000");
    health.onBatchRestored(a, "live", 1000, 1000);
    health.onRestoreEnd(a, "live", 1000);
    assertThat(health.restoreProgress()).isEqualTo("1000 of 2000");
    health.onBatchRestored(b, "live", 1500, 1000);
    health.onRestoreEnd(b, "live", 1000);
    assertThat(health.restoreProgress()).isEqualTo("0 of 0");
    // a later restore starts counting from zero again: no negative or >100% progress
    health.onRestoreStart(a, "live", 1000, 1100);
    health.onBatchRestored(a, "live", 1100, 60);
    assertThat(health.restoreProgress()).isEqualTo("60 of 100");
    health.onBatchRestored(a, "live", 1100, 40);
    health.onRestoreEnd(a, "live", 100);
    assertThat(health.restoreProgress()).isEqualTo("0 of 0");
  }
}
