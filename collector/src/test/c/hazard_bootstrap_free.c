/* hazard_bootstrap_free: blocks the shim served from its static bootstrap arena (while it looked up
 * the real allocator), freed later by their owner: the real free must never see them. glibc before
 * 2.34 allocated in dlsym (its per-thread dlerror state, freed at thread exit); here this program's
 * own dlsym, found before libc's, allocates on every call, as such a dlsym or a preloaded wrapper of
 * it would. free() tells bootstrap blocks apart only in its slow half, so their pages' bytes in the
 * free filter must stay non-zero: in the process, after every clear of the live set (a forked
 * child), in every sampling mode. The real free would take a bootstrap block into its caches,
 * writing its links over the block's first bytes (or abort on the header before it), and hand the
 * shim's static memory out again: a block still whole after its free is one the real free never saw.
 *
 * Built with -rdynamic, so that the shim's dlsym calls reach the dlsym below. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "check.h"

#define MAX_SAVED 256
static void *saved[MAX_SAVED];
static _Atomic int nsaved;

static void *libc_handle(void) {
  static void *libc;
  if (!libc) libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  return libc;
}

/* Allocates, then answers from libc as the shim's RTLD_NEXT lookup would have (RTLD_NEXT itself
 * would be taken relative to this program, and answer with the shim's own functions). */
void *dlsym(void *handle, const char *name) {
  void *(*real_dlsym)(void *, const char *) =
      (void *(*)(void *, const char *))dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
  if (!real_dlsym) { /* the shim needs glibc 2.34 too */
    static const char msg[] = "hazard_bootstrap_free: no dlsym@GLIBC_2.34\n";
    write(2, msg, sizeof msg - 1);
    _exit(1);
  }
  /* Four blocks a call: all four of the first call (the shim's lookup of malloc itself) come from the
   * arena, so each way of releasing one below gets an arena block of its own. */
  for (int b = 0; b < 4; b++) {
    char *block = malloc(96);
    if (!block) continue;
    memset(block, 0x5a, 96);
    int i = atomic_fetch_add(&nsaved, 1);
    if (i < MAX_SAVED) saved[i] = block;
  }
  if (handle == RTLD_NEXT) handle = libc_handle();
  return real_dlsym(handle, name);
}

/* In the shim's own mapping (its .bss): served from the bootstrap arena. */
static int in_shim(const void *p) {
  Dl_info info;
  return dladdr(p, &info) && info.dli_fname && strstr(info.dli_fname, "libleakwatch");
}

static int whole(const unsigned char *p) {
  for (int i = 0; i < 96; i++)
    if (p[i] != 0x5a) return 0;
  return 1;
}

/* free, called where the compiler cannot see it is free: an arena block is read after its free. */
static void (*volatile release)(void *) = free;

/* Frees a saved block; one from the arena must be left as it was. Returns 1 for an arena block. */
static int free_one(int i) {
  void *p = saved[i];
  int arena = in_shim(p);
  release(p);
  if (arena) CHECK(whole(p));
  saved[i] = NULL;
  return arena;
}

/* The first arena block and the first ordinary one, from another thread. */
static void *free_in_thread(void *arg) {
  int *freed_from_arena = arg, n = atomic_load(&nsaved) < MAX_SAVED ? atomic_load(&nsaved) : MAX_SAVED;
  for (int want = 1; want >= 0; want--)
    for (int i = 0; i < n; i++)
      if (saved[i] && in_shim(saved[i]) == want) {
        *freed_from_arena += free_one(i);
        break;
      }
  return NULL;
}

int main(void) {
  lw_ring_header *ring = test_own_ring();
  CHECK(ring); /* recording: in sampled mode the free filter is published */
  uint64_t from_arena = atomic_load(&ring->stats.bootstrap_allocations);
  int n = atomic_load(&nsaved);
  CHECK(n > 0 && from_arena > 0);
  if (n > MAX_SAVED) n = MAX_SAVED;

  int in_arena = 0;
  for (int i = 0; i < n; i++) in_arena += in_shim(saved[i]);
  CHECK(in_arena >= 3); /* one for the thread, one for realloc, one or more for free */

  /* A forked child (its live set cleared at fork) frees every block. */
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    for (int i = 0; i < n; i++) free_one(i);
    _exit(0);
  }
  int status;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  /* The parent: one arena block from another thread, one through realloc, the rest with free. */
  int freed_from_arena = 0;
  pthread_t t;
  CHECK(pthread_create(&t, NULL, free_in_thread, &freed_from_arena) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  CHECK(freed_from_arena == 1);
  int reallocated = 0;
  for (int i = 0; i < n; i++) {
    if (!saved[i]) continue;
    int arena = in_shim(saved[i]);
    if (arena && !reallocated) {
      char *q = realloc(saved[i], 200); /* the arena block is copied, never handed to the real realloc */
      CHECK(q && q[95] == 0x5a && !in_shim(q));
      CHECK(whole(saved[i]));
      free(q);
      saved[i] = NULL;
      reallocated = 1;
      freed_from_arena++;
    } else {
      freed_from_arena += free_one(i);
    }
  }
  CHECK(reallocated);
  CHECK(freed_from_arena == in_arena);
  printf("hazard_bootstrap_free: %d blocks, %d of them from the bootstrap arena (the ring counts %llu), freed "
         "in the process, a thread and a forked child, none seen by the real free: ok\n",
         n, in_arena, (unsigned long long)from_arena);
  return 0;
}
