package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The whole pipeline for real: the shim in a multithreaded C program, the collector reading its
 * ring, a KRaft broker, the Streams topology, and the report, through {@code leakwatch run}.
 */
class RunEndToEndTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  private static String churn() {
    return Home.nativeDir().resolve("churn").toString();
  }

  private JsonNode run(List<String> args) throws Exception {
    Path out = tmp.resolve("report-" + System.nanoTime() + ".json");
    List<String> all =
        new ArrayList<>(List.of("run", "--report", "json", "--report-file", out.toString()));
    all.addAll(args);
    int rc = new CommandLine(new Main()).execute(all.toArray(String[]::new));
    assertThat(rc).as("exit status of the tracked command").isZero();
    return JSON.readTree(Files.readString(out));
  }

  /** Nothing outstanding was allocated through {@code function} (the churn's freed pairs). */
  private static void assertNoStackThrough(JsonNode report, String function) {
    for (JsonNode s : report.path("stacks")) {
      for (JsonNode f : s.path("frames"))
        assertThat(f.path("function").asText()).isNotEqualTo(function);
    }
  }

  private static JsonNode stackWithFunction(JsonNode report, String function) {
    for (JsonNode s : report.path("stacks")) {
      for (JsonNode f : s.path("frames")) {
        if (function.equals(f.path("function").asText())) return s;
      }
    }
    throw new AssertionError("no stack names " + function + " in " + report.toPrettyString());
  }

  @Test
  void exactModeReportsTheLeakToTheByteUnderMultithreadedChurn() throws Exception {
    long n = 1000, size = 4096, keys = 50;
    JsonNode r =
        run(
            List.of(
                "--exact",
                "--",
                churn(),
                "-t",
                "4",
                "-p",
                "100000",
                "-m",
                "realloc",
                "-n",
                Long.toString(n),
                "-s",
                Long.toString(size),
                "-k",
                Long.toString(keys)));
    assertThat(r.path("tracking").path("mode").asText()).isEqualTo("exact");
    assertThat(r.path("tracking").path("lostEvents").asLong()).isZero();
    assertThat(r.path("process").path("name").asText()).isEqualTo("churn");
    assertThat(r.path("process").path("cleanExit").asBoolean()).isTrue();

    JsonNode leak = stackWithFunction(r, "leak_blocks");
    assertThat(leak.path("bytes").asLong()).isEqualTo(n * size);
    assertThat(leak.path("allocations").asLong()).isEqualTo(n);
    assertThat(leak.path("allocator").asText()).isEqualTo("churn");
    assertThat(leak.path("culprit").asText()).startsWith("churn!leak_blocks+0x");
    assertThat(leak.path("frames").get(0).path("function").asText()).isEqualTo("leak_blocks");
    assertThat(leak.path("sizes").get(0).path("size").asLong()).isEqualTo(size);

    JsonNode key = stackWithFunction(r, "forget_key_destroy");
    assertThat(key.path("allocator").asText()).isEqualTo("libtoykey.so");
    assertThat(key.path("culprit").asText()).startsWith("churn!forget_key_destroy+0x");
    assertThat(key.path("bytes").asLong()).isEqualTo(keys * 422);
    assertThat(key.path("allocations").asLong()).isEqualTo(keys);
    assertThat(key.path("frames").get(0).path("display").asText())
        .startsWith("libtoykey.so!cont_alloc+0x");

    // Nothing from the 400,000 churned pairs (with their reallocs) is left over.
    assertNoStackThrough(r, "worker");
  }

  /**
   * A program that allocates far faster than the collector drains (3M malloc/free pairs in about
   * 0.2 s bare: 6M events, over 400 MiB of records through a 256 MiB ring). Before the shim waited
   * for room under {@code run --exact}, 340,000 to 780,000 of these events were lost and the report
   * showed about twice the true leak; now it waits at the collector's pace and loses nothing.
   */
  @Test
  void exactModeLosesNothingWhenTheProgramOutrunsTheCollector() throws Exception {
    long n = 1000, size = 100;
    JsonNode r =
        run(
            List.of(
                "--exact",
                "--",
                churn(),
                "-t",
                "1",
                "-p",
                "3000000",
                "-n",
                Long.toString(n),
                "-s",
                Long.toString(size)));
    assertThat(r.path("tracking").path("lostEvents").asLong()).isZero();
    JsonNode leak = stackWithFunction(r, "leak_blocks");
    assertThat(leak.path("bytes").asLong()).isEqualTo(n * size);
    assertThat(leak.path("allocations").asLong()).isEqualTo(n);
    assertNoStackThrough(r, "worker");
  }

  /**
   * A process that exits with 100,000 distinct live stacks (a JVM's exit report once stopped the
   * streams-app at 2.5 MB): the report is bounded, its totals and allocators still count every
   * block exactly, the stacks it keeps are whole, the rest are counted in stacksOmitted.
   */
  @Test
  void aProcessExitingWithOneHundredThousandLiveStacksGetsABoundedExactReport() throws Exception {
    long n = 100_000, size = 32;
    JsonNode r =
        run(
            List.of(
                "--exact",
                "--",
                Home.nativeDir().resolve("many-stacks").toString(),
                Long.toString(n),
                Long.toString(size)));
    assertThat(r.path("tracking").path("lostEvents").asLong()).isZero();
    assertThat(r.path("process").path("cleanExit").asBoolean()).isTrue();
    // The report keeps the largest 500 stacks whole (the exit-report record is cut further, to 768
    // KiB:
    // ReportSizeTest); what it leaves out still counts in the totals and the allocators list.
    assertThat(r.path("stacks").size())
        .isLessThanOrEqualTo(io.leakwatch.streams.report.ReportBuilder.MAX_STACKS);
    // Every block counted: the 100,000 leaked ones and main's array of their addresses.
    JsonNode own = null;
    for (JsonNode a : r.path("allocators"))
      if (a.path("module").asText().equals("many-stacks")) own = a;
    assertThat(own).as("allocator many-stacks in " + r.path("allocators")).isNotNull();
    assertThat(own.path("bytes").asLong()).isEqualTo(n * size + n * 8);
    assertThat(own.path("allocations").asLong()).isEqualTo(n + 1);
    assertThat(r.path("outstanding").path("allocations").asLong()).isGreaterThanOrEqualTo(n + 1);
    long kept = 0;
    for (JsonNode s : r.path("stacks")) {
      boolean leaf = s.path("frames").get(0).path("function").asText().equals("descend");
      if (!leaf) continue;
      kept++;
      assertThat(s.path("bytes").asLong()).isEqualTo(size);
      assertThat(s.path("frames").size())
          .as("a kept stack is whole: descend, 17 levels of left/right, main")
          .isGreaterThanOrEqualTo(2 * 17 + 2);
    }
    assertThat(kept).isPositive();
    assertThat(kept + r.path("stacksOmitted").asLong()).isGreaterThanOrEqualTo(n);
  }

  /**
   * A program that keeps every core busy allocating: the collector's threads step aside for it
   * (nice 10) and got about a tenth of a core, less than its samples need. On the 2-core VM, 2
   * churn threads at default sampling lost 82,000 to 108,000 of about 320,000 events through the
   * default 8 MiB ring, and the report said its numbers were incomplete. Now a sampled ring under
   * {@code run} waits for room as an exact one does. A 1 MiB ring and 64 KiB sampling make the ring
   * fill within a fraction of a second.
   */
  @Test
  void sampledModeLosesNothingWhenTheProgramKeepsEveryCoreBusy() throws Exception {
    long n = 2560, size = 4096, r = 65536; // 10 MiB
    int threads = Math.max(2, Runtime.getRuntime().availableProcessors());
    JsonNode report =
        run(
            List.of(
                "--sample-bytes",
                Long.toString(r),
                "--",
                "env",
                "LEAKWATCH_RING_BYTES=1048576",
                churn(),
                "-t",
                Integer.toString(threads),
                "-p",
                "5000000",
                "-n",
                Long.toString(n),
                "-s",
                Long.toString(size)));
    assertThat(report.path("tracking").path("lostEvents").asLong()).isZero();
    JsonNode leak = stackWithFunction(report, "leak_blocks");
    double p = -Math.expm1(-(double) size / r);
    double sd = size * Math.sqrt(n * (1 - p) / p);
    assertThat(Math.abs(leak.path("bytes").asLong() - (double) n * size))
        .isLessThanOrEqualTo(3 * sd);
  }

  @Test
  void sampledModeEstimatesATenMegabyteLeakWithinThreeStandardDeviations() throws Exception {
    long n = 2560, size = 4096, r = 65536; // 10 MiB
    JsonNode report =
        run(
            List.of(
                "--sample-bytes",
                Long.toString(r),
                "--",
                churn(),
                "-t",
                "2",
                "-p",
                "200000",
                "-n",
                Long.toString(n),
                "-s",
                Long.toString(size)));
    assertThat(report.path("tracking").path("mode").asText()).isEqualTo("sampled");
    JsonNode leak = stackWithFunction(report, "leak_blocks");
    double p = -Math.expm1(-(double) size / r);
    double sd =
        size * Math.sqrt(n * (1 - p) / p); // each block is kept with probability p, weighted size/p
    double truth = n * size;
    System.out.printf(
        "sampled estimate %d bytes, truth %.0f, sd %.0f (%.1f%%), z = %.2f%n",
        leak.path("bytes").asLong(),
        truth,
        sd,
        100 * sd / truth,
        (leak.path("bytes").asLong() - truth) / sd);
    assertThat(Math.abs(leak.path("bytes").asLong() - truth)).isLessThanOrEqualTo(3 * sd);
    assertThat(leak.path("allocator").asText()).isEqualTo("churn");
  }

  @Test
  void applicationMappingsAreTheirOwnKindAndPartialUnmapsCount() throws Exception {
    JsonNode r = run(List.of("--exact", "--", Home.nativeDir().resolve("mmap-user").toString()));
    long mmapBytes = 0, heapBytesFromMain = 0;
    for (JsonNode s : r.path("stacks")) {
      if (s.path("kind").asText().equals("mmap")) {
        mmapBytes += s.path("bytes").asLong();
        assertThat(s.path("frames").toString()).contains("\"main\"");
      }
    }
    // kept: A (4 pages) + what is left of B after a 2-page hole (6 pages) + D grown by mremap (5
    // pages)
    assertThat(mmapBytes).isEqualTo((4 + 6 + 5) * 4096L);
    for (JsonNode s : r.path("stacks")) {
      // (The C library's own stdout buffer, allocated for main's printf, is glibc's to keep: see
      // Targets.)
      if (s.path("kind").asText().equals("heap") && !Targets.cRuntime(s)) {
        for (JsonNode f : s.path("frames"))
          if (f.path("function").asText().equals("main"))
            heapBytesFromMain += s.path("bytes").asLong();
      }
    }
    assertThat(heapBytesFromMain).as("the 1000 malloc/free pairs leave nothing").isZero();
  }

  @Test
  void aCommandThatExecsIsReportedAsItsLastImage() throws Exception {
    // sh is tracked, then replaced by exec: the report is churn's, what it held when it exited.
    JsonNode r =
        run(
            List.of(
                "--exact",
                "--",
                "/bin/sh",
                "-c",
                "exec " + churn() + " -t 2 -p 1000 -n 10 -s 100"));
    assertThat(r.path("process").path("name").asText()).isEqualTo("churn");
    assertThat(stackWithFunction(r, "leak_blocks").path("bytes").asLong()).isEqualTo(1000);
  }

  @Test
  void dlopenedLibrariesAndCppNewAreNamed() throws Exception {
    JsonNode api = run(List.of("--exact", "--", Home.nativeDir().resolve("api-user").toString()));
    JsonNode blocks = stackWithFunction(api, "leak_api_blocks");
    assertThat(blocks.path("bytes").asLong()).isEqualTo(3 * 333);
    long keyAllocations = 0; // inside the dlopen()ed libtoykey.so (one stack per call site)
    for (JsonNode s : api.path("stacks")) {
      if (s.path("frames").toString().contains("\"cont_alloc\"")) {
        assertThat(s.path("allocator").asText()).isEqualTo("libtoykey.so");
        keyAllocations += s.path("allocations").asLong();
      }
    }
    assertThat(keyAllocations).isEqualTo(2);

    JsonNode cpp = run(List.of("--exact", "--", Home.nativeDir().resolve("cpp-user").toString()));
    JsonNode widgets =
        stackWithFunction(cpp, "Registry::remember()"); // demangled by libstdc++'s own demangler
    assertThat(widgets.path("bytes").asLong()).isEqualTo(5 * 200);
    assertThat(widgets.path("frames").get(0).path("function").asText())
        .isEqualTo("operator new(unsigned long)");
    assertThat(widgets.path("allocator").asText())
        .as("operator new is part of the allocation function")
        .isEqualTo("cpp-user");
    assertThat(widgets.path("culprit").asText()).startsWith("cpp-user!Registry::remember()+0x");
    assertThat(Targets.outstandingOutsideCLibrary(cpp))
        .as("nothing else: containers, new[], aligned new all freed")
        .isEqualTo(5 * 200);
  }

  @Test
  void aJvmLeakingNativeMemoryThroughZipIsAttributedToZlibWhileItsHeapStaysSmall()
      throws Exception {
    Path src = tmp.resolve("ZipLeak.java");
    Files.writeString(
        src,
        String.join(
            "\n",
            "import java.util.*; import java.util.zip.Inflater;",
            "public class ZipLeak {",
            "  static final List<Inflater> kept = new ArrayList<>();",
            "  static void leakSome() { for (int k = 0; k < 200; k++) kept.add(new Inflater()); } // never end()ed",
            "  public static void main(String[] a) throws Exception {",
            "    long end = System.currentTimeMillis() + Long.parseLong(a[0]);",
            "    while (System.currentTimeMillis() < end) {",
            "      leakSome();",
            "      Thread.sleep(20);",
            "    }",
            "    System.out.println(kept.size());",
            "  }",
            "}"));
    assertThat(
            javax.tools.ToolProvider.getSystemJavaCompiler()
                .run(null, null, null, "-d", tmp.toString(), src.toString()))
        .isZero();
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    JsonNode r =
        run(
            List.of(
                "--sample-bytes",
                "65536",
                "--",
                java,
                "-Xmx256m",
                "-cp",
                tmp.toString(),
                "ZipLeak",
                "7000"));
    JsonNode zlib = stackWithFunction(r, "inflateInit2_");
    assertThat(zlib.path("allocator").asText()).startsWith("libz.so");
    assertThat(zlib.path("culprit").asText()).contains("Java_java_util_zip_Inflater_init");
    assertThat(zlib.path("bytes").asLong()).isGreaterThan(50L << 20);
    // Once compiled, the Java method that leaks is named from the JVM's perf map (run sets
    // -XX:+PreserveFramePointer so the unwinder walks through JIT frames).
    List<String> javaCallers = new java.util.ArrayList<>();
    for (JsonNode s : r.path("stacks")) {
      if (!s.path("allocator").asText().startsWith("libz.so")) continue;
      for (JsonNode f : s.path("frames"))
        if (f.path("module").asText().equals("[jit]")) javaCallers.add(f.path("function").asText());
    }
    assertThat(javaCallers).contains("void ZipLeak.leakSome()");
    // perfmon's split: the Java heap holds only the small Inflater objects.
    long managed = r.path("counters").path("managedHeapBytes").asLong();
    assertThat(managed).isPositive().isLessThan(zlib.path("bytes").asLong());
    assertThat(r.path("counters").path("privateBytes").asLong()).isPositive();
  }

  @Test
  void exitStatusOfTheCommandIsPassedThrough() {
    int rc =
        new CommandLine(new Main())
            .execute(
                "run",
                "--report-file",
                tmp.resolve("r.txt").toString(),
                "--",
                "/bin/sh",
                "-c",
                "exit 7");
    assertThat(rc).isEqualTo(7);
  }
}
