package io.leakwatch.collector.ring;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.NativeRuns;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The dormant switch at run time, and the allocator statistics the shim writes. */
class ShimControlTest {
  @TempDir Path runDir;

  private Path awaitRing() throws Exception {
    long deadline = System.currentTimeMillis() + 10_000;
    while (System.currentTimeMillis() < deadline) {
      try (DirectoryStream<Path> d = Files.newDirectoryStream(runDir, "*.ring")) {
        for (Path p : d) return p;
      }
      Thread.sleep(20);
    }
    throw new AssertionError("no ring");
  }

  @Test
  void dormantStopsNewRecordsWithoutARestartAndFreesStillFlow() throws Exception {
    ProcessBuilder pb =
        new ProcessBuilder(NativeRuns.NATIVE.resolve("leaky-service").toString(), "3", "2000")
            .redirectErrorStream(true)
            .redirectOutput(ProcessBuilder.Redirect.DISCARD);
    pb.environment().put("LD_PRELOAD", NativeRuns.NATIVE.resolve("libleakwatch.so").toString());
    pb.environment().put("LEAKWATCH_RUN_DIR", runDir.toString());
    pb.environment().put("LEAKWATCH_SAMPLE_BYTES", "4096");
    AutoCloseable collector = NativeRuns.actAsCollector(runDir);
    Process p = pb.start();
    try (RingFile ring = RingFile.open(awaitRing())) {
      RingReader reader = new RingReader(ring);
      List<RingRecord> records = new ArrayList<>();
      long dormantFrom = 0, dormantUntil = 0;
      long start = System.nanoTime();
      while (p.isAlive() || !reader.drained()) {
        long ms = (System.nanoTime() - start) / 1_000_000;
        if (dormantFrom == 0 && ms > 800) {
          ring.setDormant(true);
          dormantFrom = System.currentTimeMillis() * 1_000_000L;
        }
        if (dormantUntil == 0 && ms > 1800) {
          dormantUntil = System.currentTimeMillis() * 1_000_000L;
          ring.setDormant(false);
        }
        reader.poll(10_000, records::add);
        reader.release();
        Thread.sleep(5);
      }
      assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
      long before = 0, during = 0, after = 0, freesDuring = 0, stats = 0;
      long margin = 50_000_000L; // 50 ms for the switch to be seen
      // Allocations are stamped with the coarse wall clock (the kernel's tick, up to 4 ms behind):
      // one recorded just after the switch back may carry a time just before it.
      long coarse = 20_000_000L;
      long lastSeqBefore = -1, firstSeqAfter = Long.MAX_VALUE;
      for (RingRecord r : records) {
        if (r instanceof RingRecord.Alloc a) {
          if (a.timestampNs() < dormantFrom) {
            before++;
            lastSeqBefore = Math.max(lastSeqBefore, a.seq());
          } else if (a.timestampNs() > dormantFrom + margin
              && a.timestampNs() < dormantUntil - coarse) {
            during++;
          } else if (a.timestampNs() > dormantUntil) {
            after++;
            firstSeqAfter = Math.min(firstSeqAfter, a.seq());
          }
        }
      }
      for (RingRecord r : records) {
        if (r instanceof RingRecord.Free f && f.seq() > lastSeqBefore && f.seq() < firstSeqAfter)
          freesDuring++;
      }
      RingRecord.AllocatorStats last = null;
      for (RingRecord r : records) {
        if (r instanceof RingRecord.AllocatorStats s) {
          stats++;
          assertThat(s.arenaBytes()).isGreaterThanOrEqualTo(s.inUseBytes() - s.releasableBytes());
          assertThat(s.inUseBytes())
              .isNotNegative(); // at start nothing may be allocated yet: the shim allocates nothing
          assertThat(s.freeBytes()).isNotNegative();
          last = s;
        }
      }
      assertThat(last).isNotNull();
      assertThat(last.inUseBytes()).as("at exit the service holds its leaked keys").isPositive();
      System.out.printf(
          "dormant: %d allocations recorded before, %d during, %d after; %d frees during; %d stats records%n",
          before, during, after, freesDuring, stats);
      assertThat(before).isPositive();
      assertThat(during).isZero();
      assertThat(after).isPositive();
      assertThat(freesDuring)
          .as("frees of blocks recorded earlier still arrive while dormant")
          .isPositive();
      assertThat(stats)
          .as("at start and at exit (every 60 s while recording)")
          .isGreaterThanOrEqualTo(2);
    }
  }

  @Test
  void startDelayRecordsNothingDuringTheWarmUp() throws Exception {
    List<Path> rings =
        NativeRuns.runWithEnv(
            runDir,
            java.util.Map.of("LEAKWATCH_SAMPLE_BYTES", "0", "LEAKWATCH_START_DELAY", "1"),
            NativeRuns.NATIVE.resolve("leaky-service").toString(),
            "2",
            "500");
    try (RingFile ring = RingFile.open(rings.get(0))) {
      RingReader reader = new RingReader(ring);
      long[] first = {Long.MAX_VALUE};
      long[] count = {0};
      while (reader.poll(
              10_000,
              r -> {
                if (r instanceof RingRecord.Alloc a) {
                  first[0] = Math.min(first[0], a.timestampNs());
                  count[0]++;
                }
              })
          > 0) {
        // drain
      }
      assertThat(count[0]).isPositive();
      assertThat(first[0] - ring.startTimeNs())
          .as("first allocation recorded after the warm-up")
          .isGreaterThanOrEqualTo(990_000_000L); // the delay starts just before the ring is stamped
    }
  }
}
