package io.leakwatch.collector.proc;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ProcCountersTest {
  private final ProcCounters proc = new ProcCounters();

  @Test
  void countersOfThisJvmAgreeWithProc() throws Exception {
    int pid = (int) ProcessHandle.current().pid();
    ProcCounters.Memory m = proc.memory(pid);
    String status = Files.readString(Path.of("/proc/self/status"));
    long vmSize = ProcCounters.kbField(status, "VmSize:").getAsLong();
    long rss = ProcCounters.kbField(status, "VmRSS:").getAsLong();
    assertThat((double) m.virtualBytes()).isCloseTo(vmSize, org.assertj.core.data.Percentage.withPercentage(5));
    assertThat((double) m.residentBytes()).isCloseTo(rss, org.assertj.core.data.Percentage.withPercentage(5));
    assertThat(m.privateBytes()).isPositive().isLessThanOrEqualTo(m.virtualBytes());
    assertThat(proc.openFds(pid)).isPositive();
    assertThat(proc.startTicks(pid)).isPositive();
    assertThat(proc.alive(pid, proc.startTicks(pid))).isTrue();
    assertThat(proc.alive(pid, proc.startTicks(pid) + 1)).as("a reused pid is another process").isFalse();
  }

  @Test
  void goneProcessIsUnknownNotAnError() {
    assertThat(proc.memory(Integer.MAX_VALUE)).isNull();
    assertThat(proc.openFds(Integer.MAX_VALUE)).isEqualTo(-1);
    assertThat(proc.alive(Integer.MAX_VALUE, 0)).isFalse();
  }

  @Test
  void hostileStatLinesAndTruncatedFiles(@TempDir Path fake) throws Exception {
    assertThat(ProcCounters.parseStartTicks("42 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20"))
        .isEqualTo(987654);
    assertThat(ProcCounters.parseStartTicks("42 (x) S 1 2")).isEqualTo(-1);
    assertThat(ProcCounters.parseStartTicks("no paren")).isEqualTo(-1);
    assertThat(ProcCounters.parseStartTicks("1 (x) S 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 notanumber")).isEqualTo(-1);
    assertThat(ProcCounters.isZombie("7 (sh) Z 1")).isTrue();
    assertThat(ProcCounters.kbField("VmRSS:", "VmRSS:")).isEmpty();
    assertThat(ProcCounters.kbField("VmRSS:\t  99999999999999999999999 kB", "VmRSS:")).isPresent();
    Path p = Files.createDirectories(fake.resolve("77"));
    Files.writeString(p.resolve("status"), "Name:\tx\nVmSize:\t100 kB\nVmRSS:"); // cut short by an exiting process
    ProcCounters.Memory m = new ProcCounters(fake).memory(77);
    assertThat(m.virtualBytes()).isEqualTo(102400);
    assertThat(m.residentBytes()).isZero();
  }

  @Test
  void processNamesLikeProcessExporter() {
    assertThat(ProcessNames.name(List.of("/usr/sbin/nginx", "-g", "daemon off;"))).isEqualTo("nginx");
    assertThat(ProcessNames.name(List.of("/usr/bin/java", "-Xmx1g", "-cp", "a.jar:b.jar", "com.example.Main", "x")))
        .isEqualTo("com.example.Main");
    assertThat(ProcessNames.name(List.of("java", "-jar", "/opt/app/service.jar"))).isEqualTo("service.jar");
    assertThat(ProcessNames.name(List.of())).isEqualTo("unknown");
    assertThat(ProcessNames.name(List.of("/tmp/evil\u0001name"))).isEqualTo("evil_name");
  }
}
