package io.leakwatch.collector.ring;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.collector.NativeRuns;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reader against a peer that scribbles: a million ring images made by mutating a seed corpus of
 * real rings (written by the shim, re-packed into 4 KiB rings so a case costs microseconds). Every
 * case must end (no endless loop), throw nothing but {@link RingFormatException} for the header,
 * and keep its positions inside what the header allows.
 */
class RingFuzzTest {
  private static final int CASES = 1_000_000;
  private static final int CAP = 4096;
  private static final List<byte[]> seeds = new ArrayList<>();

  @TempDir static Path runDir;

  @BeforeAll
  static void seedCorpus() throws Exception {
    Path exact = Files.createDirectories(runDir.resolve("exact"));
    Path sampled = Files.createDirectories(runDir.resolve("sampled"));
    List<Path> rings =
        new ArrayList<>(
            NativeRuns.run(
                exact,
                0,
                65536,
                NativeRuns.churn().toString(),
                "-t",
                "2",
                "-p",
                "300",
                "-n",
                "3",
                "-s",
                "100",
                "-k",
                "2"));
    rings.addAll(
        NativeRuns.run(
            sampled,
            4096,
            65536,
            NativeRuns.churn().toString(),
            "-t",
            "2",
            "-p",
            "3000",
            "-n",
            "5",
            "-s",
            "5000"));
    for (Path p : rings) {
      byte[] file = Files.readAllBytes(p);
      ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
      long w = b.getLong(RingLayout.OFF_WRITE_POS);
      long cap = b.getLong(RingLayout.OFF_CAPACITY);
      // Re-pack windows of whole records into 4 KiB rings, at several starting points so records
      // wrap.
      long pos = 0;
      for (int window = 0; window < 8 && pos < w; window++) {
        long start = pos;
        long end = start;
        while (end < w) {
          long hdr = b.getLong(RingLayout.HEADER_SIZE + (int) (end % cap));
          long len = hdr & 0xffffffffL;
          if (len == 0 || end + len - start > CAP) break;
          end += len;
        }
        if (end == start) break;
        long base = (long) window * 1000 & ~7L; // the new ring's positions start here
        byte[] img = new byte[RingLayout.HEADER_SIZE + CAP];
        System.arraycopy(file, 0, img, 0, RingLayout.HEADER_SIZE);
        ByteBuffer ib = ByteBuffer.wrap(img).order(ByteOrder.LITTLE_ENDIAN);
        ib.putLong(RingLayout.OFF_CAPACITY, CAP);
        ib.putLong(RingLayout.OFF_READ_POS, base);
        ib.putLong(RingLayout.OFF_WRITE_POS, base + (end - start));
        for (long i = 0; i < end - start; i++) {
          img[RingLayout.HEADER_SIZE + (int) ((base + i) % CAP)] =
              file[RingLayout.HEADER_SIZE + (int) ((start + i) % cap)];
        }
        seeds.add(img);
        pos = end;
      }
    }
    Path corpus = Files.createDirectories(Path.of("target/ring-corpus"));
    for (int i = 0; i < seeds.size(); i++)
      Files.write(corpus.resolve("seed-" + i + ".ring"), seeds.get(i));
    assertThat(seeds).hasSizeGreaterThan(4);
  }

  @Test
  void seedsReadCleanly() throws Exception {
    for (byte[] seed : seeds) {
      ByteBuffer direct = ByteBuffer.allocateDirect(seed.length);
      direct.put(seed).clear();
      RingReader r = new RingReader(RingFile.wrap(direct));
      int n = 0;
      while (true) {
        int got = r.poll(1000, x -> {});
        if (got == 0) break;
        n += got;
      }
      assertThat(n).isPositive();
      assertThat(r.corruptRecords()).isZero();
      assertThat(r.drained()).isTrue();
    }
  }

  @Test
  void aMillionMutatedRingsNeverEscapeTheReader() throws Exception {
    SplittableRandom rnd = new SplittableRandom(20261125);
    ByteBuffer img =
        ByteBuffer.allocateDirect(RingLayout.HEADER_SIZE + CAP).order(ByteOrder.LITTLE_ENDIAN);
    int[] interesting = {
      RingLayout.OFF_CAPACITY,
      RingLayout.OFF_CAPACITY + 4,
      RingLayout.OFF_WRITE_POS,
      RingLayout.OFF_WRITE_POS + 4,
      RingLayout.OFF_READ_POS,
      RingLayout.OFF_READ_POS + 4,
      RingLayout.OFF_CMDLINE_LEN,
      RingLayout.OFF_VERSION,
      RingLayout.OFF_HEADER_SIZE,
      RingLayout.OFF_FLAGS
    };
    long[] outcomes =
        new long[4]; // refused header, read cleanly, corruption detected, unknown records
    long records = 0;
    int[] offsets = new int[16];
    byte[] saved = new byte[16];
    byte[] current = null;
    for (int c = 0; c < CASES; c++) {
      if (c % 1000 == 0 || current == null) {
        current = seeds.get(rnd.nextInt(seeds.size()));
        img.clear();
        img.put(current).clear();
      }
      int mutations = 1 + rnd.nextInt(offsets.length);
      for (int m = 0; m < mutations; m++) {
        int off;
        int pick = rnd.nextInt(10);
        if (pick < 3) {
          off = interesting[rnd.nextInt(interesting.length)] + rnd.nextInt(4);
        } else if (pick < 6) {
          off =
              RingLayout.HEADER_SIZE
                  + (rnd.nextInt(CAP / 8) * 8)
                  + rnd.nextInt(8); // record headers and nearby
        } else {
          off = rnd.nextInt(img.capacity());
        }
        offsets[m] = off;
        saved[m] = img.get(off);
        int kind = rnd.nextInt(4);
        img.put(
            off,
            (byte)
                (kind == 0
                    ? 0
                    : kind == 1
                        ? 0xff
                        : kind == 2 ? saved[m] ^ (1 << rnd.nextInt(8)) : rnd.nextInt(256)));
      }
      try {
        RingReader reader = new RingReader(RingFile.wrap(img));
        long before = reader.position();
        int rounds = 0;
        while (true) {
          int got = reader.poll(64, r -> {});
          records += got;
          if (got == 0) break;
          if (++rounds > CAP) throw new AssertionError("reader did not advance: case " + c);
        }
        assertThat(reader.position()).isGreaterThanOrEqualTo(before);
        outcomes[reader.corruptRecords() > 0 ? 2 : 1]++;
        if (reader.unknownRecords() > 0) outcomes[3]++;
      } catch (RingFormatException refused) {
        outcomes[0]++;
      }
      for (int m = mutations - 1; m >= 0; m--) img.put(offsets[m], saved[m]); // undo, in reverse
    }
    System.out.printf(
        "ring fuzz: %d cases: %d headers refused, %d read cleanly, %d with corruption detected, "
            + "%d with unknown record types, %d records parsed%n",
        CASES, outcomes[0], outcomes[1], outcomes[2], outcomes[3], records);
    assertThat(outcomes[0] + outcomes[1] + outcomes[2]).isEqualTo(CASES);
    assertThat(outcomes[0]).isPositive();
    assertThat(outcomes[2]).isPositive();
  }
}
