package io.leakwatch.collector;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The rings being followed, by path. Discovery adds to them, retirement removes from them, and
 * every other job of a round reads them: one owner for that map keeps who may change it in one
 * place. Not thread-safe on its own: the {@link Collector}'s lock guards every use, as it guarded
 * the map before.
 */
final class TrackedRings {
  private final Map<Path, TrackedProcess> byPath = new HashMap<>();

  boolean contains(Path ring) {
    return byPath.containsKey(ring);
  }

  void add(Path ring, TrackedProcess tp) {
    byPath.put(ring, tp);
  }

  void remove(Path ring) {
    byPath.remove(ring);
  }

  /** Read-only; in the map's own order, which is the order rings are drained in. */
  Collection<TrackedProcess> processes() {
    return Collections.unmodifiableCollection(byPath.values());
  }

  /** Read-only; what retirement walks (it needs the path to remove the ring file). */
  Set<Map.Entry<Path, TrackedProcess>> entries() {
    return Collections.unmodifiableMap(byPath).entrySet();
  }

  int size() {
    return byPath.size();
  }

  boolean followsPid(int pid) {
    for (TrackedProcess tp : byPath.values()) if (tp.pid == pid) return true;
    return false;
  }

  /** Bytes not yet read from the rings of {@code pid} (several after an exec). */
  long unreadBytes(int pid) {
    long sum = 0;
    for (TrackedProcess tp : List.copyOf(byPath.values()))
      if (tp.pid == pid) sum += tp.ring.unreadBytes();
    return sum;
  }

  double maxFill() {
    double max = 0;
    for (TrackedProcess tp : List.copyOf(byPath.values())) max = Math.max(max, tp.ring.fill());
    return max;
  }

  /** Unmaps every ring and forgets it (the ring files stay: the next collector resumes them). */
  void closeAll() {
    for (TrackedProcess tp : byPath.values()) {
      try {
        tp.ring.close();
      } catch (IOException ignored) {
        // closing a mapping cannot lose data: the ring file keeps it
      }
    }
    byPath.clear();
  }
}
