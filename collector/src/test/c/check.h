/* check: the one assertion helper of the C tests, and a reader of a test's own ring (records in
 * reservation order, for rings that have not wrapped: the tests that use it keep them roomy). */
#ifndef LEAKWATCH_TEST_CHECK_H
#define LEAKWATCH_TEST_CHECK_H

#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shared_ring_buffer.h"

#define CHECK(c)                                                                          \
  do {                                                                                    \
    if (!(c)) {                                                                           \
      fprintf(stderr, "%s:%d: check failed: %s\n",                                    \
              __FILE__, __LINE__, #c);                                                    \
      exit(1);                                                                            \
    }                                                                                     \
  } while (0)

/* The newest ring of this process in $LEAKWATCH_RUN_DIR, mapped read-write (NULL when none). */
static inline lw_ring_header *test_own_ring(void) {
  const char *dir = getenv("LEAKWATCH_RUN_DIR");
  if (!dir) return NULL;
  char prefix[64], best[1024] = "";
  snprintf(prefix, sizeof prefix, "leakwatch-%d-", (int)getpid());
  DIR *d = opendir(dir);
  if (!d) return NULL;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strstr(e->d_name, ".ring") &&
        strcmp(e->d_name, best + (best[0] ? strlen(dir) + 1 : 0)) > 0)
      snprintf(best, sizeof best, "%s/%s", dir, e->d_name);
  closedir(d);
  if (!best[0]) return NULL;
  int fd = open(best, O_RDWR);
  if (fd < 0) return NULL;
  struct stat st;
  fstat(fd, &st);
  void *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  return m == MAP_FAILED ? NULL : (lw_ring_header *)m;
}

/* Calls fn(type, payload, len, pos) for every published record in [from, write_pos); returns the
 * position after the last one (it stops at a header still pending). */
static inline uint64_t test_ring_replay(lw_ring_header *h, uint64_t from,
                                        void (*fn)(uint32_t type, const uint8_t *payload, uint32_t len, uint64_t pos, void *arg),
                                        void *arg) {
  uint8_t *data = (uint8_t *)h + LW_RING_HEADER_SIZE;
  uint64_t mask = h->capacity - 1, w = atomic_load(&h->write_pos), pos = from;
  static uint8_t scratch[LW_RING_MAX_RECORD];
  while (pos < w) {
    uint64_t head = atomic_load((_Atomic uint64_t *)(void *)(data + (pos & mask)));
    uint32_t len = (uint32_t)head, type = (uint32_t)(head >> 32);
    if (head == 0 || type == LW_REC_PENDING) break;
    CHECK(len >= 8 && len <= LW_RING_MAX_RECORD && (len & 7) == 0);
    for (uint32_t i = 0; i < len; i++) scratch[i] = data[(pos + i) & mask];
    fn(type, scratch + 8, len - 8, pos, arg);
    pos += len;
  }
  return pos;
}

#endif
