package io.leakwatch.collector.proc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.leakwatch.collector.symbols.PerfMap;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Against real processes: a JVM asked for its perf map, and a process that must never be signalled.
 */
class JvmAttachTest {
  private final JvmAttach attach = new JvmAttach(Path.of("/proc"));

  @Test
  void aRunningJvmWritesItsPerfMapOnRequest() throws Exception {
    Process p = HeapHolder.start("512m");
    try {
      int pid = (int) p.pid();
      // Wait until the JVM has installed its signal handlers (SIGQUIT caught) before asking.
      long deadline = System.currentTimeMillis() + 20_000;
      while (!attach.catchesSigquit(pid) && System.currentTimeMillis() < deadline) Thread.sleep(50);
      Thread.sleep(500);
      JvmAttach.Reply reply = attach.jcmd(pid, "Compiler.perfmap", true, 10_000);
      assertThat(reply.status()).as(reply.output()).isZero();
      PerfMap map = PerfMap.load(attach.perfMapFile(pid));
      assertThat(map.size()).as("code blobs named").isGreaterThan(10);
      // A second request uses the running listener: no signal needed.
      assertThat(attach.jcmd(pid, "Compiler.perfmap", false, 10_000).status()).isZero();
      assertThat(p.isAlive()).as("the JVM carries on").isTrue();
      Files.deleteIfExists(attach.perfMapFile(pid));
    } finally {
      p.destroy();
      p.waitFor(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void aProcessThatDoesNotCatchSigquitIsNeverSignalled() throws Exception {
    Process p = new ProcessBuilder("sleep", "30").start();
    try {
      int pid = (int) p.pid();
      assertThat(attach.catchesSigquit(pid)).isFalse();
      assertThatThrownBy(() -> attach.jcmd(pid, "Compiler.perfmap", true, 1_000))
          .hasMessageContaining("does not catch SIGQUIT");
      assertThatThrownBy(() -> attach.jcmd(pid, "Compiler.perfmap", false, 1_000))
          .hasMessageContaining("no attach listener");
      Thread.sleep(200);
      assertThat(p.isAlive()).as("SIGQUIT would have killed it").isTrue();
    } finally {
      p.destroy();
    }
  }
}
