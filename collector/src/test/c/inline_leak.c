/*
 * inline_leak: leaks N 4000-byte blocks through an allocation helper that the compiler inlines
 * into its caller, for the tests of source file, line and inlined frames. The build also makes a
 * stripped copy (inline-leak.stripped, no .symtab, no DWARF) and its separate debug file
 * (inline-leak.debug, as objcopy --only-keep-debug makes it for a debuginfod server).
 *
 * usage: inline-leak [n]
 */
#include <stdlib.h>
#include <string.h>

static volatile unsigned long sink;

static inline __attribute__((always_inline)) char *new_session_key(size_t n) {
  char *key = malloc(n); /* the allocation site, inlined into open_session */
  if (key) memset(key, 7, n);
  return key;
}

__attribute__((noinline)) void open_session(size_t n) {
  char *key = new_session_key(n);
  sink += (unsigned long)key; /* the key escapes and is never freed: the leak */
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 10;
  for (long i = 0; i < n; i++) open_session(4000);
  return 0;
}
