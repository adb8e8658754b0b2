package io.leakwatch.collector.proc;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A JVM for the tests: holds ~200 MB of Java heap for a while. */
public final class HeapHolder {
  /** Starts one with {@code -Xmx} {@code xmx}, holding for 30 s; returns once it holds its heap. */
  static Process start(String xmx) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process jvm =
        new ProcessBuilder(
                java,
                "-Xmx" + xmx,
                "-cp",
                System.getProperty("java.class.path"),
                HeapHolder.class.getName(),
                "30000")
            .redirectErrorStream(true)
            .start();
    String first = new BufferedReader(new InputStreamReader(jvm.getInputStream())).readLine();
    if (first == null || !first.startsWith("holding")) {
      jvm.destroyForcibly();
      throw new IOException("the heap holder did not start: " + first);
    }
    return jvm;
  }

  public static void main(String[] args) throws InterruptedException {
    List<byte[]> keep = new ArrayList<>();
    for (int i = 0; i < 200; i++) keep.add(new byte[1 << 20]);
    System.gc();
    System.out.println("holding " + keep.size());
    Thread.sleep(Long.parseLong(args[0]));
    System.out.println(keep.size());
  }
}
