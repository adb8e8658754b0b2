package io.leakwatch.streams.stores;

import static org.assertj.core.api.Assertions.assertThat;

import io.leakwatch.schemas.StackDefinition;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class StackNamesTest {
  private static StackDefinition def(String id, String allocator, String culprit) {
    return StackDefinition.newBuilder()
        .setId(id)
        .setAllocator(allocator)
        .setCulprit(culprit)
        .setFrames(List.of())
        .build();
  }

  @Test
  void aDefinitionIsReadOnceThenAgainAfterItChanged() {
    Map<String, StackDefinition> store = new ConcurrentHashMap<>();
    AtomicInteger reads = new AtomicInteger();
    StackNames names = new StackNames();
    store.put("a", def("a", "libz.so.1", "libz.so.1+0x10"));
    for (int i = 0; i < 3; i++)
      assertThat(
              names.get(
                  "a",
                  id -> {
                    reads.incrementAndGet();
                    return store.get(id);
                  }))
          .isEqualTo(new StackNames.Names("libz.so.1", "libz.so.1+0x10"));
    assertThat(reads).hasValue(1);

    store.put("a", def("a", "libz.so.1", "libz.so.1!inflateInit2_+0x2c")); // debug info came
    names.changed("a");
    assertThat(names.get("a", store::get).culprit()).isEqualTo("libz.so.1!inflateInit2_+0x2c");
  }

  @Test
  void aStackWithoutADefinitionIsNotKept() {
    Map<String, StackDefinition> store = new ConcurrentHashMap<>();
    StackNames names = new StackNames();
    assertThat(names.get("b", store::get)).isNull();
    store.put("b", def("b", "app", "app!f"));
    assertThat(names.get("b", store::get).allocator()).isEqualTo("app");
  }

  /**
   * The race that matters: a reader has read the old definition when the updater writes the new one
   * and says so. What the reader read must not stay.
   */
  @Test
  void aDefinitionReplacedWhileItWasBeingReadIsNotKept() throws Exception {
    Map<String, StackDefinition> store = new ConcurrentHashMap<>();
    store.put("c", def("c", "app", "app+0x10"));
    StackNames names = new StackNames();
    CountDownLatch read = new CountDownLatch(1), replaced = new CountDownLatch(1);
    Thread reader =
        new Thread(
            () ->
                names.get(
                    "c",
                    id -> {
                      StackDefinition old = store.get(id);
                      read.countDown();
                      try {
                        // the updater writes now; its changed() must wait for this read
                        replaced.await(200, TimeUnit.MILLISECONDS);
                      } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                      }
                      return old;
                    }));
    reader.start();
    assertThat(read.await(10, TimeUnit.SECONDS)).isTrue();
    Thread updater =
        new Thread(
            () -> {
              store.put("c", def("c", "app", "app!handler+0x10"));
              replaced.countDown();
              names.changed("c");
            });
    updater.start();
    reader.join(10_000);
    updater.join(10_000);
    assertThat(names.get("c", store::get).culprit()).isEqualTo("app!handler+0x10");
  }

  /**
   * Bounded, and not cleared on every pass when there are more stacks than it holds: it starts over
   * once, then looks the rest up uncached until a while has passed.
   */
  @Test
  void theCacheIsBoundedAndDoesNotThrash() {
    StackNames names = new StackNames();
    AtomicInteger reads = new AtomicInteger();
    for (int pass = 0; pass < 2; pass++) {
      for (int i = 0; i < StackNames.CAPACITY + 1_000; i++)
        names.get(
            Integer.toString(i),
            id -> {
              reads.incrementAndGet();
              return def(id, "m", "m+0x1");
            });
      assertThat(names.size()).isLessThanOrEqualTo(StackNames.CAPACITY);
    }
    // pass 1: every id read once, and the cache started over once (at CAPACITY); pass 2: the
    // 1,000 + the ones dropped by that start-over are read again, the rest hit
    assertThat(names.size()).isEqualTo(StackNames.CAPACITY);
    assertThat(reads.get()).isLessThan(2 * (StackNames.CAPACITY + 1_000));
  }
}
