#include "sampler.h"

#include <math.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int64_t lw_sampler_next_interval(lw_sampler *s, uint64_t sample_bytes) {
  if (!s->seeded) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s->rng = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
             ((uint64_t)syscall(SYS_gettid) * 0x9E3779B97F4A7C15ull) ^ (uint64_t)(uintptr_t)s;
    s->seeded = 1;
  }
  /* u in (0, 1]: 53 random bits, never zero, so log(u) is finite. */
  double u = ((double)(splitmix64(&s->rng) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  double interval = -log(u) * (double)sample_bytes;
  s->armed_for = sample_bytes;
  if (interval < 1.0) interval = 1.0;
  if (interval > 9.0e18) interval = 9.0e18;
  return (int64_t)interval;
}

double lw_sampler_weight(uint64_t size, uint64_t sample_bytes) {
  if (sample_bytes == 0 || size == 0) return (double)size;
  double p = -expm1(-(double)size / (double)sample_bytes);
  return (double)size / p;
}

int lw_sampler_reached(lw_sampler *s, uint64_t sample_bytes, uint64_t size, double *weight) {
  int64_t clamped = size > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)size;
  if (__builtin_expect(!s->seeded || s->armed_for != sample_bytes, 0)) {
    /* A new thread's countdown is zero, or it was drawn for another R: a fresh interval decides this
     * allocation (P = 1 - e^(-size/R) either way). It is in [1, 9e18] after the draw, so subtracting
     * at most INT64_MAX cannot overflow. */
    s->bytes_until_sample = lw_sampler_next_interval(s, sample_bytes) - clamped;
    if (s->bytes_until_sample > 0) return 0;
  }
  s->bytes_until_sample = lw_sampler_next_interval(s, sample_bytes);
  *weight = lw_sampler_weight(size, sample_bytes);
  return 1;
}

void lw_sampler_rearm(lw_sampler *s, uint64_t sample_bytes) {
  s->bytes_until_sample = lw_sampler_next_interval(s, sample_bytes);
}
