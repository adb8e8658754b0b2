package io.leakwatch.collector.proc;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class HsPerfDataTest {
  @Test
  void managedHeapMatchesJcmdWithinFivePercent() throws Exception {
    Process jvm = HeapHolder.start("1g");
    try {
      Thread.sleep(500);
      HsPerfData.Heap heap = new ProcCounters().managedHeapSource((int) jvm.pid()).heap(0);
      Process jcmd =
          new ProcessBuilder(
                  Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
                  Long.toString(jvm.pid()),
                  "GC.heap_info")
              .redirectErrorStream(true)
              .start();
      String info = new String(jcmd.getInputStream().readAllBytes());
      assertThat(jcmd.waitFor(30, TimeUnit.SECONDS)).isTrue();
      Matcher m = Pattern.compile("total (\\d+)K, used (\\d+)K").matcher(info);
      assertThat(m.find()).as(info).isTrue();
      long jcmdUsed = Long.parseLong(m.group(2)) * 1024;
      long jcmdTotal = Long.parseLong(m.group(1)) * 1024;
      System.out.printf(
          "managed heap: hsperfdata used %d committed %d; jcmd used %d total %d%n",
          heap.usedBytes(), heap.committedBytes(), jcmdUsed, jcmdTotal);
      assertThat((double) heap.usedBytes())
          .isCloseTo(jcmdUsed, org.assertj.core.data.Percentage.withPercentage(5));
      assertThat(heap.usedBytes()).isGreaterThan(200L << 20);
    } finally {
      jvm.destroy();
      jvm.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void notAJvmOrHostileImagesGiveUnknown() {
    assertThat(new ProcCounters().managedHeapSource(Integer.MAX_VALUE).heap(0)).isNull();
    assertThat(HsPerfData.parse(new byte[0])).isNull();
    assertThat(HsPerfData.parse(new byte[64])).isNull();
    byte[] img = new byte[4096];
    img[0] = (byte) 0xca;
    img[1] = (byte) 0xfe;
    img[2] = (byte) 0xc0;
    img[3] = (byte) 0xc0;
    img[4] = 1;
    SplittableRandom rnd = new SplittableRandom(5);
    for (int i = 0; i < 50_000; i++) {
      for (int k = 5; k < 200; k++) img[k] = (byte) rnd.nextInt(256);
      img[24] = 32;
      img[25] = img[26] = img[27] = 0;
      HsPerfData.parse(img); // must not throw, must end
    }
  }

  @Test
  void aJvmsFileIsFoundOnceAndReadAtEverySample() throws Exception {
    Process jvm = HeapHolder.start("1g");
    try {
      HsPerfData.Source source = new ProcCounters().managedHeapSource((int) jvm.pid());
      for (int i = 0; i < 5; i++) {
        HsPerfData.Heap heap = source.heap(i * 5_000L);
        assertThat(heap).isNotNull();
        assertThat(heap.usedBytes()).isGreaterThan(0);
      }
      assertThat(source.looks()).isEqualTo(1);
    } finally {
      jvm.destroy();
      jvm.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void aProcessWithoutAFileIsLookedAtEagerlyThenOnceAMinute() throws Exception {
    Process sleep = new ProcessBuilder("sleep", "60").start();
    try {
      HsPerfData.Source source = new ProcCounters().managedHeapSource((int) sleep.pid());
      long now = 1_000_000;
      for (int i = 0; i < HsPerfData.Source.EAGER_LOOKS; i++, now += 5_000)
        assertThat(source.heap(now)).isNull();
      assertThat(source.looks()).isEqualTo(HsPerfData.Source.EAGER_LOOKS);
      long lastLook = now - 5_000;
      for (; now < lastLook + HsPerfData.Source.LATER_LOOK_MS; now += 5_000) source.heap(now);
      assertThat(source.looks()).isEqualTo(HsPerfData.Source.EAGER_LOOKS);
      source.heap(lastLook + HsPerfData.Source.LATER_LOOK_MS);
      assertThat(source.looks()).isEqualTo(HsPerfData.Source.EAGER_LOOKS + 1);
    } finally {
      sleep.destroyForcibly();
      sleep.waitFor(10, TimeUnit.SECONDS);
    }
  }
}
