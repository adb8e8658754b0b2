package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The benchmarks' statistics: each round's ratio, and the interval printed beside its median. */
class BenchSupportTest {
  @Test
  void roundRatiosPairRunsOfTheSameRound() {
    double[] bare = {1.0, 2.0, 1.5};
    double[] mode = {1.1, 2.2, 1.5, 9.9};
    assertThat(BenchSupport.roundRatios(mode, bare)).containsExactly(1.1, 1.1, 1.0);
  }

  @Test
  void theIntervalHoldsTheMedianAndNarrowsWithMoreRounds() {
    SplittableRandom noise = new SplittableRandom(7);
    double[] few = new double[5];
    double[] many = new double[45];
    for (int i = 0; i < many.length; i++) {
      double r =
          1.05 + (noise.nextDouble() - 0.5) * 0.2; // 1.05 +- 0.10, as this VM's rounds spread
      many[i] = r;
      if (i < few.length) few[i] = r;
    }
    double[] fewInterval = BenchSupport.medianInterval90(few);
    double[] manyInterval = BenchSupport.medianInterval90(many);
    assertThat(fewInterval[0]).isLessThanOrEqualTo(BenchSupport.median(few));
    assertThat(fewInterval[1]).isGreaterThanOrEqualTo(BenchSupport.median(few));
    assertThat(manyInterval[0]).isLessThanOrEqualTo(BenchSupport.median(many));
    assertThat(manyInterval[1]).isGreaterThanOrEqualTo(BenchSupport.median(many));
    assertThat(manyInterval[1] - manyInterval[0]).isLessThan((fewInterval[1] - fewInterval[0]) / 2);
    assertThat(manyInterval[0]).isBetween(0.98, 1.05);
    assertThat(manyInterval[1]).isBetween(1.05, 1.12);
    // The same rounds give the same interval (a fixed seed: a printed run can be checked).
    assertThat(BenchSupport.medianInterval90(many)).containsExactly(manyInterval);
  }

  @Test
  void identicalRoundsGiveAPointAndNoRoundsGiveNothing() {
    assertThat(BenchSupport.medianInterval90(new double[] {1.07, 1.07, 1.07}))
        .containsExactly(1.07, 1.07);
    assertThat(BenchSupport.medianInterval90(new double[0])[0]).isNaN();
  }
}
