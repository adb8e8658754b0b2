package io.leakwatch.collector;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Orders the images of a process that exec'd. Each image's shim makes its own ring for the same pid
 * and process start, so one process can have several rings at once: the older image is drained and
 * retired before the newer one is read, so its events and its exit reach downstream first. It also
 * remembers the start of the image whose exit was published last, which tells a waiting caller (the
 * CLI's final report) that the process it ran, in its last image, is done.
 */
final class ExecOrder {
  private static final int RETIRED_REMEMBERED = 10_000;

  private final TrackedRings rings;

  /**
   * Oldest and newest ring start of each process (pid and start time): several mean an exec
   * happened.
   */
  private final Map<String, long[]> imageSpan = new HashMap<>();

  /**
   * pid -> start (ms) of the image whose exit was published last: exec'd processes have several.
   */
  private final Map<Integer, Long> lastRetiredStartMs =
      new LinkedHashMap<>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<Integer, Long> e) {
          return size() > RETIRED_REMEMBERED;
        }
      };

  ExecOrder(TrackedRings rings) {
    this.rings = rings;
  }

  /** Indexes the rings followed now; the answers below hold until the next call (once a round). */
  void index() {
    imageSpan.clear();
    for (TrackedProcess tp : rings.processes()) {
      long start = tp.ring.startTimeNs();
      imageSpan.merge(
          tp.pid + "/" + tp.ring.procStartTicks(),
          new long[] {start, start},
          (a, b) -> new long[] {Math.min(a[0], b[0]), Math.max(a[1], b[1])});
    }
  }

  /** Another ring of the same process is older than this one: that image goes first. */
  boolean hasOlderImage(TrackedProcess tp) {
    return hasSibling(tp, true);
  }

  /**
   * Another ring of the same process is newer than this one: this image was replaced by an exec.
   */
  boolean hasNewerImage(TrackedProcess tp) {
    return hasSibling(tp, false);
  }

  private boolean hasSibling(TrackedProcess tp, boolean older) {
    long[] span = imageSpan.get(tp.pid + "/" + tp.ring.procStartTicks());
    if (span == null) return false;
    return older ? span[0] < tp.ring.startTimeNs() : span[1] > tp.ring.startTimeNs();
  }

  /** Notes that the exit of {@code tp}'s image has been published. */
  void retired(TrackedProcess tp) {
    lastRetiredStartMs.merge(tp.pid, tp.ring.startTimeNs() / 1_000_000, Math::max);
  }

  /**
   * When every ring of {@code pid} has been retired (its exit published downstream), the start time
   * in ms of its last image; empty while any ring of that pid is still followed.
   */
  Optional<Long> retiredStartMs(int pid) {
    if (rings.followsPid(pid)) return Optional.empty();
    return Optional.ofNullable(lastRetiredStartMs.get(pid));
  }
}
