package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real programs nobody here wrote (CPython's regression tests, PostgreSQL with pgbench, nginx under
 * wrk, a shell pipeline, perl) run bare, sampled (the default rate) and exact, through {@code
 * collector/src/test/realworld/matrix.sh --quick}: every tracked outcome must equal the bare one.
 * The matrix's table is the failure message.
 */
class RealSoftwareTest {
  /** What the quick matrix runs, and the Debian package that brings it. */
  private static final Map<String, String> NEEDED = new LinkedHashMap<>();

  static {
    NEEDED.put("/usr/bin/python3.11", "python3.11");
    NEEDED.put("/usr/lib/python3.11/test/test_ctypes.py", "libpython3.11-testsuite");
    NEEDED.put("/usr/lib/postgresql/15/bin/postgres", "postgresql");
    NEEDED.put("/usr/lib/postgresql/15/bin/pgbench", "postgresql");
    NEEDED.put("nginx", "nginx");
    NEEDED.put("wrk", "wrk");
    NEEDED.put("perl", "perl");
    NEEDED.put("runuser", "util-linux");
    NEEDED.put("timeout", "coreutils");
    NEEDED.put("python3", "python3");
    NEEDED.put("gzip", "gzip");
  }

  @TempDir Path tmp;

  private static boolean found(String tool) {
    if (tool.startsWith("/")) return Files.exists(Path.of(tool));
    for (String dir :
        System.getenv()
            .getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .split(File.pathSeparator)) {
      if (Files.isExecutable(Path.of(dir, tool))) return true;
    }
    for (String dir :
        List.of("/usr/sbin", "/sbin")) { // runuser and nginx live here, not always on a user's PATH
      if (Files.isExecutable(Path.of(dir, tool))) return true;
    }
    return false;
  }

  @Test
  void realProgramsBehaveTheSameBareAndTrackedInEveryMode() throws Exception {
    List<String> missing = new ArrayList<>();
    NEEDED.forEach(
        (tool, pkg) -> {
          if (!found(tool)) missing.add(tool + " (apt-get install -y " + pkg + ")");
        });
    assertThat(missing)
        .as("tools the real-software matrix needs; install the Debian packages named")
        .isEmpty();
    Home.agent(); // fails with a message when the shim is not built

    Path matrix = Home.root().resolve("collector/src/test/realworld/matrix.sh");
    assertThat(matrix).isRegularFile();
    // The tracked runs go through `leakwatch run`: this module's own classes and classpath (in the
    // test
    // phase its jar and target/lib do not exist yet), in a JVM of this test's Java.
    // (Surefire puts the test classpath in java.class.path even when it boots from a manifest-only
    // jar.)
    String classpath =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    assertThat(classpath).as("the test classpath holds the CLI's dependencies").contains("picocli");
    Path args = tmp.resolve("cli.args");
    Files.writeString(
        args,
        String.join(
            "\n",
            "-Xmx1g",
            "-XX:+DisplayVMOutputToStderr",
            "-Xlog:disable",
            "-Xlog:all=warning:stderr",
            "-Dleakwatch.home=" + Home.root(),
            // the CLI's own logging (to stderr), not this module's log4j2-test.xml on the test
            // classpath
            // (to stdout, where it mixed a shutdown warning into the tracked pipeline's output)
            "-Dlog4j2.configurationFile="
                + Home.root().resolve("cli/src/main/resources/log4j2.xml"),
            "-cp",
            "\"" + classpath + "\"",
            "io.leakwatch.cli.Main"));
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Path table = tmp.resolve("table.txt");
    // The servers run as an unprivileged user (postgres refuses root; nginx's workers drop to one):
    // they must reach their work directories under this test's private (0700) temporary directory.
    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));

    ProcessBuilder pb =
        new ProcessBuilder(
                "bash",
                matrix.toString(),
                "--quick",
                "--table",
                table.toString(),
                "--work",
                tmp.resolve("work").toString())
            .redirectErrorStream(true)
            .redirectOutput(tmp.resolve("matrix.log").toFile());
    pb.environment().put("LEAKWATCH", java + " @" + args);
    pb.environment().put("LEAKWATCH_HOME", Home.root().toString());
    Process p = pb.start();
    boolean done = p.waitFor(30, TimeUnit.MINUTES);
    if (!done) {
      p.descendants().forEach(ProcessHandle::destroyForcibly);
      p.destroyForcibly();
    }
    String log = Files.readString(tmp.resolve("matrix.log"));
    String shown = Files.exists(table) ? Files.readString(table) : log;
    System.out.println(shown);
    assertThat(done).as("matrix.sh --quick finished within 30 minutes:\n" + log).isTrue();
    assertThat(p.exitValue()).as("every tracked outcome equals the bare one:\n" + shown).isZero();
  }
}
