#include "toykey.h"

#include <stdlib.h>
#include <string.h>

#define TOY_KEY_CONTEXT_BYTES 422 /* the size DebugDiag showed for rsaenh's leaked keys */

struct toy_key {
  unsigned char material[TOY_KEY_CONTEXT_BYTES];
};

__attribute__((noinline, noipa)) static void *cont_alloc(size_t n) { return calloc(1, n); }

__attribute__((noinline)) static toy_key *make_new_key(const char *secret, size_t len) {
  toy_key *k = cont_alloc(sizeof *k);
  if (!k) return NULL;
  for (size_t i = 0; i < sizeof k->material; i++)
    k->material[i] = (unsigned char)(secret[i % (len ? len : 1)] * 31u + i);
  return k;
}

toy_key *toy_derive_key(const char *secret, size_t len) { return make_new_key(secret, len); }

unsigned toy_key_checksum(const toy_key *key) {
  unsigned s = 0;
  for (size_t i = 0; i < sizeof key->material; i++) s = s * 33u + key->material[i];
  return s;
}

void toy_destroy_key(toy_key *key) { free(key); }
