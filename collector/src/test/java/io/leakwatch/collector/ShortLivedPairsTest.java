package io.leakwatch.collector;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.schemas.AllocationEvent;
import io.leakwatch.schemas.AllocationKind;
import io.leakwatch.schemas.EventType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;

class ShortLivedPairsTest {
  private static final long MS = 1_000_000L;
  private long seq;

  private AllocationEvent ev(EventType type, long address, long size, AllocationKind kind) {
    seq += 64;
    return AllocationEvent.newBuilder()
        .setSeq(seq)
        .setType(type)
        .setKind(kind)
        .setAddress(address)
        .setSize(size)
        .setWeight(type == EventType.ALLOC ? size : 0)
        .setTimestampNs(0)
        .setStackId(7)
        .build();
  }

  private AllocationEvent alloc(long address, long size) {
    return ev(EventType.ALLOC, address, size, AllocationKind.HEAP);
  }

  private AllocationEvent free(long address) {
    return ev(EventType.FREE, address, 0, AllocationKind.HEAP);
  }

  /** The drain asks before it builds a free's event: the answer must be what add would do. */
  @Test
  void aFreeAskedAboutBeforeItIsBuiltDropsOnlyAHeldAllocationAfterPairFrom() {
    LongAdder dropped = new LongAdder();
    ShortLivedPairs p = new ShortLivedPairs(1000 * MS, dropped);
    AllocationEvent a = alloc(0x10, 100), b = alloc(0x20, 200);
    p.add(a, 0);
    p.add(b, 0);
    assertThat(p.dropsFree(seq + 64, 0x30)).as("nothing held there").isFalse();
    assertThat(p.dropsFree(seq + 64, 0x10)).isTrue();
    assertThat(p.dropsFree(seq + 64, 0x10)).as("already dropped").isFalse();
    p.neverPairUpTo(seq + 128);
    assertThat(p.dropsFree(seq + 64, 0x20)).as("at or before pairFrom").isFalse();
    assertThat(new ShortLivedPairs(0, dropped).dropsFree(1, 0x20)).as("no grace").isFalse();
    List<AllocationEvent> out = new ArrayList<>();
    p.releaseAll(out);
    assertThat(out).containsExactly(b);
    assertThat(dropped.sum()).isEqualTo(1);
  }

  @Test
  void aPairInsideTheGraceDiesAndTheRestLeavesInRingOrder() {
    LongAdder dropped = new LongAdder();
    ShortLivedPairs p = new ShortLivedPairs(1000 * MS, dropped);
    AllocationEvent a = alloc(0x10, 100),
        b = alloc(0x20, 200),
        fa = free(0x10),
        c = alloc(0x30, 300);
    p.add(a, 0);
    p.add(b, 100 * MS);
    p.add(fa, 500 * MS); // a dies with its free
    p.add(c, 900 * MS);
    List<AllocationEvent> out = new ArrayList<>();
    p.releaseDue(1650 * MS, out); // b (100 ms) waited a grace and a half: out with what is due
    assertThat(out).containsExactly(b); // c is younger than the grace, and holds nothing back
    assertThat(p.oldestHeldSeq()).isEqualTo(c.getSeq());
    AllocationEvent fb = free(0x20); // b was published: its free goes too
    p.add(fb, 1100 * MS);
    p.releaseDue(2200 * MS, out); // c (900 ms) has waited a grace but not a grace and a half
    assertThat(out).containsExactly(b);
    p.releaseDue(2500 * MS, out);
    assertThat(out).containsExactly(b, c, fb);
    assertThat(p.isEmpty()).isTrue();
    assertThat(p.oldestHeldSeq()).isEqualTo(-1);
    assertThat(dropped.sum()).isEqualTo(1);
  }

  @Test
  void anOldEventHoldsBackEveryLaterOne() {
    ShortLivedPairs p = new ShortLivedPairs(1000 * MS, new LongAdder());
    AllocationEvent a = alloc(0x10, 1), b = alloc(0x20, 2);
    p.add(a, 500 * MS);
    p.add(b, 0); // a clock that went backwards: still after a in ring order
    List<AllocationEvent> out = new ArrayList<>();
    p.releaseDue(1200 * MS, out);
    assertThat(out).isEmpty();
    p.releaseAll(out);
    assertThat(out).containsExactly(a, b);
  }

