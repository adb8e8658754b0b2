/*
 * mmap_user: application mappings for the tests. Maps A (4 pages) and keeps it, maps B (8 pages) and
 * unmaps its middle 2 pages (partial unmap: 6 pages stay), maps C and unmaps it whole, grows D with
 * mremap from 2 to 5 pages, and mallocs/frees on the side so heap and mmap kinds are told apart.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

__attribute__((noinline)) static void *map_pages(size_t pages) {
  void *p = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("mmap");
    exit(1);
  }
  return p;
}

int main(void) {
  volatile char *a = map_pages(4);
  a[0] = 1;
  char *b = map_pages(8);
  if (munmap(b + 3 * 4096, 2 * 4096) != 0) return 1;
  char *c = map_pages(3);
  if (munmap(c, 3 * 4096) != 0) return 1;
  char *d = map_pages(2);
  d = mremap(d, 2 * 4096, 5 * 4096, MREMAP_MAYMOVE);
  if (d == MAP_FAILED) return 1;
  for (int i = 0; i < 1000; i++) free(malloc(100));
  printf("mmap_user: done\n");
  return 0;
}
