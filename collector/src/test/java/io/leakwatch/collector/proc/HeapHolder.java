package io.leakwatch.collector.proc;

import java.util.ArrayList;
import java.util.List;

/** A JVM for the tests: holds ~200 MB of Java heap for a while. */
public final class HeapHolder {
  public static void main(String[] args) throws InterruptedException {
    List<byte[]> keep = new ArrayList<>();
    for (int i = 0; i < 200; i++) keep.add(new byte[1 << 20]);
    System.gc();
    System.out.println("holding " + keep.size());
    Thread.sleep(Long.parseLong(args[0]));
    System.out.println(keep.size());
  }
}
