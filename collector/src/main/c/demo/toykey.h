/* A toy key library: toy_derive_key allocates a key context that toy_destroy_key releases,
 * like CryptDeriveKey / CryptDestroyKey in the walkthrough this project grew from. */
#ifndef TOYKEY_H
#define TOYKEY_H
#include <stddef.h>

typedef struct toy_key toy_key;

toy_key *toy_derive_key(const char *secret, size_t len);
unsigned toy_key_checksum(const toy_key *key);
void toy_destroy_key(toy_key *key);

#endif
