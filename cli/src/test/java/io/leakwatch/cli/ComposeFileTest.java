package io.leakwatch.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** docker-compose.yml validated offline by Debian's docker-compose (no engine needed). */
class ComposeFileTest {
  @Test
  void composeFileIsValid() throws Exception {
    boolean present = false;
    for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
      present |= Files.isExecutable(Path.of(dir, "docker-compose"));
    }
    assertThat(present)
        .as(
            "docker-compose is not installed: ./run-tests installs it (apt-get install docker-compose); this test is never skipped")
        .isTrue();
    Process p =
        new ProcessBuilder("docker-compose", "config", "-q")
            .directory(Path.of("..").toAbsolutePath().normalize().toFile())
            .redirectErrorStream(true)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    System.out.println("$ docker-compose config -q -> exit " + p.exitValue() + " " + out);
    assertThat(p.exitValue()).as(out).isZero();
  }
}
