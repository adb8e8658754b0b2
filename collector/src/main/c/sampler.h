/*
 * sampler: Poisson byte sampling. Every allocated byte is a candidate sample point with
 * probability 1/R (R = LEAKWATCH_SAMPLE_BYTES); an allocation is recorded when it contains at
 * least one sample point, which happens with probability p = 1 - e^(-s/R). Recording it with the
 * weight s/p makes the sum of weights an unbiased estimate of the bytes allocated (and weight/s an
 * unbiased estimate of the allocation count).
 *
 * The countdown to the next sample point is thread-local and drawn from an exponential with mean
 * R; by memorylessness a fresh draw after each sample keeps the process Poisson. An unsampled
 * allocation costs one subtraction and one compare.
 */
#ifndef LEAKWATCH_SAMPLER_H
#define LEAKWATCH_SAMPLER_H

#include <stdint.h>

typedef struct {
  int64_t bytes_until_sample;
  uint64_t rng;
  int seeded;
} lw_sampler;

/* Returns 0 when the allocation is not recorded, else stores its weight (bytes it stands for). */
static inline int lw_sampler_should_record(lw_sampler *s, uint64_t sample_bytes, uint64_t size,
                                           double *weight);

double lw_sampler_weight(uint64_t size, uint64_t sample_bytes);
int64_t lw_sampler_next_interval(lw_sampler *s, uint64_t sample_bytes);

static inline int lw_sampler_should_record(lw_sampler *s, uint64_t sample_bytes, uint64_t size,
                                           double *weight) {
  if (sample_bytes == 0) {
    *weight = (double)size;
    return 1;
  }
  /* A size of 2^63 or more would turn negative and push the countdown back: such a request (it will
   * fail anyway) always contains a sample point. The countdown is in [0, 9e18] here, so subtracting
   * at most INT64_MAX cannot overflow. */
  s->bytes_until_sample -= size > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)size;
  if (__builtin_expect(s->bytes_until_sample > 0, 1)) return 0;
  if (__builtin_expect(!s->seeded, 0)) {
    /* A new thread's countdown is zero: draw its first interval instead of sampling this one. */
    s->bytes_until_sample = lw_sampler_next_interval(s, sample_bytes) - (size > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)size);
    if (s->bytes_until_sample > 0) return 0;
  }
  s->bytes_until_sample = lw_sampler_next_interval(s, sample_bytes);
  *weight = lw_sampler_weight(size, sample_bytes);
  return 1;
}

#endif
