/* live_set_test: concurrent insert/remove from 4 threads on disjoint addresses; every inserted
 * address is found exactly once, absent ones never, and clear() forgets everything. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../live_set.h"

#define CHECK(c)                                                            \
  do {                                                                      \
    if (!(c)) {                                                             \
      fprintf(stderr, "live_set_test: %s:%d: %s\n", __FILE__, __LINE__, #c); \
      exit(1);                                                              \
    }                                                                       \
  } while (0)

static void count_entry(uintptr_t addr, uint64_t size, void *arg) {
  CHECK(addr == 0x1000 && size == 7);
  ++*(long *)arg;
}

static void *worker(void *arg) {
  uintptr_t base = (uintptr_t)arg << 40;
  for (int round = 0; round < 50; round++) {
    for (uintptr_t i = 0; i < 5000; i++) CHECK(lw_live_set_insert(base + i * 16 + 16, i) == 0);
    for (uintptr_t i = 0; i < 5000; i++) CHECK(lw_live_set_remove(base + i * 16 + 16) == 1);
    for (uintptr_t i = 0; i < 5000; i++) CHECK(lw_live_set_remove(base + i * 16 + 16) == 0);
  }
  return NULL;
}

int main(void) {
  CHECK(lw_live_set_init(20) == 0);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  CHECK(lw_live_set_insert(0x1000, 7) == 0);
  long seen = 0;
  lw_live_set_for_each(count_entry, &seen);
  CHECK(seen == 1);
  lw_live_set_clear();
  CHECK(lw_live_set_remove(0x1000) == 0);
  CHECK(lw_live_set_remove(0) == 0);
  puts("live_set_test: ok");
  return 0;
}