  @Test
  void mappingsFreesOfUnknownBlocksAndZeroGracePassThrough() {
    ShortLivedPairs p = new ShortLivedPairs(1000 * MS, new LongAdder());
    AllocationEvent m = ev(EventType.ALLOC, 0x1000, 8192, AllocationKind.MMAP);
    AllocationEvent um = ev(EventType.FREE, 0x1000, 4096, AllocationKind.MMAP);
    AllocationEvent stray = free(0x99);
    p.add(m, 0);
    p.add(um, 0);
    p.add(stray, 0);
    List<AllocationEvent> out = new ArrayList<>();
    p.releaseAll(out);
    assertThat(out).containsExactly(m, um, stray);
    ShortLivedPairs none = new ShortLivedPairs(0, new LongAdder());
    AllocationEvent a = alloc(0x10, 1), f = free(0x10);
    none.add(a, 0);
    none.add(f, 0);
    out.clear();
    none.releaseDue(0, out);
    assertThat(out).containsExactly(a, f);
  }

  /** An address reused: a free cancels the latest allocation there, and only it. */
  @Test
  void aReusedAddressPairsWithItsLatestAllocation() {
    ShortLivedPairs p = new ShortLivedPairs(1000 * MS, new LongAdder());
    AllocationEvent a1 = alloc(0x10, 10), f1 = free(0x10), a2 = alloc(0x10, 20);
    p.add(a1, 0);
    p.add(f1, 0);
    p.add(a2, 0);
    List<AllocationEvent> out = new ArrayList<>();
    p.releaseAll(out);
    assertThat(out).containsExactly(a2);
  }

  /**
   * Read again after a failed round (or by a successor collector): what may have been sent already
   * is never paired, so an allocation the streams-app has seen keeps its free.
   */
  @Test
  void eventsThatMayHaveBeenSentAreNeverPaired() {
    ShortLivedPairs p = new ShortLivedPairs(1000 * MS, new LongAdder());
    AllocationEvent a = alloc(0x10, 10), f = free(0x10), b = alloc(0x20, 20), fb = free(0x20);
    p.neverPairUpTo(f.getSeq());
    p.add(a, 0);
    p.add(f, 0);
    p.add(b, 0);
    p.add(fb, 0); // after the mark: pairs as usual
    List<AllocationEvent> out = new ArrayList<>();
    p.releaseAll(out);
    assertThat(out).containsExactly(a, f);
  }

  /**
   * A second allocation at an address whose held allocation had no free (it was lost in a full
   * ring): both go out, so downstream the new block retires the old one, and a later free is
   * published rather than paired.
   */
  @Test
  void anAllocationOverAHeldOneWithoutAFreeIsNotPaired() {
    ShortLivedPairs p = new ShortLivedPairs(1000 * MS, new LongAdder());
    AllocationEvent a1 = alloc(0x10, 10), a2 = alloc(0x10, 20), f = free(0x10);
    p.add(a1, 0);
    p.add(a2, 0);
    p.add(f, 0);
    List<AllocationEvent> out = new ArrayList<>();
    p.releaseAll(out);
    assertThat(out).containsExactly(a1, a2, f);
  }

  /**
   * Random allocations and frees with random arrival times: whatever is dropped, the outstanding
   * bytes of what is published equal those of all events, after any release and at the end.
   */
  @Test
  void randomLifetimesKeepTotalsExact() {
    Random rnd = new Random(3);
    for (int round = 0; round < 200; round++) {
      seq = 0;
      ShortLivedPairs p = new ShortLivedPairs(rnd.nextInt(50) * MS, new LongAdder());
      Map<Long, Long> truth = new HashMap<>();
      Map<Long, Long> published = new HashMap<>();
      List<AllocationEvent> out = new ArrayList<>();
      long now = 0;
      for (int i = 0; i < 2000; i++) {
        now += rnd.nextInt(3) * MS;
        long address = 16L * rnd.nextInt(64);
        AllocationEvent e;
        if (truth.containsKey(address) && rnd.nextBoolean()) {
          e = free(address);
          truth.remove(address);
        } else {
          if (truth.containsKey(address)) p.add(free(address), now); // freed before reuse
          e = alloc(address, 1 + rnd.nextInt(100));
          truth.put(address, e.getSize());
        }
        p.add(e, now);
        if (rnd.nextInt(10) == 0) {
          out.clear();
          p.releaseDue(now, out);
          apply(published, out);
        }
      }
      out.clear();
      p.releaseAll(out);
      apply(published, out);
      assertThat(published).isEqualTo(truth);
    }
  }

  private static void apply(Map<Long, Long> live, List<AllocationEvent> events) {
    long last = -1;
    for (AllocationEvent e : events) {
      assertThat(e.getSeq()).as("ring order").isGreaterThan(last);
      last = e.getSeq();
      if (e.getType() == EventType.ALLOC) live.put(e.getAddress(), e.getSize());
      else live.remove(e.getAddress());
    }
  }
}
