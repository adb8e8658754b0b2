package io.leakwatch.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * A JVM that leaks native memory through {@link Inflater}s it never ends (zlib's state, malloc'd by
 * libz under libzip's JNI code), only when told: when the trigger file appears, it makes as many as
 * the file says and keeps them. Until then it inflates and ends one every 5 ms. Prints "ready" and
 * "leaked N". Started by the tests as a plain JVM, without leakwatch.
 */
public final class InflaterLeakProgram {
  private static final List<Inflater> HELD = new ArrayList<>();

  private InflaterLeakProgram() {}

  public static void main(String[] args) throws Exception {
    Path trigger = Path.of(args[0]);
    byte[] data = new byte[4096];
    Arrays.fill(data, (byte) 7);
    Deflater d = new Deflater();
    d.setInput(data);
    d.finish();
    byte[] z = new byte[8192];
    int zn = d.deflate(z);
    d.end();
    byte[] out = new byte[8192];
    System.out.println("ready");
    System.out.flush();
    int leaked = 0;
    while (true) {
      // Churns until it has leaked: afterwards an Inflater in flight (made, not yet ended) at the
      // moment of a detach would count as outstanding beside the leaked ones (a test saw 51 of 50).
      if (leaked == 0) {
        Inflater churn = new Inflater();
        churn.setInput(z, 0, zn);
        churn.inflate(out);
        churn.end();
      }
      if (Files.exists(trigger)) {
        int n = Integer.parseInt(Files.readString(trigger).trim());
        Files.delete(trigger);
        for (int i = 0; i < n; i++) {
          Inflater kept = new Inflater();
          kept.setInput(z, 0, zn);
          kept.inflate(out);
          HELD.add(kept);
        }
        leaked += n;
        System.out.println("leaked " + leaked);
        System.out.flush();
      }
      Thread.sleep(5);
    }
  }
}
