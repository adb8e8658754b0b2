/* hazard_fork_child: a child made by _Fork (no fork handlers run, as with a raw clone) frees and
 * allocates blocks the parent sampled; it must write nothing into the parent's ring (its frees would
 * delete the parent's live blocks downstream). Run with LEAKWATCH_SAMPLE_BYTES=1 (every block sampled). */
#define _GNU_SOURCE
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

extern pid_t _Fork(void);

static void *blocks[100];
static long frees_of_blocks;

static void on_record(uint32_t type, const uint8_t *p, uint32_t len, uint64_t pos, void *arg) {
  (void)len, (void)pos, (void)arg;
  if (type != LW_REC_FREE) return;
  uint64_t addr;
  memcpy(&addr, p, 8);
  for (int i = 0; i < 100; i++)
    if ((uint64_t)(uintptr_t)blocks[i] == addr) frees_of_blocks++;
}

int main(void) {
  for (int i = 0; i < 100; i++) blocks[i] = malloc(1000);
  pid_t pid = _Fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    for (int i = 0; i < 100; i++) free(blocks[i]);
    for (int i = 0; i < 100; i++) blocks[i] = malloc(1000);
    _exit(0);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  lw_ring_header *h = test_own_ring();
  CHECK(h);
  test_ring_replay(h, 0, on_record, NULL);
  CHECK(frees_of_blocks == 0);
  puts("hazard_fork_child: a _Fork child wrote nothing into its parent's ring: ok");
  return 0;
}
