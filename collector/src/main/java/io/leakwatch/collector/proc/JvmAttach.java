package io.leakwatch.collector.proc;

import com.sun.jna.Function;
import com.sun.jna.NativeLibrary;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Asks a HotSpot JVM to run a diagnostic command through its attach mechanism, the way {@code jcmd}
 * does: a {@code .attach_pidN} file and SIGQUIT start the JVM's attach listener, which then answers
 * on the Unix socket {@code /tmp/.java_pidN}. The collector uses it for one command, {@code
 * Compiler.perfmap}, which writes {@code /tmp/perf-N.map} naming the JIT's code.
 *
 * <p>SIGQUIT kills a process that does not catch it, and a JVM started with {@code
 * -XX:+DisableAttachMechanism} answers it with a thread dump on its stdout. So the signal is sent
 * only to a process that catches SIGQUIT (its SigCgt mask in /proc/PID/status), at most once per
 * process: a JVM whose socket did not appear is never signalled again.
 */
public final class JvmAttach {
  private static final int SIGQUIT = 3;
  private static final Function KILL;

  static {
    Function kill = null;
    try {
      kill = NativeLibrary.getInstance("c").getFunction("kill");
    } catch (UnsatisfiedLinkError | RuntimeException e) {
      kill = null;
    }
    KILL = kill;
  }

  private final Path proc;

  public JvmAttach(Path proc) {
    this.proc = proc;
  }

  /** The result of a command: the JVM's status (0 = success) and its output. */
  public record Reply(int status, String output) {}

  /**
   * Runs {@code jcmd <command>} in {@code pid}; {@code mayStartListener} allows the SIGQUIT that
   * starts the listener when it is not running yet. Throws IOException when the JVM cannot be
   * reached.
   */
  public Reply jcmd(int pid, String command, boolean mayStartListener, long timeoutMs)
      throws IOException {
    String nsPid = HsPerfData.namespacePid(proc, pid);
    Path tmp = proc.resolve(Integer.toString(pid)).resolve("root").resolve("tmp");
    Path socket = tmp.resolve(".java_pid" + nsPid);
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    if (!isSocket(socket)) {
      if (!mayStartListener) throw new IOException("no attach listener in pid " + pid);
      startListener(pid, nsPid, tmp, socket, deadline);
    }
    try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
      ch.connect(UnixDomainSocketAddress.of(socket));
      // Protocol 1: version, command, three arguments, each NUL-terminated. jcmd passes its whole
      // command line as the first argument.
      ch.write(
          ByteBuffer.wrap(("1\0jcmd\0" + command + "\0\0\0").getBytes(StandardCharsets.UTF_8)));
      ch.shutdownOutput();
      ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ch.configureBlocking(true);
      // Blocking reads end when the JVM closes the connection; the deadline is checked between
      // reads.
      while (ch.read(buf) >= 0) {
        buf.flip();
        out.write(buf.array(), 0, buf.limit());
        buf.clear();
        if (out.size() > (1 << 20) || System.nanoTime() > deadline) break;
      }
      String text = out.toString(StandardCharsets.UTF_8);
      int nl = text.indexOf('\n');
      String head = (nl < 0 ? text : text.substring(0, nl)).trim();
      if (!head.matches("-?\\d{1,9}"))
        throw new IOException("unexpected attach reply from pid " + pid);
      return new Reply(Integer.parseInt(head), nl < 0 ? "" : text.substring(nl + 1));
    }
  }

  private void startListener(int pid, String nsPid, Path tmp, Path socket, long deadline)
      throws IOException {
    if (KILL == null) throw new IOException("cannot send signals from here");
    if (!catchesSigquit(pid))
      throw new IOException("pid " + pid + " does not catch SIGQUIT; not signalling it");
    Path trigger = tmp.resolve(".attach_pid" + nsPid);
    try {
      Files.deleteIfExists(trigger);
      Files.createFile(trigger);
      if (KILL.invokeInt(new Object[] {pid, SIGQUIT}) != 0)
        throw new IOException("kill(" + pid + ", SIGQUIT) failed");
      while (!isSocket(socket)) {
        if (System.nanoTime() > deadline)
          throw new IOException("pid " + pid + " did not start its attach listener");
        try {
          Thread.sleep(20);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException("interrupted");
        }
      }
    } finally {
      Files.deleteIfExists(trigger);
    }
  }

  private static boolean isSocket(Path p) {
    try {
      return Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS)
          .isOther();
    } catch (IOException | UnsupportedOperationException e) {
      return false;
    }
  }

  /** Bit SIGQUIT-1 of the SigCgt mask: the process has a handler, so the signal cannot kill it. */
  boolean catchesSigquit(int pid) {
    String status = ProcCounters.read(proc.resolve(Integer.toString(pid)).resolve("status"));
    if (status == null) return false;
    for (String line : status.split("\n")) {
      if (line.startsWith("SigCgt:")) {
        String hex = line.substring(7).trim();
        if (!hex.matches("[0-9a-fA-F]{1,16}")) return false;
        return (Long.parseUnsignedLong(hex, 16) & (1L << (SIGQUIT - 1))) != 0;
      }
    }
    return false;
  }

  /** Where the JVM {@code pid} writes its perf map, seen from here. */
  public Path perfMapFile(int pid) {
    return proc.resolve(Integer.toString(pid))
        .resolve("root")
        .resolve("tmp")
        .resolve("perf-" + HsPerfData.namespacePid(proc, pid) + ".map");
  }

  /**
   * A single background thread for attaches, so a slow JVM never holds the collector's drain loop.
   */
  public static ExecutorService executor() {
    return Executors.newSingleThreadExecutor(
        r -> {
          Thread t = new Thread(r, "leakwatch-jvm-attach");
          t.setDaemon(true);
          return t;
        });
  }
}
