package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The pprof profile of a real run, decoded by an independent tool: Go's pprof (Debian's golang-go),
 * which must show the leaking function on top, with the right bytes and objects.
 */
class PprofExportTest {
  @TempDir Path tmp;

  private static String pprofTop(Path profile, String sampleIndex) throws Exception {
    Process p =
        new ProcessBuilder(
                "go",
                "tool",
                "pprof",
                "-top",
                "-nodefraction=0",
                "-sample_index=" + sampleIndex,
                profile.toString())
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(out).isZero();
    return out;
  }

  /** The first row under pprof's "flat flat% sum% cum cum%" header. */
  private static String firstRow(String top) {
    List<String> lines = top.lines().toList();
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).trim().startsWith("flat")) return lines.get(i + 1).trim();
    }
    throw new AssertionError("no table in: " + top);
  }

  @Test
  void goToolPprofShowsTheLeakingFunctionOnTop() throws Exception {
    Path profile = tmp.resolve("churn.pb.gz");
    int rc =
        new CommandLine(new Main())
            .execute(
                "run",
                "--exact",
                "--report",
                "pprof",
                "--report-file",
                profile.toString(),
                "--",
                Home.nativeDir().resolve("churn").toString(),
                "-t",
                "2",
                "-p",
                "20000",
                "-n",
                "1000",
                "-s",
                "4096",
                "-k",
                "3");
    assertThat(rc).isZero();
    byte[] head = Files.readAllBytes(profile);
    assertThat(head[0] & 0xff).as("gzip").isEqualTo(0x1f);
    assertThat(head[1] & 0xff).isEqualTo(0x8b);

    String space = pprofTop(profile, "inuse_space");
    System.out.println("pprof -top (inuse_space):\n" + space);
    assertThat(space).contains("Type: inuse_space");
    // 1000 x 4096 bytes, exact (pprof prints 4096000 bytes as 4000kB, or 3.91MB when it rounds to
    // MB)
    assertThat(firstRow(space)).endsWith("leak_blocks").matches("(4000kB|3\\.91MB) .*");
    String objects = pprofTop(profile, "inuse_objects");
    assertThat(firstRow(objects)).endsWith("leak_blocks").startsWith("1000 ");
    // The toykey leak is there too, through the allocator's own function.
    assertThat(space).contains("cont_alloc");
  }
}
