package io.leakwatch.collector;

import com.carrotsearch.hppc.LongObjectHashMap;
import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.AllocationKind;
import io.leakwatch.schemas.EventType;
import java.util.List;
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
  /**
   * One held event, linked to the events held before and after it (ring order): a pair's allocation
   * leaves the chain the moment its free arrives, wherever it is, so releasing walks only what
   * outlived its partner (in a flood, walking the dropped ones was a fifth of the drain's time:
   * {@code bench drain} 2.34-2.44x the ring reader alone with a queue walked over them, 2.04x so).
   */
  private static final class Held {
    final AllocationEvent event;
    final long receivedNs;
    Held prev, next;

    Held(AllocationEvent event, long receivedNs) {
      this.event = event;
      this.receivedNs = receivedNs;
    }
  }

  private final long graceNs;

  /** The oldest and the newest event held. */
  private Held head, tail;

  /**
   * Held heap allocations by address (the latest at that address). A primitive-keyed map: with
   * {@code HashMap<Long, Held>} boxing and node churn were a quarter of the drain's time in an
   * exact-mode flood (a JFR profile of {@code run --exact}, 3M pairs), where every event passes
   * through here. HPPC mixes the key bits itself (heap addresses are 16-byte aligned and clustered,
   * which {@code Long.hashCode} once turned into a sixteenth of the buckets). At most half full,
   * and 512 slots from the start (6 KiB a process): grown from HPPC's default of 4 at its default
   * load of 0.75, a flood's few dozen held blocks sat in long runs of slots that every removal
   * shifts back ({@code bench drain}: the drain at 2.75-2.84x the ring reader alone, 2.34-2.44x
   * with this map).
   */
  private final LongObjectHashMap<Held> allocations = new LongObjectHashMap<>(256, 0.5);

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
    Held alloc = allocations.remove(address);
    if (alloc == null) return false;
    unlink(alloc);
    pairsDropped.increment();
    return true;
  }

  /** Takes the next event of the ring, in ring order. */
  public void add(AllocationEvent ev, long nowNs) {
    boolean pairable = graceNs > 0 && ev.getKind() == AllocationKind.HEAP && ev.getSeq() > pairFrom;
    if (pairable && ev.getType() == EventType.FREE && dropsFree(ev.getSeq(), ev.getAddress()))
      return;
    Held h = new Held(ev, nowNs);
    if (tail == null) {
      head = h;
    } else {
      tail.next = h;
      h.prev = tail;
    }
    tail = h;
    if (pairable && ev.getType() == EventType.ALLOC) {
      // An allocation at an address whose held allocation had no free: that free was lost (a full
      // ring). Both go out as they are, so the streams-app retires the old block when it sees the
      // new one (a "replaced" allocation); pairing the new one would hide that.
      long address = ev.getAddress(); // one map operation when the address is new:
      if (allocations.put(address, h) != null) allocations.remove(address);
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
    return head == null ? Long.MAX_VALUE : head.receivedNs;
  }

  /** Moves every held event to {@code out} (a resync ends, the process exits, the ring fills). */
  public void releaseAll(List<AllocationEvent> out) {
    release(Long.MAX_VALUE, out);
  }

  private void release(long receivedBefore, List<AllocationEvent> out) {
    while (head != null && head.receivedNs <= receivedBefore) {
      Held h = head;
      unlink(h);
      removeIfHeld(h);
      out.add(h.event);
    }
  }

  private void unlink(Held h) {
    if (h.prev == null) head = h.next;
    else h.prev.next = h.next;
    if (h.next == null) tail = h.prev;
    else h.next.prev = h.prev;
    h.prev = h.next = null;
  }

  /** Forgets {@code h}'s address unless a later allocation at it took its place. */
  private void removeIfHeld(Held h) {
    if (h.event.getType() != EventType.ALLOC) return;
    long address = h.event.getAddress();
    int slot = allocations.indexOf(address);
    if (allocations.indexExists(slot) && allocations.indexGet(slot) == h)
      allocations.indexRemove(slot);
  }

  /** The ring position of the oldest event still held, or -1 when none is. */
  long oldestHeldSeq() {
    return head == null ? -1 : head.event.getSeq();
  }

  boolean isEmpty() {
    return head == null;
  }

  /** Forgets everything held: the ring is read again from the oldest held event. */
  void clear() {
    head = tail = null;
    allocations.clear();
  }
}
