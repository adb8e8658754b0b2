package io.leakwatch.collector.symbols;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.StringReader;
import java.util.Random;
import org.junit.jupiter.api.Test;

class PerfMapTest {
  private static PerfMap parse(String text) throws Exception {
    return PerfMap.parse(new BufferedReader(new StringReader(text)));
  }

  @Test
  void readsBothTheJvmsAndPerfsNumberForms() throws Exception {
    PerfMap m =
        parse(
            "0x00007f1ee0ec7600 0x00000100 void java.util.zip.Inflater.<init>(boolean)\n"
                + "7f1ee0ec8000 80 Interpreter\n"
                + "7f1ee0ec9000 40 long ZipLeak.leak(int)\n");
    assertThat(m.size()).isEqualTo(3);
    assertThat(m.lookup(0x7f1ee0ec7600L + 0x42))
        .isEqualTo(new PerfMap.Hit("void java.util.zip.Inflater.<init>(boolean)", 0x42));
    assertThat(m.lookup(0x7f1ee0ec8010L).name()).isEqualTo("Interpreter");
    assertThat(m.lookup(0x7f1ee0ec9040L)).as("the end is exclusive").isNull();
    assertThat(m.lookup(0x7f1ee0ec7500L)).isNull();
    assertThat(m.lookup(-1L)).isNull();
  }

  @Test
  void laterLinesWinWhenCodeIsReused() throws Exception {
    PerfMap m = parse("1000 100 old()\n1000 80 new()\n");
    assertThat(m.lookup(0x1010).name()).isEqualTo("new()");
    assertThat(m.lookup(0x1090)).as("the newer, shorter blob ends at 0x1080").isNull();
  }

  @Test
  void malformedLinesAreSkippedAndCounted() throws Exception {
    PerfMap m =
        parse(
            "garbage\n\n 1000 10 x\n1000 zz y\n-1 10 z\n10000000000000000 10 huge\n1000 0 empty\n"
                + "ffffffffffffff00 1000 wraps\n2000 10 \u0007bell\u0000\n3000 10    \n");
    assertThat(m.size()).isEqualTo(2);
    assertThat(m.skipped()).isEqualTo(8);
    assertThat(m.lookup(0x2001).name()).isEqualTo("?bell?");
    assertThat(m.lookup(0x3001).name()).isEqualTo("[anonymous]");
  }

  @Test
  void namesAreBounded() throws Exception {
    PerfMap m = parse("1000 10 " + "x".repeat(100_000) + "\n");
    assertThat(m.lookup(0x1000).name()).hasSize(PerfMap.MAX_NAME);
  }

  /** Random bytes and mutated maps: parsing and lookups never throw or hang. */
  @Test
  void fuzz() throws Exception {
    Random rnd = new Random(7);
    String seed =
        "0x00007f1ee0ec7600 0x00000100 void a.b()\n7f1ee0ec8000 80 Interpreter\n7f1ee0ec9000 40 long c.d(int)\n";
    for (int i = 0; i < 20_000; i++) {
      char[] c = seed.toCharArray();
      for (int e = 0; e < 1 + rnd.nextInt(6); e++)
        c[rnd.nextInt(c.length)] =
            (char) (rnd.nextBoolean() ? rnd.nextInt(128) : "0x f\n".charAt(rnd.nextInt(5)));
      PerfMap m = parse(new String(c));
      for (int k = 0; k < 8; k++) m.lookup(0x7f1ee0ec7000L + rnd.nextInt(0x3000));
      m.lookup(rnd.nextLong());
    }
  }
}
