#!/usr/bin/env bash
# A JVM: `java -version`, then a program that deflates and inflates through java.util.zip (zlib,
# allocated natively) on several threads, with GC churn. `java -version` runs bare, before the clock's
# program; the second JVM is the command run (tracked, or under heaptrack), so the report is its.
# Outcome: the status, java -version's first line, and the program's (deterministic) output digest.
# usage: jvm.sh MODE [--quick]
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rw_init jvm "${1:-}"
rw_need java openjdk-17-jdk-headless
rw_need javac openjdk-17-jdk-headless
LIMIT="${RW_TIMEOUT:-300}"
ROUNDS=400; [ "${2:-}" = --quick ] && ROUNDS=100

mkdir -p "$RW_WORK/classes"
cat >"$RW_WORK/ZipChurn.java" <<'JAVA'
import java.util.*;
import java.util.concurrent.*;
import java.util.zip.*;

public class ZipChurn {
  static long round(int seed) throws Exception {
    Random r = new Random(seed);
    byte[] in = new byte[64 * 1024 + r.nextInt(64 * 1024)];
    for (int i = 0; i < in.length; i++) in[i] = (byte) ("leakwatch".charAt(r.nextInt(9)) + (i % 61 == 0 ? r.nextInt(7) : 0));
    Deflater d = new Deflater(1 + seed % 9);
    d.setInput(in); d.finish();
    byte[] buf = new byte[in.length + 1024];
    int n = d.deflate(buf);
    d.end();
    Inflater inf = new Inflater();
    inf.setInput(buf, 0, n);
    byte[] out = new byte[in.length];
    int m = inf.inflate(out);
    inf.end();
    if (m != in.length || !Arrays.equals(in, out)) throw new IllegalStateException("round trip " + seed);
    CRC32 crc = new CRC32(); crc.update(buf, 0, n);
    new Inflater(); // never ended: left to the Cleaner, like careless code does
    return crc.getValue() ^ n;
  }
  public static void main(String[] a) throws Exception {
    int rounds = Integer.parseInt(a[0]);
    ExecutorService pool = Executors.newFixedThreadPool(4);
    List<Future<Long>> fs = new ArrayList<>();
    for (int i = 0; i < rounds; i++) { final int s = i; fs.add(pool.submit(() -> round(s))); }
    long x = 0;
    for (Future<Long> f : fs) x = x * 31 + f.get();
    pool.shutdown();
    System.gc();
    System.out.println(rounds + " rounds " + Long.toHexString(x));
  }
}
JAVA
javac -d "$RW_WORK/classes" "$RW_WORK/ZipChurn.java" || { rw_result "status=javac-failed"; exit 1; }
java -version 2>&1 | head -1 >"$RW_WORK/out.txt"
# The JVM is the command itself (no shell in between): the process that `leakwatch run` and heaptrack
# start is the one that works.
rw_run "$LIMIT" java -Xmx256m -cp "$RW_WORK/classes" ZipChurn "$ROUNDS" >>"$RW_WORK/out.txt" 2>"$RW_WORK/err.txt"
rw_result "status=$(rw_status_word "$RW_STATUS") version=$(head -1 "$RW_WORK/out.txt" | tr -c 'A-Za-z0-9.\n' '_' | head -c 60) sha=$(sha256sum <"$RW_WORK/out.txt" | cut -c1-16)"
