#include "sampler.h"

#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* ---- ln and expm1 without libm ------------------------------------------------------------------
 * The sampler needs only these two, and linking libm for them made every process that loads the
 * shim map one more library: about 0.1 ms of a /bin/true's start (measured: an empty preloaded
 * library linked with and without libm, 2,000 starts each), a fifth of what the shim cost a
 * short-lived process. Both are accurate to about 1e-15 relative over the arguments the sampler
 * passes (sampler_test compares them with libm's), far finer than a sampling interval needs. */

static const double LN2 = 0.6931471805599453094;

/* The natural logarithm of x > 0 (finite, normal or subnormal). */
double lw_sampler_ln(double x) {
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  int e = (int)((bits >> 52) & 0x7ff);
  if (e == 0) { /* subnormal: scale into the normal range first */
    x *= 18014398509481984.0; /* 2^54 */
    memcpy(&bits, &x, sizeof bits);
    e = (int)((bits >> 52) & 0x7ff) - 54;
  }
  e -= 1023;
  /* m in [1, 2), then moved to [sqrt(1/2), sqrt(2)) so that s below stays within +-0.172 */
  bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
  double m;
  memcpy(&m, &bits, sizeof m);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e++;
  }
  /* ln(m) = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + ...), s = (m - 1) / (m + 1); |s| <= 0.172, so the
   * terms after s^21/21 are below 1e-17 of the sum. Horner's form with the reciprocals as constants:
   * one division in all (a division per term took most of a sample's sampler time). */
  double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double p = 1.0 / 21;
  p = p * s2 + 1.0 / 19;
  p = p * s2 + 1.0 / 17;
  p = p * s2 + 1.0 / 15;
  p = p * s2 + 1.0 / 13;
  p = p * s2 + 1.0 / 11;
  p = p * s2 + 1.0 / 9;
  p = p * s2 + 1.0 / 7;
  p = p * s2 + 1.0 / 5;
  p = p * s2 + 1.0 / 3;
  p = p * s2 + 1.0;
  return (double)e * LN2 + 2.0 * (s * p);
}

/* 1/n! for n = 0..18 (18! = 6402373705728000 < 2^53: every divisor is exact, each quotient rounded
 * once). */
static const double INV_FACTORIAL[19] = {
    1.0,
    1.0,
    1.0 / 2,
    1.0 / 6,
    1.0 / 24,
    1.0 / 120,
    1.0 / 720,
    1.0 / 5040,
    1.0 / 40320,
    1.0 / 362880,
    1.0 / 3628800,
    1.0 / 39916800,
    1.0 / 479001600,
    1.0 / 6227020800.0,
    1.0 / 87178291200.0,
    1.0 / 1307674368000.0,
    1.0 / 20922789888000.0,
    1.0 / 355687428096000.0,
    1.0 / 6402373705728000.0,
};

/* sum of INV_FACTORIAL[n] x^(n - from) for n = from..18, in Horner's form */
static double factorial_series(double x, int from) {
  double p = INV_FACTORIAL[18];
  for (int n = 17; n >= from; n--) p = p * x + INV_FACTORIAL[n];
  return p;
}

/* e^x - 1 for x <= 0, without cancellation near 0 (the sampler's weight: x = -size / R). */
double lw_sampler_expm1(double x) {
  if (!(x <= 0)) return 0; /* not asked for (the weight's argument is never positive), nor NaN */
  if (x < -745.0) return -1.0;
  if (x > -0.34657359027997264) { /* |x| < ln(2)/2: the series of e^x - 1, no cancellation */
    return x * factorial_series(x, 1); /* x (1 + x/2! + x^2/3! + ...) */
  }
  /* e^x = 2^k e^r, k = round(x / ln 2), |r| <= ln(2)/2; then e^x - 1 >= 0.29 away from 0. */
  double kf = x / LN2;
  int k = (int)(kf - 0.5); /* x < 0: rounds to nearest */
  if (k < -1022) return -1.0; /* 2^k below the normal range: within 1e-300 of -1 */
  double r = x - (double)k * LN2;
  double er = factorial_series(r, 0);
  uint64_t bits = (uint64_t)(k + 1023) << 52;
  double two_k;
  memcpy(&two_k, &bits, sizeof two_k);
  return er * two_k - 1.0;
}

int64_t lw_sampler_next_interval(lw_sampler *s, uint64_t sample_bytes) {
  if (!s->seeded) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s->rng = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^
             ((uint64_t)syscall(SYS_gettid) * 0x9E3779B97F4A7C15ull) ^ (uint64_t)(uintptr_t)s;
    s->seeded = 1;
  }
  /* u in (0, 1]: 53 random bits, never zero, so ln(u) is finite. */
  double u = ((double)(splitmix64(&s->rng) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  double interval = -lw_sampler_ln(u) * (double)sample_bytes;
  s->armed_for = sample_bytes;
  /* The whole bytes before the next sample point: floor of an exponential with mean R is geometric,
   * as if each byte were a sample point with probability q = 1 - e^(-1/R), so an allocation of s
   * bytes contains one with probability 1 - (1-q)^s = 1 - e^(-s/R), the weight's p, exactly. (A
   * floor raised to 1, as here before, over-counted by up to 1/R per byte: nothing at 512 KiB, 7.5%
   * at R = 4 on 1- to 8-byte blocks: sampler_test.) */
  if (interval > 9.0e18) interval = 9.0e18;
  return (int64_t)interval;
}

double lw_sampler_weight(uint64_t size, uint64_t sample_bytes) {
  if (sample_bytes == 0 || size == 0) return (double)size;
  double p = -lw_sampler_expm1(-(double)size / (double)sample_bytes);
  return (double)size / p;
}

int lw_sampler_reached(lw_sampler *s, uint64_t sample_bytes, uint64_t size, double *weight) {
  int64_t clamped = size > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)size;
  if (__builtin_expect(!s->seeded || s->armed_for != sample_bytes, 0)) {
    /* A new thread's countdown is zero, or it was drawn for another R: a fresh interval decides this
     * allocation (P = 1 - e^(-size/R) either way): it holds the sample point when its size exceeds
     * the draw, in [0, 9e18], so subtracting at most INT64_MAX cannot overflow. */
    int64_t left = lw_sampler_next_interval(s, sample_bytes) - clamped;
    if (left >= 0) {
      s->bytes_until_sample = left;
      return 0;
    }
  }
  s->bytes_until_sample = lw_sampler_next_interval(s, sample_bytes);
  *weight = lw_sampler_weight(size, sample_bytes);
  return 1;
}

void lw_sampler_rearm(lw_sampler *s, uint64_t sample_bytes) {
  s->bytes_until_sample = lw_sampler_next_interval(s, sample_bytes);
}
