package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real-software scripts' heaptrack mode, which {@code bench realworld} puts beside ours: a
 * program heaptrack can record (the JVM, CPython's tests in one process) ends as it does bare and
 * leaves heaptrack's data; one whose work is in forked or exec'd children says so instead of a
 * number; and CPython's in-process summary gives each module's result.
 */
class HeaptrackModeTest {
  @TempDir Path tmp;

  private static final Path SCRIPTS = Home.root().resolve("collector/src/test/realworld");

  /** The script's outcome line's fields, and its exit status under "status". */
  private Map<String, String> script(String name, String mode, Map<String, String> env)
      throws IOException, InterruptedException {
    Path work = tmp.resolve(name + "-" + mode);
    ProcessBuilder pb =
        new ProcessBuilder("bash", SCRIPTS.resolve(name + ".sh").toString(), mode, "--quick")
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve(name + "-" + mode + ".log").toFile());
    pb.environment().put("RW_WORK", work.toString());
    pb.environment().put("LEAKWATCH_HOME", Home.root().toString());
    pb.environment().putAll(env);
    Process p = pb.start();
    if (!p.waitFor(5, TimeUnit.MINUTES)) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
      throw new AssertionError(name + " " + mode + " did not finish in 5 minutes");
    }
    String log = Files.readString(tmp.resolve(name + "-" + mode + ".log"));
    String rw =
        log.lines()
            .filter(l -> l.startsWith("RW\t"))
            .reduce((a, b) -> b)
            .orElseThrow(() -> new AssertionError("no outcome line:\n" + log));
    Map<String, String> f = new LinkedHashMap<>();
    for (String part : rw.split("\t")) {
      int eq = part.indexOf('=');
      if (eq > 0) f.put(part.substring(0, eq), part.substring(eq + 1));
    }
    f.put("status", Integer.toString(p.exitValue()));
    f.put("work", work.toString());
    return f;
  }

  private static long heaptrackDataBytes(String work) throws IOException {
    try (Stream<Path> files = Files.list(Path.of(work))) {
      return files
          .filter(f -> f.getFileName().toString().startsWith("heaptrack."))
          .mapToLong(f -> f.toFile().length())
          .sum();
    }
  }

  @Test
  void heaptrackRecordsTheJvmAndCPythonInOneProcessAndTheirOutcomesMatchBare() throws Exception {
    assertThat(BenchSupport.onPath("heaptrack"))
        .as("heaptrack (apt-get install -y heaptrack)")
        .isTrue();
    Map<String, String> bareJvm = script("jvm", "bare", Map.of());
    Map<String, String> heapJvm = script("jvm", "heaptrack", Map.of());
    assertThat(heapJvm.get("outcome")).startsWith("status=ok").isEqualTo(bareJvm.get("outcome"));
    assertThat(heaptrackDataBytes(heapJvm.get("work"))).as("heaptrack's data").isPositive();

    Map<String, String> one =
        Map.of("RW_CPYTHON_INPROCESS", "1", "RW_CPYTHON_TESTS", "test_json test_bool");
    Map<String, String> barePy = script("cpython", "bare", one);
    Map<String, String> heapPy = script("cpython", "heaptrack", one);
    assertThat(barePy.get("outcome")).isEqualTo("main=ok test_json=pass test_bool=pass");
    assertThat(heapPy.get("outcome")).isEqualTo(barePy.get("outcome"));
    assertThat(heaptrackDataBytes(heapPy.get("work"))).as("heaptrack's data").isPositive();
  }

  @Test
  void programsWhoseChildrenDoTheWorkAreNotMeasuredUnderHeaptrack() throws Exception {
    for (String name : new String[] {"perl", "gcc", "postgres", "nginx", "pipeline"}) {
      Map<String, String> f = script(name, "heaptrack", Map.of());
      assertThat(f.get("status")).as(name).isEqualTo("4");
      assertThat(f.get("outcome")).as(name).startsWith("unsupported:");
    }
    // CPython's regrtest with -j1 (each module in a worker process) is one of them too.
    Map<String, String> py = script("cpython", "heaptrack", Map.of());
    assertThat(py.get("outcome")).startsWith("unsupported:");
  }

  @Test
  void cpythonInOneProcessReadsEachModulesResultFromTheSummary() throws Exception {
    // A module that does not exist fails. Run first, its result is on the next module's progress
    // line ("[2/2/1] test_bool -- test_leakwatch_absent failed"); test_bool's only in the summary.
    Map<String, String> f =
        script(
            "cpython",
            "bare",
            Map.of(
                "RW_CPYTHON_INPROCESS",
                "1",
                "RW_CPYTHON_TESTS",
                "test_leakwatch_absent test_bool"));
    assertThat(f.get("outcome")).isEqualTo("main=exit2 test_leakwatch_absent=fail test_bool=pass");
  }
}
