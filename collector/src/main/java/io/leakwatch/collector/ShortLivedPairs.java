package io.leakwatch.collector;

import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.AllocationKind;
import io.leakwatch.schemas.EventType;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * Where short-lived allocations die: each event of a process is held here for a grace period before
 * it is published, and an allocation whose free arrives within it is dropped together with that
 * free. Most sampled blocks live milliseconds; only what outlives the grace period (what can be a
 * leak) travels through Kafka and the streams-app.
 *
 * <p>Why the totals stay exact: a dropped pair is an allocation and its own free, which add nothing
 * to what is outstanding at any time after the free; everything else is published unchanged.
 *
 * <p>Why nothing is lost when the collector dies: events leave strictly in ring order (the oldest
 * held event holds back every later one), so what was published is always a prefix of the ring
 * minus dropped pairs, and the ring is released only up to the oldest event still held ({@link
 * #oldestHeldSeq}). A successor collector reads from there: every event it sees was never
 * published, and the streams-app's sequence check drops nothing it should keep.
 *
 * <p>Only heap blocks pair up: a mapping can be unmapped in parts.
 */
public final class ShortLivedPairs {
  /** One held event; {@code dropped} once its partner arrived (it stays in the queue, skipped). */
  private static final class Held {
    final AllocationEvent event;
    final long receivedNs;
    boolean dropped;

    Held(AllocationEvent event, long receivedNs) {
      this.event = event;
      this.receivedNs = receivedNs;
    }
  }

  private final long graceNs;
  private final ArrayDeque<Held> queue = new ArrayDeque<>();

  /** Held heap allocations by {@link #key} of their address (the latest at that address). */
  private final Map<Long, Held> allocations = new HashMap<>();

  /**
   * An address spread over all 64 bits (multiplying by an odd constant is a bijection, so no two
   * addresses share a key). Heap addresses are 16-byte aligned and clustered in a few regions:
   * {@code Long.hashCode} of the raw address put a process's held blocks in a sixteenth of
   * HashMap's buckets, which turned into trees (a profile of {@code bench pipeline}: 13% of the
   * collector's time in HashMap.remove and TreeNode operations).
   */
  private static Long key(long address) {
    return address * 0x9E3779B97F4A7C15L;
  }

  private final LongAdder pairsDropped;

  /**
   * Events at or before this ring position are never paired: they may have been published already
   * (a round that failed after some of its records were sent, or a predecessor collector that died
   * between sending and releasing the ring), and dropping a published allocation with its later
   * free would leave the allocation outstanding downstream for ever. They pass through; the
   * streams-app drops the ones it already applied by their sequence.
   */
  private long pairFrom = -1;

  /**
   * @param graceNs how long an event waits for its partner (0: no pairing, events pass through)
   * @param pairsDropped counts the pairs dropped (the collector's, over all its processes)
   */
  public ShortLivedPairs(long graceNs, LongAdder pairsDropped) {
    this.graceNs = graceNs;
    this.pairsDropped = pairsDropped;
  }

  /**
   * The next event of the ring is a heap free at {@code address}: if it ends a held allocation,
   * both are dropped and true is returned (the free need not be built at all: in an exact-mode
   * flood most frees end here). Otherwise nothing changes and the caller {@link #add}s it.
   */
  public boolean dropsFree(long seq, long address) {
    if (graceNs <= 0 || seq <= pairFrom) return false;
    Held alloc = allocations.remove(key(address));
    if (alloc == null) return false;
    alloc.dropped = true;
    pairsDropped.increment();
    return true;
  }

  /** Takes the next event of the ring, in ring order. */
  public void add(AllocationEvent ev, long nowNs) {
    boolean pairable = graceNs > 0 && ev.getKind() == AllocationKind.HEAP && ev.getSeq() > pairFrom;
    if (pairable && ev.getType() == EventType.FREE && dropsFree(ev.getSeq(), ev.getAddress()))
      return;
    Held h = new Held(ev, nowNs);
    queue.addLast(h);
    if (pairable && ev.getType() == EventType.ALLOC) {
      // An allocation at an address whose held allocation had no free: that free was lost (a full
      // ring). Both go out as they are, so the streams-app retires the old block when it sees the
      // new one (a "replaced" allocation); pairing the new one would hide that.
      Long key = key(ev.getAddress());
      if (allocations.put(key, h) != null) allocations.remove(key); // one map operation when new
    }
  }

  /** From now on, events up to {@code seq} pass through unpaired (see {@link #pairFrom}). */
  public void neverPairUpTo(long seq) {
    pairFrom = Math.max(pairFrom, seq);
  }

  /**
   * Moves the events held since before {@code nowNs - grace} to {@code out}, oldest first, once the
   * oldest has waited half a grace more: a process's events then leave in records of about half a
   * grace's worth instead of one small record per poll (the streams-app's cost is per record as
   * much as per event), for at most half a grace more before they are visible.
   */
  public void releaseDue(long nowNs, List<AllocationEvent> out) {
    long oldest = oldestHeldReceivedNs();
    if (oldest == Long.MAX_VALUE || oldest > nowNs - graceNs - graceNs / 2) return;
    release(nowNs - graceNs, out);
  }

  private long oldestHeldReceivedNs() {
    while (!queue.isEmpty() && queue.peekFirst().dropped) queue.pollFirst();
    return queue.isEmpty() ? Long.MAX_VALUE : queue.peekFirst().receivedNs;
  }

  /** Moves every held event to {@code out} (a resync ends, the process exits, the ring fills). */
  public void releaseAll(List<AllocationEvent> out) {
    release(Long.MAX_VALUE, out);
  }

  private void release(long receivedBefore, List<AllocationEvent> out) {
    while (!queue.isEmpty()) {
      Held h = queue.peekFirst();
      if (!h.dropped && h.receivedNs > receivedBefore) break;
      queue.pollFirst();
      if (h.dropped) continue;
      allocations.remove(key(h.event.getAddress()), h); // Held has identity equality
      out.add(h.event);
    }
  }

  /** The ring position of the oldest event still held, or -1 when none is. */
  long oldestHeldSeq() {
    while (!queue.isEmpty() && queue.peekFirst().dropped) queue.pollFirst();
    return queue.isEmpty() ? -1 : queue.peekFirst().event.getSeq();
  }

  boolean isEmpty() {
    return oldestHeldSeq() < 0;
  }

  /** Forgets everything held: the ring is read again from the oldest held event. */
  void clear() {
    queue.clear();
    allocations.clear();
  }
}
