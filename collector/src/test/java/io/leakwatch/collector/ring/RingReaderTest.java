package io.leakwatch.collector.ring;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.NativeRuns;
import io.leakwatch.collector.symbols.ModuleMap;
import io.leakwatch.collector.symbols.StackIdentity;
import io.leakwatch.collector.symbols.Symbolizer;
import io.leakwatch.schemas.Frame;
import io.leakwatch.schemas.StackDefinition;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Rings written by the real shim under multithreaded churn, read back by the Java reader. */
class RingReaderTest {
  @TempDir Path runDir;

  /**
   * A collector killed inside release(): Kafka had acknowledged its records, it stored consumed_pos
   * and zeroed them, and died before read_pos moved. Its successor must resume after them (not wait
   * forever on the zeroed header at read_pos), read the rest once, and zero the whole region.
   */
  @Test
  void aSuccessorResumesAfterRecordsZeroedByAReaderKilledWhileReleasing() throws Exception {
    List<Path> rings =
        NativeRuns.run(
            runDir,
            0,
            0,
            NativeRuns.churn().toString(),
            "-t",
            "2",
            "-p",
            "20000",
            "-n",
            "10",
            "-s",
            "100");
    try (RingFile ring = RingFile.open(rings.get(0))) {
      RingReader first = new RingReader(ring);
      List<Long> seqs = new ArrayList<>();
      first.poll(5_000, r -> seqs.add(r.seq()));
      long readPos = ring.readPos();
      long acknowledged = first.position();
      // release() up to the kill: consumed_pos stored, the records zeroed, read_pos not yet moved
      ring.publishConsumedPos(acknowledged);
      for (long z = readPos; z < acknowledged; z += 8)
        RingFile.LONGS.setRelease(ring.buffer, RingLayout.HEADER_SIZE + (int) z, 0L);
      assertThat(ring.readPos()).isEqualTo(readPos);

      RingReader successor = new RingReader(ring);
      assertThat(successor.position()).isEqualTo(acknowledged);
      int n;
      do {
        n = successor.poll(10_000, r -> seqs.add(r.seq()));
      } while (n > 0);
      assertThat(successor.drained())
          .as("read to the end, not stalled on the zeroed header")
          .isTrue();
      assertThat(successor.corruptRecords()).isZero();
      assertThat(seqs).as("every record once, in order").isSorted().doesNotHaveDuplicates();
      successor.release();
      assertThat(ring.readPos()).isEqualTo(successor.position());
      for (long z = readPos; z < successor.position(); z += 8) {
        assertThat((long) RingFile.LONGS.getAcquire(ring.buffer, RingLayout.HEADER_SIZE + (int) z))
            .as("zeroed at %d", z)
            .isZero();
      }
    }
  }

