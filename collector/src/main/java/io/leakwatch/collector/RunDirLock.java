package io.leakwatch.collector;

import io.leakwatch.collector.ring.RingLayout;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Says to the shims that a collector serves the run directory: a POSIX lock on collector.lock held
 * while this JVM runs (the kernel drops it when the process dies, however it dies). A shim that
 * finds it unlocked at exit removes its ring: nobody would read it, and rings of short processes
 * would otherwise fill the tmpfs.
 */
final class RunDirLock implements AutoCloseable {
  // The collector's log lines keep the name operators and the docs know them by.
  private static final Logger log = LoggerFactory.getLogger(Collector.class);

  private FileLock lock;

  private RunDirLock(FileLock lock) {
    this.lock = lock;
  }

  /**
   * Takes the lock if it can; without it the collector still runs (shims just remove rings at
   * exit).
   */
  static RunDirLock hold(Path runDir) {
    FileLock lock = null;
    try {
      FileChannel ch =
          FileChannel.open(
              runDir.resolve(RingLayout.COLLECTOR_LOCK),
              StandardOpenOption.CREATE,
              StandardOpenOption.WRITE);
      try {
        lock = ch.tryLock();
      } catch (OverlappingFileLockException e) {
        lock = null; // another collector in this JVM holds it already
      }
      if (lock == null) ch.close();
    } catch (IOException e) {
      log.warn(
          "cannot lock {} in the run directory: shims will remove their rings at exit: {}",
          RingLayout.COLLECTOR_LOCK,
          e.toString());
    }
    return new RunDirLock(lock);
  }

  @Override
  public void close() {
    if (lock != null) {
      try {
        lock.channel().close(); // releases the lock
      } catch (IOException ignored) {
        // the lock goes with the process anyway
      }
      lock = null;
    }
  }
}
