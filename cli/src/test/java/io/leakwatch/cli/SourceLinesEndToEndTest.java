package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.leakwatch.collector.symbols.DebuginfodServer;
import io.leakwatch.collector.symbols.InlineLeakProgram;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * File, line and inlined frames as a user meets them: {@code ./leakwatch run} on a stripped
 * program, with its debug info on a debuginfod server (Debian's, started here) or under
 * /usr/lib/debug/.build-id; the report's frames checked against binutils' addr2line on the
 * unstripped program, and the pprof profile read by Go's pprof with {@code -lines}.
 */
class SourceLinesEndToEndTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int LEAKS = 10;

  @TempDir Path tmp;

  /** {@code leakwatch run} in a JVM of its own, with the environment a user would give it. */
  private void run(Map<String, String> env, String... args) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    List<String> cmd = new ArrayList<>();
    cmd.addAll(
        List.of(
            java,
            "-Xmx512m",
            "-Dleakwatch.home=" + Home.root(),
            "-cp",
            System.getProperty("java.class.path"),
            Main.class.getName(),
            "run"));
    cmd.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
    pb.environment().remove("DEBUGINFOD_URLS");
    pb.environment().put("DEBUGINFOD_CACHE_PATH", tmp.resolve("cache").toString());
    pb.environment().putAll(env);
    Path log = tmp.resolve("run-" + System.nanoTime() + ".log");
    Process p = pb.redirectOutput(log.toFile()).start();
    assertThat(p.waitFor(180, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as(Files.readString(log)).isZero();
  }

  private JsonNode jsonReport(Map<String, String> env) throws Exception {
    Path out = tmp.resolve("report-" + System.nanoTime() + ".json");
    run(
        env,
        "--exact",
        "--report",
        "json",
        "--report-file",
        out.toString(),
        "--",
        InlineLeakProgram.STRIPPED.toString(),
        Integer.toString(LEAKS));
    return JSON.readTree(Files.readString(out));
  }

  /**
   * The leak's stack: every frame in the program's own module, grouped as addr2line groups an
   * address (inlined calls, then the function they are in), equals addr2line -f -i on the
   * unstripped binary at that call.
   */
  private static void assertFramesMatchAddr2line(JsonNode report) throws Exception {
    JsonNode leak = null;
    for (JsonNode s : report.path("stacks")) {
      if (s.path("culprit").asText().contains("open_session")) leak = s;
    }
    assertThat(leak).as("the leak's stack in %s", report.toPrettyString()).isNotNull();
    assertThat(leak.path("bytes").asLong()).isEqualTo(LEAKS * 4000L);
    JsonNode frames = leak.path("frames");
    System.out.println("frames of the leak:\n" + frames.toPrettyString());
    List<JsonNode> group = new ArrayList<>();
    int checked = 0;
    boolean inlinedSeen = false;
    for (JsonNode f : frames) {
      if (!f.path("module").asText().equals("inline-leak.stripped")) continue;
      group.add(f);
      if (f.path("inlined").asBoolean()) {
        inlinedSeen = true;
        continue;
      }
      long site = f.path("moduleOffset").asLong() - 1;
      List<InlineLeakProgram.Addr2line> truth =
          InlineLeakProgram.addr2line(InlineLeakProgram.PROGRAM, site);
      if (truth.isEmpty()) {
        assertThat(group).as("frames at 0x%x", site).hasSize(1);
        assertThat(f.path("file").isNull()).as("no line where addr2line knows none").isTrue();
        group.clear();
        continue;
      }
      assertThat(group).as("frames at 0x%x", site).hasSize(truth.size());
      for (int i = 0; i < truth.size(); i++) {
        JsonNode g = group.get(i);
        assertThat(g.path("function").asText()).isEqualTo(truth.get(i).function());
        assertThat(g.path("file").asText()).isEqualTo(truth.get(i).file());
        assertThat(g.path("line").asInt()).isEqualTo(truth.get(i).line());
      }
      checked++;
      group.clear();
    }
    assertThat(checked).as("open_session and main").isGreaterThanOrEqualTo(2);
    assertThat(inlinedSeen).as("the inlined allocation site, a frame of its own").isTrue();
    JsonNode first = frames.get(0);
    assertThat(first.path("function").asText()).isEqualTo("new_session_key");
    assertThat(first.path("inlined").asBoolean()).isTrue();
  }

  @Test
  void aStrippedProgramWithItsDebugInfoOnlyOnADebuginfodServer() throws Exception {
    Path served = Files.createDirectories(tmp.resolve("served"));
    Files.copy(InlineLeakProgram.DEBUG, served.resolve("inline-leak.debug"));
    try (DebuginfodServer server =
        DebuginfodServer.serving(served, tmp.resolve("server"), InlineLeakProgram.buildId())) {
      assertFramesMatchAddr2line(jsonReport(Map.of("DEBUGINFOD_URLS", server.url().toString())));

      // pprof's Lines: go tool pprof -lines names file:line, the inlined call included.
      Path profile = tmp.resolve("inline-leak.pb.gz");
      run(
          Map.of("DEBUGINFOD_URLS", server.url().toString()),
          "--exact",
          "--report",
          "pprof",
          "--report-file",
          profile.toString(),
          "--",
          InlineLeakProgram.STRIPPED.toString(),
          Integer.toString(LEAKS));
      Process p =
          new ProcessBuilder(
                  "go", "tool", "pprof", "-lines", "-top", "-nodefraction=0", profile.toString())
              .redirectErrorStream(true)
              .start();
      String top = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
      System.out.println("go tool pprof -lines -top:\n" + top);
      List<InlineLeakProgram.Addr2line> site =
          InlineLeakProgram.addr2line(
              InlineLeakProgram.PROGRAM, InlineLeakProgram.mallocReturnAddress() - 1);
      String inlinedAt = Path.of(site.get(0).file()).getFileName() + ":" + site.get(0).line();
      assertThat(top).contains("new_session_key").contains(inlinedAt);
    }
  }

  @Test
  void theSameProgramWithItsDebugFileUnderUsrLibDebugBuildIdAndNoServer() throws Exception {
    String id = InlineLeakProgram.buildId();
    Path file = Path.of("/usr/lib/debug/.build-id", id.substring(0, 2), id.substring(2) + ".debug");
    Files.createDirectories(file.getParent());
    // Replaced if there: a run killed mid-test leaves it behind (the same build id, the same file).
    Files.copy(InlineLeakProgram.DEBUG, file, StandardCopyOption.REPLACE_EXISTING);
    try {
      assertFramesMatchAddr2line(jsonReport(Map.of()));
    } finally {
      Files.deleteIfExists(file);
    }
  }
}
