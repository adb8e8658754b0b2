/* sampler_test: the weights make byte and count estimates unbiased. 2 million allocations of
 * mixed sizes; the estimate must be within 4 standard deviations of the truth. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "sampler.h"

/* xorshift64: the test's sizes, the same sequence every run. */
static uint64_t next_random(uint64_t *x) {
  *x ^= *x << 13;
  *x ^= *x >> 7;
  *x ^= *x << 17;
  return *x;
}

int main(void) {
  const uint64_t R = 65536;
  lw_sampler s = {0}; /* as a new thread starts: unseeded, countdown zero */
  double true_bytes = 0, est_bytes = 0, var = 0, est_count = 0;
  long n = 2000000, recorded = 0;
  uint64_t x = 88172645463325252ull;
  for (long i = 0; i < n; i++) {
    next_random(&x);
    uint64_t size = (i % 1000 == 0) ? 1 + x % 1000000 : 16 + x % 4096;
    true_bytes += (double)size;
    double p = -expm1(-(double)size / (double)R);
    var += (double)size * (double)size * (1 - p) / p;
    double w;
    if (lw_sampler_should_record(&s, R, size, &w)) {
      est_bytes += w;
      est_count += w / (double)size;
      recorded++;
    }
  }
  double sd = sqrt(var);
  double z = (est_bytes - true_bytes) / sd;
  printf("sampler_test: true %.0f bytes, estimate %.0f (z=%.2f), count %.0f of %ld, %ld recorded\n",
         true_bytes, est_bytes, z, est_count, n, recorded);
  if (fabs(z) > 4) return 1;
  if (fabs(est_count - (double)n) / (double)n > 0.1) return 1;
  double w;
  if (!lw_sampler_should_record(&s, 0, 123, &w) || w != 123.0) return 1; /* exact mode */
  /* Sizes of 2^63 and more (requests that will fail) are sampled, not turned into a negative size
   * that pushes the countdown back; the countdown stays sane for the next allocation. */
  for (int i = 0; i < 100; i++) {
    if (!lw_sampler_should_record(&s, R, UINT64_MAX - (uint64_t)i, &w) || !(w > 9e18)) {
      fprintf(stderr, "sampler_test: a 2^64-%d byte request was not sampled\n", i);
      return 1;
    }
    if (s.bytes_until_sample < 0) return 1;
  }
  /* A new thread's first small allocation is sampled with probability ~size/R, not always. */
  int first_sampled = 0;
  for (int t = 0; t < 10000; t++) {
    lw_sampler fresh = {0};
    first_sampled += lw_sampler_should_record(&fresh, R, 64, &w);
  }
  printf("sampler_test: first allocation of a new thread sampled %d of 10000 times (expect ~10)\n", first_sampled);
  if (first_sampled > 40) return 1;
  /* The shim's own path: the countdown is also spent on allocations that are never recorded (made
   * inside the shim, or while dormant) and a sample point reached there is only re-armed. The other
   * allocations' estimate must stay unbiased: the countdown is memoryless. */
  {
    lw_sampler mixed = {0};
    double app_bytes = 0, app_est = 0, app_var = 0;
    for (long i = 0; i < n; i++) {
      next_random(&x);
      uint64_t size = 16 + x % 8192;
      int internal = (x >> 40) % 3 == 0; /* a third of the allocations are not the program's */
      if (lw_sampler_skip(&mixed, size)) {
        if (!internal) app_bytes += (double)size;
      } else if (internal) {
        lw_sampler_rearm(&mixed, R);
      } else {
        app_bytes += (double)size;
        if (lw_sampler_reached(&mixed, R, size, &w)) app_est += w;
      }
      if (!internal) {
        double p = -expm1(-(double)size / (double)R);
        app_var += (double)size * (double)size * (1 - p) / p;
      }
      if (mixed.bytes_until_sample < 0) {
        fprintf(stderr, "sampler_test: the countdown was left spent after allocation %ld\n", i);
        return 1;
      }
    }
    double zm = (app_est - app_bytes) / sqrt(app_var);
    printf("sampler_test: with a third of allocations never recorded: program's bytes %.0f, estimate %.0f (z=%.2f)\n",
           app_bytes, app_est, zm);
    if (fabs(zm) > 4) return 1;
  }
  /* A countdown drawn for another R (armed before the settings were read, or by an earlier attach
   * with other settings) does not decide an allocation under the new R: drawn for 64 bytes, it would
   * sample nearly every 128-byte block; under R = 2^40 about none may be. */
  int stale_sampled = 0;
  for (int t = 0; t < 10000; t++) {
    lw_sampler stale = {0};
    lw_sampler_rearm(&stale, 64);
    stale_sampled += lw_sampler_should_record(&stale, (uint64_t)1 << 40, 128, &w);
  }
  printf("sampler_test: countdowns drawn for R=64 sampled %d of 10000 blocks under R=2^40 (expect 0)\n", stale_sampled);
  if (stale_sampled > 2) return 1;
  /* Unbiased at a tiny R too, where one byte of the interval matters: 1- to 8-byte allocations at
   * R = 4. Each byte is a sample point with probability 1 - e^(-1/4); a countdown raised to at least
   * one byte (as before) overestimated this stream's bytes by 7.5%. */
  {
    lw_sampler tiny = {0};
    double tb = 0, te = 0, tv = 0;
    for (long i = 0; i < n; i++) {
      next_random(&x);
      uint64_t size = 1 + x % 8;
      tb += (double)size;
      double p = -expm1(-(double)size / 4.0);
      tv += (double)size * (double)size * (1 - p) / p;
      if (lw_sampler_should_record(&tiny, 4, size, &w)) te += w;
    }
    double zt = (te - tb) / sqrt(tv);
    printf("sampler_test: R=4, 1-8 byte blocks: true %.0f bytes, estimate %.0f (z=%.2f)\n", tb, te, zt);
    if (fabs(zt) > 4) return 1;
  }
  /* The sampler's own ln and expm1 (no libm in the shim) against libm's: every u the interval draw
   * can produce spans 53 binary orders of magnitude, and the weight's argument -size/R spans from
   * 1/2^40 to far beyond -745. */
  double worst_ln = 0, worst_expm1 = 0;
  uint64_t r = 0x2545F4914F6CDD1Dull;
  for (long i = 0; i < 2000000; i++) {
    r ^= r << 13;
    r ^= r >> 7;
    r ^= r << 17;
    double u = ((double)(r >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    if (i % 4 == 1) u = ldexp(u, -(int)(r % 1100)); /* subnormals and tiny values too */
    double want = log(u), got = lw_sampler_ln(u);
    double err = want == 0 ? fabs(got) : fabs(got - want) / fabs(want);
    if (!(err <= worst_ln)) worst_ln = err; /* a NaN is kept, and fails below */
    double x = -u * ldexp(1.0, (int)(r % 64) - 40); /* -2^-40 .. -2^23 (tiny u: down to -0) */
    double we = expm1(x), ge = lw_sampler_expm1(x);
    err = we == 0 ? fabs(ge) : fabs(ge - we) / fabs(we);
    if (!(err <= worst_expm1)) worst_expm1 = err;
  }
  double edge[] = {1.0, 0.5, 0.7071067811865476, 0.7071067811865475, 0.9999999999999999,
                   1.0 / 9007199254740992.0, 4.9e-324, 2.2250738585072014e-308};
  for (unsigned i = 0; i < sizeof edge / sizeof edge[0]; i++) {
    double want = log(edge[i]), got = lw_sampler_ln(edge[i]);
    double err = want == 0 ? fabs(got) : fabs(got - want) / fabs(want);
    if (!(err <= worst_ln)) worst_ln = err;
  }
  double xs[] = {0.0, -0.0, -1e-300, -0.34657359027997264, -0.3465735902799726, -1.0, -700.0,
                 -745.1, -1e300};
  for (unsigned i = 0; i < sizeof xs / sizeof xs[0]; i++) {
    double we = expm1(xs[i]), ge = lw_sampler_expm1(xs[i]);
    double err = we == 0 ? fabs(ge) : fabs(ge - we) / fabs(we);
    if (!(err <= worst_expm1)) worst_expm1 = err;
  }
  printf("sampler_test: ln and expm1 without libm: worst relative error %.2g and %.2g against libm's\n",
         worst_ln, worst_expm1);
  if (!(worst_ln < 1e-13) || !(worst_expm1 < 1e-13)) return 1;
  puts("sampler_test: ok");
  return 0;
}
