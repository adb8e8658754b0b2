/*
 * sampler: Poisson byte sampling. Every allocated byte is a candidate sample point with
 * probability 1/R (R = LEAKWATCH_SAMPLE_BYTES); an allocation is recorded when it contains at
 * least one sample point, which happens with probability p = 1 - e^(-s/R). Recording it with the
 * weight s/p makes the sum of weights an unbiased estimate of the bytes allocated (and weight/s an
 * unbiased estimate of the allocation count).
 *
 * The countdown to the next sample point is thread-local and drawn from an exponential with mean
 * R; by memorylessness a fresh draw after each sample keeps the process Poisson. An unsampled
 * allocation costs one subtraction, whose borrow decides (lw_sampler_skip, inlined into the entry points);
 * everything else happens once per sample point (lw_sampler_reached).
 */
#ifndef LEAKWATCH_SAMPLER_H
#define LEAKWATCH_SAMPLER_H

#include <stdint.h>

typedef struct {
  int64_t bytes_until_sample;
  uint64_t rng;
  uint64_t armed_for; /* the R the countdown was drawn with: a countdown of another R is redrawn */
  int seeded;
} lw_sampler;

/* The fast half: takes size bytes off the countdown; 1 while no sample point was reached (then the
 * allocation is not recorded and nothing else needs doing). The countdown is the number of bytes
 * before the next sample point, so an allocation contains that point when its size exceeds the
 * countdown: the subtraction's borrow decides, with no compare before it (one instruction fewer in
 * malloc). The countdown is never negative: it starts at zero in a new thread (whose first non-empty
 * allocation reaches the slow half), is only stored when the subtraction did not borrow, and the slow
 * half replaces it with a fresh draw in [0, 9e18]. A size of 2^63 or more (a request that will fail)
 * always borrows. When this returns 0 the countdown is left as it was: the slow half draws a new one
 * without reading it. */
static inline int lw_sampler_skip(lw_sampler *s, uint64_t size) {
  uint64_t left;
  if (__builtin_expect(!__builtin_sub_overflow((uint64_t)s->bytes_until_sample, size, &left), 1)) {
    s->bytes_until_sample = (int64_t)left;
    return 1;
  }
  return 0;
}

/* The slow half, after lw_sampler_skip returned 0: re-arms the countdown and returns 1 with the
 * allocation's weight (bytes it stands for) when it is recorded. A new thread's countdown starts at
 * zero, and a countdown drawn for another R (one armed before the settings were read, or by an
 * earlier attach) would give the wrong weight: for both, a fresh interval is drawn and decides this
 * allocation instead. */
int lw_sampler_reached(lw_sampler *s, uint64_t sample_bytes, uint64_t size, double *weight);

/* A reached sample point that will not be recorded (recording off, dormant, re-entered): re-arm.
 * By memorylessness the next bytes' sampling is as if the skipped ones had never been counted. */
void lw_sampler_rearm(lw_sampler *s, uint64_t sample_bytes);

/* Both halves: 0 when the allocation is not recorded, else 1 with its weight. */
static inline int lw_sampler_should_record(lw_sampler *s, uint64_t sample_bytes, uint64_t size,
                                           double *weight) {
  if (sample_bytes == 0) {
    *weight = (double)size;
    return 1;
  }
  if (lw_sampler_skip(s, size)) return 0;
  return lw_sampler_reached(s, sample_bytes, size, weight);
}

double lw_sampler_weight(uint64_t size, uint64_t sample_bytes);

/* ln(x) for x > 0 and e^x - 1 for x <= 0, without libm (see sampler.c; exposed for its test). */
double lw_sampler_ln(double x);
double lw_sampler_expm1(double x);
int64_t lw_sampler_next_interval(lw_sampler *s, uint64_t sample_bytes);

#endif
