/*
 * api_user: every allocation entry point under the shim, checked from the application's side:
 * alignment, malloc_usable_size, contents kept across realloc (in and out of sampled blocks),
 * reallocarray overflow, realloc(p, 0), aligned APIs, and a dlopen()ed library allocating.
 * Exits non-zero on the first violation. Leaks exactly 3 blocks of 333 bytes (leak_api_blocks)
 * and 2 toykey contexts through the dlopen()ed library.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(c)                                                        \
  do {                                                                  \
    if (!(c)) {                                                         \
      fprintf(stderr, "api_user: %s:%d: %s\n", __FILE__, __LINE__, #c); \
      exit(1);                                                          \
    }                                                                   \
  } while (0)

static volatile uintptr_t sink;

__attribute__((noinline)) static void leak_api_blocks(void) {
  for (int i = 0; i < 3; i++) sink += (uintptr_t)calloc(1, 333);
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(seed + i * 7);
}

static int same(const unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(seed + i * 7)) return 0;
  return 1;
}

int main(int argc, char **argv) {
  (void)argc;
  for (int round = 0; round < 2000; round++) {
    size_t n = 1 + (size_t)(round * 37) % 5000;
    unsigned char *p = malloc(n);
    CHECK(p && ((uintptr_t)p & 15) == 0 && malloc_usable_size(p) >= n);
    fill(p, n, (unsigned)round);
    size_t m = n * 3 + 1;
    p = realloc(p, m); /* may move in or out of a sampled (headered) block */
    CHECK(p && same(p, n, (unsigned)round) && malloc_usable_size(p) >= m);
    p = realloc(p, n / 2 + 1);
    CHECK(p && same(p, n / 2 + 1, (unsigned)round));
    free(p);
    unsigned char *z = calloc(n, 3);
    CHECK(z);
    for (size_t i = 0; i < n * 3; i++) CHECK(z[i] == 0);
    free(z);
    void *a = NULL;
    CHECK(posix_memalign(&a, 64, n) == 0 && ((uintptr_t)a & 63) == 0);
    free(a);
    a = aligned_alloc(128, 128 * (1 + n / 128));
    CHECK(a && ((uintptr_t)a & 127) == 0);
    free(a);
    a = memalign(256, n);
    CHECK(a && ((uintptr_t)a & 255) == 0);
    a = realloc(a, n + 1000); /* an aligned block grows */
    CHECK(a);
    free(a);
    a = valloc(n);
    CHECK(a && ((uintptr_t)a & 4095) == 0);
    free(a);
    a = pvalloc(n);
    CHECK(a && ((uintptr_t)a & 4095) == 0);
    free(a);
  }
  errno = 0;
  volatile size_t huge = SIZE_MAX / 2; /* volatile: the compiler must not see the overflow coming */
  CHECK(reallocarray(NULL, huge, 4) == NULL && errno == ENOMEM);
  void *q = malloc(100);
  CHECK(realloc(q, 0) == NULL); /* freed, like glibc */
  free(NULL);
  void *r = realloc(NULL, 10);
  CHECK(r != NULL);
  free(r);
  leak_api_blocks();

  /* A library loaded at run time allocates; its frames must still be named. */
  char path[4096];
  ssize_t len = readlink("/proc/self/exe", path, sizeof path - 32);
  CHECK(len > 0);
  path[len] = 0;
  strcpy(strrchr(path, '/') + 1, "libtoykey.so");
  void *lib = dlopen(path, RTLD_NOW);
  CHECK(lib);
  void *(*derive)(const char *, size_t) = (void *(*)(const char *, size_t))dlsym(lib, "toy_derive_key");
  CHECK(derive);
  for (int i = 0; i < 2; i++) sink += (uintptr_t)derive("k", 1);
  printf("api_user: ok (%s)\n", argv[0]);
  return 0;
}
