/* thread_stack_test: the /proc/self/maps scanner on real, crafted and random text, fed in chunks of
 * every size; and the kernel's answer (PROCMAP_QUERY or the scan) for this thread's stack. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "thread_stack.h"

static int scan_in_chunks(const char *text, size_t n, size_t chunk, uintptr_t want, uintptr_t *lo, uintptr_t *hi) {
  struct lw_maps_scan s;
  lw_maps_scan_init(&s, want);
  for (size_t i = 0; i < n; i += chunk)
    if (lw_maps_scan_feed(&s, text + i, n - i < chunk ? n - i : chunk)) break;
  *lo = s.lo;
  *hi = s.hi;
  return s.found;
}

static void crafted(void) {
  const char *text =
      "1000-2000 r-xp 00000000 08:01 1 /bin/x\n"
      "2000-3000 ---p 00000000 00:00 0\n"                      /* unreadable: never a stack */
      "3000-4000 rw-p 00000000 00:00 0 [stack]\n"
      "10000000000000000-10000000000000001 rw-p 0 0 0\n"    /* 17 digits: skipped */
      "5000 6000 rw-p\n"                                      /* no dash: skipped */
      "7000-6000 rw-p 0 0 0\n"                                /* start after end: skipped */
      "8000-9000 rw-p"                                        /* no newline at the end: not seen */;
  size_t n = strlen(text);
  for (size_t chunk = 1; chunk <= n; chunk++) {
    uintptr_t lo, hi;
    CHECK(scan_in_chunks(text, n, chunk, 0x1800, &lo, &hi) && lo == 0x1000 && hi == 0x2000);
    CHECK(!scan_in_chunks(text, n, chunk, 0x2800, &lo, &hi));
    CHECK(scan_in_chunks(text, n, chunk, 0x3fff, &lo, &hi) && lo == 0x3000 && hi == 0x4000);
    CHECK(!scan_in_chunks(text, n, chunk, 0x4000, &lo, &hi));
    CHECK(!scan_in_chunks(text, n, chunk, 0x5800, &lo, &hi));
    CHECK(!scan_in_chunks(text, n, chunk, 0x6800, &lo, &hi));
    CHECK(!scan_in_chunks(text, n, chunk, 0x8800, &lo, &hi));
  }
}

/* Random bytes and mutated real text: no crash, and any answer holds the address asked about. */
static void fuzz(const char *real, size_t real_n) {
  static char buf[1 << 16];
  srand(42);
  for (int round = 0; round < 20000; round++) {
    size_t n = (size_t)(rand() % (int)sizeof buf);
    if (round % 2 && real_n) {
      n = real_n < sizeof buf ? real_n : sizeof buf;
      memcpy(buf, real, n);
      for (int k = 0; k < 8; k++) buf[rand() % (int)n] = (char)(rand() % 256);
    } else {
      for (size_t i = 0; i < n; i++) buf[i] = "0123456789abcdef- \nrwxp"[rand() % 23];
    }
    uintptr_t want = (uintptr_t)rand() << (rand() % 32), lo, hi;
    if (scan_in_chunks(buf, n, 1 + (size_t)(rand() % 700), want, &lo, &hi)) CHECK(lo <= want && want < hi);
  }
}

int main(void) {
  crafted();
  static char real[1 << 20];
  FILE *f = fopen("/proc/self/maps", "r");
  CHECK(f != NULL);
  size_t real_n = fread(real, 1, sizeof real, f);
  fclose(f);
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0), lo, hi, slo, shi;
  CHECK(lw_thread_stack_mapping(sp, &lo, &hi) && lo <= sp && sp < hi);
  CHECK(scan_in_chunks(real, real_n, 512, sp, &slo, &shi) && slo == lo && shi == hi);
  CHECK(!lw_thread_stack_mapping(8, &lo, &hi)); /* the zero page: no mapping */
  fuzz(real, real_n);
  printf("thread_stack_test: scanner on crafted, real and random maps text, kernel query: ok\n");
  return 0;
}
