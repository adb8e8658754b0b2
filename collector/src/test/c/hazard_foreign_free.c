/* hazard_foreign_free: blocks the shim handed out, released and resized by glibc's own functions
 * (what ctypes, JNA and libffi do through dlsym on a libc handle; RTLD_DEEPBIND libraries and
 * __libc_free do the same). With an in-band header this aborted with "free(): invalid pointer". */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <string.h>

#include "check.h"

extern void __libc_free(void *);
extern void *__libc_realloc(void *, size_t);

int main(void) {
  void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  CHECK(libc);
  void (*libc_free)(void *) = (void (*)(void *))dlsym(libc, "free");
  void *(*libc_realloc)(void *, size_t) = (void *(*)(void *, size_t))dlsym(libc, "realloc");
  size_t (*libc_usable)(void *) = (size_t(*)(void *))dlsym(libc, "malloc_usable_size");
  CHECK(libc_free && libc_realloc && libc_usable);
  for (int i = 0; i < 20000; i++) {
    size_t n = 16 + (size_t)(i * 7919) % 100000;
    char *s = strdup("a string that python's ctypes frees through libc");
    libc_free(s);
    char *b = malloc(n);
    CHECK(b);
    memset(b, 'x', n);
    CHECK(libc_usable(b) >= n);
    b = libc_realloc(b, n * 2);
    CHECK(b && b[n - 1] == 'x');
    if (i % 2) libc_free(b); else __libc_free(b);
    void *c = calloc(1, n);
    c = __libc_realloc(c, n + 1);
    CHECK(c);
    free(c); /* back through the shim: fine either way */
  }
  puts("hazard_foreign_free: 20000 blocks released and resized by glibc's own functions: ok");
  return 0;
}
