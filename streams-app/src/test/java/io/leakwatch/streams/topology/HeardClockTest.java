package io.leakwatch.streams.topology;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class HeardClockTest {
  @Test
  void followsTheStreamWhileItMovesAndTheWallClockWhileItStands() {
    HeardClock c = new HeardClock(1_000, 1_000, 60_000);
    assertThat(c.now(2_000, 10_000)).as("behind: what was read").isEqualTo(2_000);
    assertThat(c.now(3_000, 20_000)).isEqualTo(3_000);
    assertThat(c.now(3_000, 25_000)).as("standing still: moved on by the wall").isEqualTo(8_000);
    assertThat(c.now(2_500, 30_000)).as("an older record does not move it back").isEqualTo(13_000);
    assertThat(c.now(40_000, 40_000)).as("caught up").isEqualTo(40_000);
  }

  @Test
  void neverRunsAheadOfTheWallClock() {
    HeardClock c = new HeardClock(5_000, 1_000, 60_000);
    assertThat(c.now(-1, 1_000)).as("a restored store's time beyond the wall").isEqualTo(1_000);
    assertThat(c.now(999_999, 2_000)).as("a collector whose clock runs ahead").isEqualTo(2_000);
    assertThat(c.now(-1, 3_000)).isEqualTo(3_000);
    assertThat(HeardClock.heardAt(999_999, 2_000)).isEqualTo(2_000);
    assertThat(HeardClock.heardAt(1_500, 2_000)).isEqualTo(1_500);
    assertThat(HeardClock.heardAt(-1, 2_000)).as("no timestamp: the wall").isEqualTo(2_000);
  }

  @Test
  void aStreamTimeThatStoodStillLongEnoughIsATaskThatReadEverything() {
    HeardClock c = new HeardClock(1_000, 100_000, 30_000); // restarted: the store heard up to 1 s
    assertThat(c.now(-1, 110_000)).as("just restarted: maybe behind").isEqualTo(11_000);
    assertThat(c.now(-1, 130_000)).as("nothing read for 30 s: read everything").isEqualTo(130_000);
    assertThat(c.now(2_000, 140_000)).as("a record: behind again").isEqualTo(2_000);
    assertThat(c.now(2_000, 169_999)).isEqualTo(31_999);
    assertThat(c.now(2_000, 170_000)).isEqualTo(170_000);
  }
}
