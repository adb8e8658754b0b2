package io.leakwatch.collector.symbols;

import io.leakwatch.collector.proc.JvmAttach;
import java.io.IOException;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The names of one JVM's JIT-compiled code. Stacks with frames in no module ask for a fresh perf
 * map; the request runs on the attach executor (never in the drain loop) and at most every {@link
 * #REFRESH_MS} per process, since JIT code keeps appearing while a service warms up. Each new map
 * bumps {@link #generation()}, so stacks named before it can be named again.
 */
public final class JitSymbols {
  private static final Logger log = LoggerFactory.getLogger(JitSymbols.class);
  static final long REFRESH_MS = 5_000;
  private static final long ATTACH_TIMEOUT_MS = 5_000;

  private final int pid;
  private final JvmAttach attach;
  private final Executor executor;
  private final AtomicBoolean pending = new AtomicBoolean();
  private volatile PerfMap map = PerfMap.EMPTY;
  private volatile int generation;
  private volatile boolean givenUp;
  private volatile boolean signalled;
  private long lastRequestMs = Long.MIN_VALUE / 2;

  public JitSymbols(int pid, JvmAttach attach, Executor executor) {
    this.pid = pid;
    this.attach = attach;
    this.executor = executor;
  }

  public PerfMap map() {
    return map;
  }

  public int generation() {
    return generation;
  }

  /** Frames were found in no module: ask for a fresh map if none was asked for lately. */
  public void unresolvedSeen(long nowMs) {
    if (givenUp || nowMs - lastRequestMs < REFRESH_MS || !pending.compareAndSet(false, true))
      return;
    lastRequestMs = nowMs;
    try {
      executor.execute(this::refresh);
    } catch (RejectedExecutionException e) {
      pending.set(false);
    }
  }

  private void refresh() {
    try {
      // The listener is started by a signal at most once; after that only an existing socket is
      // used.
      boolean mayStart = !signalled;
      signalled = true;
      JvmAttach.Reply reply = attach.jcmd(pid, "Compiler.perfmap", mayStart, ATTACH_TIMEOUT_MS);
      if (reply.status() != 0) {
        givenUp = true; // an older JVM without Compiler.perfmap (before 17), or one refusing it
        log.info(
            "pid {}: Compiler.perfmap refused ({}); JIT frames stay unnamed",
            pid,
            reply.output().strip());
        return;
      }
      PerfMap fresh = PerfMap.load(attach.perfMapFile(pid));
      if (fresh.size() > 0) {
        map = fresh;
        generation++;
      }
    } catch (IOException | RuntimeException e) {
      if (!signalled || e.getMessage() == null || !e.getMessage().contains("no attach listener")) {
        log.info(
            "pid {}: cannot get a perf map ({}); JIT frames stay unnamed", pid, e.getMessage());
      }
      givenUp = true;
    } finally {
      pending.set(false);
    }
  }

  public boolean givenUp() {
    return givenUp;
  }
}
