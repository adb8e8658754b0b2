/*
 * lifetimes: blocks freed just before, around and after the collector's grace period for
 * short-lived pairs (1 s by default), and some never freed. Whatever the collector drops as pairs,
 * the exit report must count exactly the blocks never freed: 200 blocks of 1,000 to 1,006 bytes.
 *
 * usage: lifetimes
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N 200

static volatile unsigned long sink;

__attribute__((noinline)) static void *make(size_t size) {
  char *p = malloc(size);
  memset(p, 7, size);
  sink += (unsigned long)(uintptr_t)p;
  return p;
}

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&t, NULL);
}

int main(void) {
  static void *blocks[6][N];
  unsigned long kept = 0;
  for (int g = 0; g < 6; g++)
    for (int i = 0; i < N; i++) blocks[g][i] = make(1000 + (size_t)(i % 7));
  /* Freed at about 0.5 s, 0.9 s, 1.0 s, 1.1 s and 2 s after they were made: before, around and after a 1 s grace. */
  long at[5] = {500, 900, 1000, 1100, 2000};
  long elapsed = 0;
  for (int g = 0; g < 5; g++) {
    sleep_ms(at[g] - elapsed);
    elapsed = at[g];
    for (int i = 0; i < N; i++) free(blocks[g][i]);
  }
  for (int i = 0; i < N; i++) kept += 1000 + (unsigned long)(i % 7);
  printf("lifetimes: leaked %d blocks, %lu bytes\n", N, kept);
  return 0;
}
