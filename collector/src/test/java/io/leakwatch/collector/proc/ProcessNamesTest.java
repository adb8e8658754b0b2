package io.leakwatch.collector.proc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class ProcessNamesTest {
  private static String byDefault(String... argv) {
    return ProcessNames.DEFAULT.name(List.of(argv), null);
  }

  @Test
  void defaultNamesLikeProcessExporter() {
    assertThat(byDefault("/usr/sbin/nginx", "-g", "daemon off;")).isEqualTo("nginx");
    assertThat(byDefault("/usr/bin/java", "-Xmx1g", "-cp", "a.jar:b.jar", "com.example.Main", "x"))
        .isEqualTo("com.example.Main");
    assertThat(byDefault("java", "-jar", "/opt/app/service.jar")).isEqualTo("service.jar");
    assertThat(byDefault("java", "-m", "app/com.example.Main")).isEqualTo("app_com.example.Main");
    assertThat(byDefault()).isEqualTo("unknown");
    assertThat(byDefault("/tmp/evil\u0001name")).isEqualTo("evil_name");
  }

  @Test
  void firstMatchingRuleNamesTheProcess() {
    ProcessNames names =
        new ProcessNames(
            List.of(
                new ProcessNames.Rule(
                    "svc-{{.Matches.Service}}",
                    List.of(),
                    List.of("java"),
                    List.of(ProcessNames.Rule.regex("-Dservice\\.name=(?P<Service>\\S+)"))),
                new ProcessNames.Rule(
                    "{{.Comm}}:{{.ExeBase}}", List.of("postgres"), List.of(), List.of()),
                new ProcessNames.Rule(
                    "worker-{{.Default}}", List.of(), List.of("/opt/app/bin/worker"), List.of())));
    assertThat(
            names.name(List.of("/usr/bin/java", "-Dservice.name=billing", "-jar", "b.jar"), "java"))
        .isEqualTo("svc-billing");
    // The same JVM without the property falls through every rule to the default.
    assertThat(names.name(List.of("/usr/bin/java", "-jar", "b.jar"), "java")).isEqualTo("b.jar");
    assertThat(names.name(List.of("/usr/lib/postgresql/bin/postgres", "-D", "/data"), "postgres"))
        .isEqualTo("postgres:postgres");
    // exe matches by full path as well as by base name.
    assertThat(names.name(List.of("/opt/app/bin/worker", "--queue", "q1"), null))
        .isEqualTo("worker-worker");
    assertThat(names.name(List.of("/usr/local/bin/worker"), null)).isEqualTo("worker");
  }

  @Test
  void commDefaultsToTheKernelsFifteenCharacterForm() {
    ProcessNames names =
        new ProcessNames(
            List.of(
                new ProcessNames.Rule(
                    "matched", List.of("a-very-long-pro"), List.of(), List.of())));
    assertThat(names.name(List.of("/bin/a-very-long-program-name"), null)).isEqualTo("matched");
  }

  @Test
  void hostileTemplatesAndValuesStaySafe() {
    ProcessNames names =
        new ProcessNames(
            List.of(
                new ProcessNames.Rule(
                    "{{.Matches.x}}",
                    List.of(),
                    List.of(),
                    List.of(ProcessNames.Rule.regex("--name=(?<x>\\S+)")))));
    // A replacement containing $ or \ is literal text; slashes and control characters are replaced.
    assertThat(names.name(List.of("app", "--name=$1\\a/b\u0007"), null)).isEqualTo("$1\\a_b_");
    assertThat(names.name(List.of("app", "--name=" + "x".repeat(500)), null)).hasSize(64);
    assertThatThrownBy(
            () -> new ProcessNames.Rule("{{.Matches.missing}}", List.of(), List.of(), List.of()))
        .hasMessageContaining("no cmdline regex has a group of that name");
    assertThatThrownBy(() -> new ProcessNames.Rule(" ", List.of(), List.of(), List.of()))
        .hasMessageContaining("name template");
  }
}
