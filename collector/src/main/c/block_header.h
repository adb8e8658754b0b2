/*
 * block_header: the in-band marker that makes "was this block sampled?" free to answer.
 *
 * In sampled mode a block chosen for recording is allocated 16 bytes larger and handed out 16 bytes
 * in; the 8 bytes at user-16 hold SECRET ^ user ("sampled") or ~SECRET ^ user ("header, not
 * recorded", e.g. a sampled block reallocated into an unsampled size). free() reads user-16, which
 * for any block of the real allocator lies in memory it owns (glibc's chunk header sits there) and
 * on the cache line it is about to touch anyway, so an unsampled free costs one compare, no lookup.
 * The secret comes from getrandom(): application bytes that happen to precede a block match with
 * probability 2^-64. The tag is cleared before the block goes back to the real allocator, so a stale
 * tag can never describe a later block.
 */
#ifndef LEAKWATCH_BLOCK_HEADER_H
#define LEAKWATCH_BLOCK_HEADER_H

#include <stdint.h>

#define LW_HEADER_BYTES 16u

enum lw_header_kind { LW_HDR_NONE = 0, LW_HDR_SAMPLED = 1, LW_HDR_PLAIN = 2 };

extern uint64_t lw_header_secret;

static inline void *lw_header_base(void *user) { return (uint8_t *)user - LW_HEADER_BYTES; }

static inline enum lw_header_kind lw_header_kind(const void *user) {
  uint64_t v = ((const uint64_t *)user)[-2];
  if (v == (lw_header_secret ^ (uint64_t)(uintptr_t)user)) return LW_HDR_SAMPLED;
  if (v == (~lw_header_secret ^ (uint64_t)(uintptr_t)user)) return LW_HDR_PLAIN;
  return LW_HDR_NONE;
}

static inline void lw_header_set(void *user, enum lw_header_kind kind) {
  uint64_t *h = (uint64_t *)lw_header_base(user);
  h[0] = kind == LW_HDR_SAMPLED ? lw_header_secret ^ (uint64_t)(uintptr_t)user
                                : ~lw_header_secret ^ (uint64_t)(uintptr_t)user;
  h[1] = 0;
}

static inline void lw_header_clear(void *user) { ((uint64_t *)user)[-2] = 0; }

#endif
