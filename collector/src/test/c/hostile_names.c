/*
 * hostile-names: a program whose symbol names are HTML and script. Symbol names are text from
 * someone else's binary; every page that shows them must show them as text. Leaks 40 blocks of
 * 1000 bytes through a function named "<img src=x onerror=alert(1)>" (an assembler-level name:
 * C cannot spell it, the ELF symbol table can), called from one named "</script><script>alert(2)</script>".
 *
 * usage: hostile-names [seconds-to-stay-alive]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *volatile kept[40];

__attribute__((noinline)) void *img_onerror(size_t n) __asm__("\"<img src=x onerror=alert(1)>\"");
__attribute__((noinline)) void *img_onerror(size_t n) {
  void *p = malloc(n);
  if (p) memset(p, 1, n);
  return p;
}

__attribute__((noinline)) void leak_through_script(void) __asm__("\"</script><script>alert(2)</script>\"");
__attribute__((noinline)) void leak_through_script(void) {
  for (int i = 0; i < 40; i++) kept[i] = img_onerror(1000);
}

int main(int argc, char **argv) {
  leak_through_script();
  int seconds = argc > 1 ? atoi(argv[1]) : 0;
  if (seconds > 0) sleep((unsigned)seconds);
  printf("leaked 40 blocks of 1000 bytes\n");
  return 0;
}
