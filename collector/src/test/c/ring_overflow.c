/*
 * ring_overflow: overflows a small ring on purpose. Two threads burst through malloc/free (most of
 * it dropped by a 64 KiB ring with fine sampling), leaking one 64 KiB block every 500 iterations;
 * then the program pauses so the collector drains the ring, and carries on with a few allocations,
 * which lets the shim publish its resync. Leaked in total: 2 * iterations / 500 blocks of 65536 bytes.
 *
 * usage: ring_overflow [iterations-per-thread] [pause-ms]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long iterations = 20000;
static volatile uintptr_t sink;

__attribute__((noinline)) static void leak_one(void) {
  char *p = malloc(65536);
  memset(p, 1, 64);
  sink += (uintptr_t)p;
}

static void *burst(void *arg) {
  uint64_t s = 88172645463325252ull * (uint64_t)(uintptr_t)arg;
  void *slots[32] = {0};
  for (long i = 0; i < iterations; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    unsigned slot = (unsigned)(s >> 40) & 31;
    free(slots[slot]);
    slots[slot] = malloc(16 + s % 2033);
    if (i % 500 == 499) leak_one();
  }
  for (int i = 0; i < 32; i++) free(slots[i]);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) iterations = atol(argv[1]);
  long pause_ms = argc > 2 ? atol(argv[2]) : 1500;
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, burst, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  usleep((useconds_t)pause_ms * 1000); /* the collector catches up */
  /* Paced, so this phase itself never overflows: its first record triggers the resync, and the
   * resync has the last word. */
  for (int i = 0; i < 200; i++) {
    free(malloc(64 + (size_t)i % 512));
    usleep(500);
  }
  printf("ring_overflow: leaked %ld blocks of 65536 bytes\n", 2 * (iterations / 500));
  return 0;
}
