package io.leakwatch.streams.stores;

import io.leakwatch.schemas.StackDefinition;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;

/**
 * The allocator and culprit of each stack id, read once from the global stacks store and kept until
 * that stack's definition changes. Scrapes and live reports name every outstanding row's stack: a
 * 100,000-stack process made each scrape decode 100,000 definitions, over a second on a 2-core VM
 * (past Prometheus's scrape timeout) and a core's worth of work at a 2-second interval.
 *
 * <p>Correctness: the stacks store's updater calls {@link #changed} after each write. A reader
 * looks a definition up inside {@link ConcurrentHashMap#computeIfAbsent}, which holds the id's bin
 * while it reads, so a {@code changed} for that id waits for the read and then removes what it
 * found: a definition read just before it was replaced is never kept.
 */
public final class StackNames {
  /** What a stack is counted and labelled under. */
  public record Names(String allocator, String culprit) {}

  /** Kept entries beyond which the cache starts over (about 150 bytes each). */
  static final int CAPACITY = 1 << 18;

  /** How often a full cache may start over (more often, lookups past the capacity go uncached). */
  static final long CLEAR_AT_MOST_EVERY_NS = 10L * 60 * 1_000_000_000;

  private final ConcurrentHashMap<String, Names> byId = new ConcurrentHashMap<>();

  private volatile long clearedAtNs = System.nanoTime() - CLEAR_AT_MOST_EVERY_NS;

  /**
   * The names of {@code id}, from the cache or {@code lookup}; null while the stack has no
   * definition (never cached: it may arrive at any moment).
   */
  public Names get(String id, Function<String, StackDefinition> lookup) {
    Names n = byId.get(id);
    if (n != null) return n;
    if (byId.size() >= CAPACITY) {
      // More stacks than it holds: start over now and then (stacks of exited processes go), but
      // not on every scrape, where an instance with more live stacks than the capacity would clear
      // it each time and never hit.
      long now = System.nanoTime();
      if (now - clearedAtNs < CLEAR_AT_MOST_EVERY_NS) return names(lookup.apply(id));
      clearedAtNs = now;
      byId.clear();
    }
    return byId.computeIfAbsent(id, k -> names(lookup.apply(k)));
  }

  private static Names names(StackDefinition d) {
    return d == null ? null : new Names(d.getAllocator(), d.getCulprit());
  }

  /** The definition of {@code id} was written or deleted: forget what was read of it. */
  public void changed(String id) {
    byId.remove(id);
  }

  int size() {
    return byId.size();
  }
}