  @Test
  void exactRingHoldsEveryAllocationAndFreeInOrder() throws Exception {
    List<Path> rings =
        NativeRuns.run(
            runDir,
            0,
            0,
            NativeRuns.churn().toString(),
            "-t",
            "3",
            "-p",
            "50000",
            "-n",
            "100",
            "-s",
            "3000",
            "-k",
            "7");
    assertThat(rings).hasSize(1);
    assertThat(Files.getPosixFilePermissions(rings.get(0)))
        .containsExactlyInAnyOrder(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE);
    try (RingFile ring = RingFile.open(rings.get(0))) {
      assertThat(ring.sampleBytes()).isZero();
      assertThat(ring.cmdline().get(0)).endsWith("churn");
      assertThat(ring.cmdline()).contains("-t", "3");
      RingReader reader = new RingReader(ring);
      Map<Long, RingRecord.Alloc> live = new HashMap<>();
      ModuleMap modules = new ModuleMap();
      List<RingRecord.Module> moduleRecords = new ArrayList<>();
      long[] counts = new long[5];
      long[] lastSeq = {-1};
      int n;
      do {
        n =
            reader.poll(
                10_000,
                r -> {
                  assertThat(r.seq()).isGreaterThan(lastSeq[0]);
                  lastSeq[0] = r.seq();
                  if (r instanceof RingRecord.Alloc a) {
                    counts[1]++;
                    live.put(a.address(), a);
                  } else if (r instanceof RingRecord.Free f) {
                    counts[2]++;
                    live.remove(f.address());
                  } else if (r instanceof RingRecord.Module m) {
                    counts[3]++;
                    modules.add(m);
                    moduleRecords.add(m);
                  } else if (r instanceof RingRecord.Exit) {
                    counts[4]++;
                  }
                });
      } while (n > 0);
      assertThat(reader.corruptRecords()).isZero();
      assertThat(ring.stat(RingLayout.STAT_DROPPED_FULL)).isZero();
      assertThat(counts[4]).as("exit record").isEqualTo(1);
      assertThat(ring.exitedFlag()).isTrue();
      assertThat(counts[1]).isGreaterThan(150_000);
      assertThat(moduleRecords)
          .anyMatch(m -> m.mainExecutable() && m.path().endsWith("/churn") && m.buildId() != null);
      assertThat(moduleRecords).anyMatch(m -> m.path().endsWith("libtoykey.so"));

      // What is left live: exactly the 100 leaked blocks and 7 keys (plus runtime odds and ends).
      long leakedBlocks = live.values().stream().filter(a -> a.size() == 3000).count();
      long leakedKeys = live.values().stream().filter(a -> a.size() == 422).count();
      assertThat(leakedBlocks).isEqualTo(100);
      assertThat(leakedKeys).isEqualTo(7);

      Symbolizer symbolizer = new Symbolizer();
      RingRecord.Alloc block =
          live.values().stream().filter(a -> a.size() == 3000).findFirst().orElseThrow();
      List<Frame> frames = new ArrayList<>();
      for (long f : block.frames()) frames.add(symbolizer.frame(f, modules));
      StackDefinition def = StackIdentity.define(frames, Set.of("churn"));
      assertThat(frames.get(0).getFunction()).isEqualTo("leak_blocks");
      assertThat(def.getAllocator()).isEqualTo("churn");
      assertThat(def.getCulprit()).startsWith("churn!leak_blocks+0x");
      assertThat(frames).anyMatch(f -> "main".equals(f.getFunction()));

      RingRecord.Alloc key =
          live.values().stream().filter(a -> a.size() == 422).findFirst().orElseThrow();
      List<Frame> keyFrames = new ArrayList<>();
      for (long f : key.frames()) keyFrames.add(symbolizer.frame(f, modules));
      StackDefinition keyDef = StackIdentity.define(keyFrames, Set.of("churn"));
      assertThat(keyDef.getAllocator()).isEqualTo("libtoykey.so");
      assertThat(keyDef.getCulprit()).startsWith("churn!forget_key_destroy+0x");

      // Same frames, same id, whatever the addresses were.
      assertThat(StackIdentity.id(keyFrames))
          .isEqualTo(StackIdentity.id(new ArrayList<>(keyFrames)));

      reader.release();
      assertThat(reader.drained()).isTrue();
    }
  }

  @Test
  void releaseFreesSpaceAndRewindGivesRecordsAgain() throws Exception {
    List<Path> rings =
        NativeRuns.run(runDir, 0, 0, NativeRuns.churn().toString(), "-t", "1", "-p", "1000");
    try (RingFile ring = RingFile.open(rings.get(0))) {
      RingReader reader = new RingReader(ring);
      List<Long> first = new ArrayList<>();
      reader.poll(100, r -> first.add(r.seq()));
      reader.rewind();
      List<Long> again = new ArrayList<>();
      reader.poll(100, r -> again.add(r.seq()));
      assertThat(again).isEqualTo(first);
      reader.release();
      // A new reader (a restarted collector) resumes after what was released.
      RingReader resumed = new RingReader(ring);
      List<Long> next = new ArrayList<>();
      resumed.poll(1, r -> next.add(r.seq()));
      assertThat(next.get(0)).isGreaterThan(first.get(first.size() - 1));
    }
  }

  @Test
  void sampledRingRecordsFewAllocationsWithWeights() throws Exception {
    List<Path> rings =
        NativeRuns.run(
            runDir,
            65536,
            0,
            NativeRuns.churn().toString(),
            "-t",
            "2",
            "-p",
            "200000",
            "-n",
            "100",
            "-s",
            "1000000");
    try (RingFile ring = RingFile.open(rings.get(0))) {
      assertThat(ring.sampleBytes()).isEqualTo(65536);
      RingReader reader = new RingReader(ring);
      long[] allocs = {0};
      double[] leakWeight = {0};
      while (reader.poll(
              10_000,
              r -> {
                if (r instanceof RingRecord.Alloc a) {
                  allocs[0]++;
                  if (a.size() == 1000000) leakWeight[0] += a.weight();
                  assertThat(a.weight()).isGreaterThanOrEqualTo(a.size());
                }
              })
          > 0) {
        // drain
      }
      // ~2 x 200000 x 1 KiB average = 400 MB churned: about 6,000 samples, not 400,000.
      assertThat(allocs[0]).isBetween(3_000L, 12_000L);
      // A 1 MB block holds a sample point with probability 1 - e^-15: each is recorded, weight ~
      // its size.
      assertThat(leakWeight[0]).isBetween(99.9e6, 100.1e6);
    }
  }
}
