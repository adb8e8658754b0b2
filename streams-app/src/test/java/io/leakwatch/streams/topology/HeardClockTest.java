package io.leakwatch.streams.topology;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class HeardClockTest {
  @Test
  void followsTheStreamWhileItMovesAndTheWallClockWhileItStands() {
    HeardClock c = new HeardClock(1_000, 600_000);
    assertThat(c.now(-1, 1_000)).as("started").isEqualTo(1_000);
    assertThat(c.now(2_000, 10_000)).as("behind: what was read").isEqualTo(2_000);
    assertThat(c.now(3_000, 20_000)).isEqualTo(3_000);
    assertThat(c.now(3_000, 25_000)).as("standing still: moved on by the wall").isEqualTo(8_000);
    assertThat(c.now(2_500, 30_000)).as("an older record does not move it back").isEqualTo(13_000);
    assertThat(c.now(40_000, 40_000)).as("caught up").isEqualTo(40_000);
  }

  @Test
  void neverRunsAheadOfTheWallClock() {
    HeardClock c = new HeardClock(5_000, 600_000);
    assertThat(c.now(-1, 1_000)).as("a restored store's time beyond the wall").isEqualTo(1_000);
    assertThat(c.now(999_999, 2_000)).as("a collector whose clock runs ahead").isEqualTo(2_000);
    assertThat(c.now(-1, 3_000)).isEqualTo(3_000);
    assertThat(HeardClock.stamp(999_999, 2_000)).isEqualTo(2_000);
    assertThat(HeardClock.stamp(1_500, 2_000)).isEqualTo(1_500);
    assertThat(HeardClock.stamp(-1, 2_000)).as("no stream time yet: the wall").isEqualTo(2_000);
  }

  @Test
  void startsFromWhatTheStoreHeardAndTakesALongStillnessForHavingReadEverything() {
    // Restarted at wall 100 s; the store last heard at 1 s (a partition of gone hosts, or an
    // outage)
    HeardClock c = new HeardClock(1_000, 30_000);
    assertThat(c.now(-1, 100_000)).as("just restarted: maybe behind").isEqualTo(1_000);
    assertThat(c.now(-1, 110_000)).isEqualTo(11_000);
    assertThat(c.now(-1, 130_000)).as("nothing read for 30 s: read everything").isEqualTo(130_000);
    assertThat(c.now(200_000, 140_000)).as("capped by the wall").isEqualTo(140_000);
    assertThat(c.now(200_000, 169_999)).isEqualTo(169_999);
  }
}
