/* many_stacks: leaks one block from each of N distinct call stacks (N <= 2^17), for the tests of
 * records whose size grows with the number of stacks (a process exiting with 100,000 live stacks).
 * Stack i descends 17 levels, taking left() or right() by the bits of i: distinct return addresses.
 * usage: many-stacks N SIZE   (prints "stacks=N bytes=B") */
#include <stdio.h>
#include <stdlib.h>

#define LEVELS 17

static void *volatile sink;
static void **kept;
static long kept_n;

__attribute__((noinline)) static void descend(int level, unsigned path);

__attribute__((noinline)) static void left(int level, unsigned path) {
  descend(level, path);
  __asm__ volatile("" ::: "memory"); /* no tail call: this frame stays on the stack */
}

__attribute__((noinline)) static void right(int level, unsigned path) {
  descend(level, path);
  __asm__ volatile("" ::: "memory");
}

static size_t block_size;

__attribute__((noinline)) static void descend(int level, unsigned path) {
  if (level == LEVELS) {
    kept[kept_n++] = malloc(block_size);
    sink = kept[kept_n - 1];
    return;
  }
  if (path >> level & 1) right(level + 1, path);
  else left(level + 1, path);
  __asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 100000;
  block_size = argc > 2 ? (size_t)atol(argv[2]) : 32;
  if (n < 0 || n > (1L << LEVELS) || block_size == 0) {
    fprintf(stderr, "usage: many-stacks N SIZE   (N <= %ld)\n", 1L << LEVELS);
    return 2;
  }
  kept = malloc(sizeof(void *) * (size_t)(n ? n : 1));
  for (long i = 0; i < n; i++) descend(0, (unsigned)i);
  printf("stacks=%ld bytes=%ld\n", n, n * (long)block_size);
  return 0; /* the blocks stay allocated: every one is live at exit */
}
