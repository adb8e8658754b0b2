#include "unwinding.h"

#include <execinfo.h>

static uintptr_t self_lo, self_hi;

void lw_unwind_init(uintptr_t lo, uintptr_t hi) {
  self_lo = lo;
  self_hi = hi;
  void *warm[4];
  backtrace(warm, 4); /* dlopen()s libgcc_s and lets it allocate now, not later */
}

int lw_unwind(uint64_t *frames, int max_frames, int *truncated) {
  void *raw[LW_MAX_FRAMES + 8];
  int want = max_frames + 8;
  if (want > LW_MAX_FRAMES + 8) want = LW_MAX_FRAMES + 8;
  int n = backtrace(raw, want);
  int out = 0, i = 0;
  while (i < n && (uintptr_t)raw[i] >= self_lo && (uintptr_t)raw[i] < self_hi) i++;
  for (; i < n && out < max_frames; i++) frames[out++] = (uint64_t)(uintptr_t)raw[i];
  *truncated = (i < n) || (n == want);
  return out;
}
