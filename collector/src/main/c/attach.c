/*
 * attach: the entry points `leakwatch-inject` calls in a running process after it dlopen'd this
 * library there. leakwatch_attach starts a recording with the settings it is given and routes the
 * process's allocation calls here (got_patch.h); leakwatch_detach routes them back and closes the
 * ring. The library is never unloaded: a thread may be inside it, or hold a pointer taken while it
 * was routed; after a detach every entry point is a plain pass-through.
 *
 * Blocks the process allocated before the attach are unknown: in exact mode their frees are
 * recorded and the pipeline counts them as unknown frees (they change no total); sampled, they are
 * in no live set and are not recorded at all. Every block stays the real allocator's own, so a
 * block from before the attach freed while attached, or one from the attach freed after the
 * detach, is a normal free.
 *
 * Libraries loaded after the attach are routed too, within 100 ms of a recorded allocation: the
 * library does not wrap dlopen (glibc resolves $ORIGIN and the namespace from the caller's return
 * address, which a wrapper would change). The limit this leaves: a program that loads a library and
 * then allocates only through it (or through an allocator of its own, as CPython does for blocks
 * under 512 bytes) gives the shim no recorded allocation to poll from, and the new library's first
 * allocations pass unrecorded until one comes (AttachEndToEndTest showed 35 of 100 recorded).
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "got_patch.h"
#include "recorder.h"

#define EXPORT __attribute__((visibility("default")))

extern int lw_preloaded;

#define OWN(name) extern char lw_own_##name[] __attribute__((visibility("hidden")));
OWN(malloc)
OWN(calloc)
OWN(realloc)
OWN(reallocarray)
OWN(free)
OWN(posix_memalign)
OWN(aligned_alloc)
OWN(memalign)
OWN(valloc)
OWN(pvalloc)
OWN(mmap)
OWN(mmap64)
OWN(munmap)
OWN(mremap)

static const lw_got_hook hooks[] = {
    {"malloc", lw_own_malloc},
    {"calloc", lw_own_calloc},
    {"realloc", lw_own_realloc},
    {"reallocarray", lw_own_reallocarray},
    {"free", lw_own_free},
    {"posix_memalign", lw_own_posix_memalign},
    {"aligned_alloc", lw_own_aligned_alloc},
    {"memalign", lw_own_memalign},
    {"valloc", lw_own_valloc},
    {"pvalloc", lw_own_pvalloc},
    {"mmap", lw_own_mmap},
    {"mmap64", lw_own_mmap64},
    {"munmap", lw_own_munmap},
    {"mremap", lw_own_mremap},
};
#define NHOOKS ((int)(sizeof hooks / sizeof hooks[0]))

_Atomic int lw_attached;
static _Atomic int patching; /* one patcher at a time; a caller that finds it busy skips */
static _Atomic uint64_t next_patch_ns;

/* The answers leakwatch-inject turns into messages (keep in step with inject.c). */
enum { ATTACHED = 0, ALREADY_PRELOADED = 1, ALREADY_ATTACHED = 2, NO_RING = 3, NOT_ATTACHED = 4, BUSY = 5 };

static int patch_new(void) {
  int idle = 0;
  if (!atomic_compare_exchange_strong(&patching, &idle, 1)) return 0;
  /* Checked under the flag: a poll that raced a detach must not route everything here again. */
  int slots = 0;
  if (atomic_load(&lw_attached)) slots = (int)lw_got_patch_new(hooks, NHOOKS, (uintptr_t)&patch_new).slots;
  atomic_store(&patching, 0);
  return slots;
}

/* From the recording path (attached only): route libraries loaded since, at most every 100 ms. */
void lw_attach_poll(uint64_t now_ns) {
  uint64_t due = atomic_load_explicit(&next_patch_ns, memory_order_relaxed);
  if (now_ns < due || !atomic_compare_exchange_strong(&next_patch_ns, &due, now_ns + 100000000ull)) return;
  patch_new();
}

static int attach_now(const char *settings) {
  if (lw_preloaded) return ALREADY_PRELOADED;
  if (atomic_load(&lw_attached)) return ALREADY_ATTACHED;
  int idle = 0;
  if (!atomic_compare_exchange_strong(&patching, &idle, 1)) return BUSY;
  atomic_store(&patching, 0);
  if (lw_recorder_attach((uintptr_t)&attach_now, settings ? settings : "") != 0) return NO_RING;
  atomic_store(&lw_attached, 1);
  lw_tl_busy = 1; /* got_patch's own tables are mmap'd through this library: not the program's */
  patch_new();
  lw_tl_busy = 0;
  return ATTACHED;
}

/* The injector's entry points. `result`, when given, receives the answer too: the injector returns
 * from its calls through a signal frame that restores every register (so that the process survives
 * the injector's death in the middle of a call), and the return value in rax does not survive that. */
EXPORT int leakwatch_attach(const char *settings, volatile int *result) {
  int r = attach_now(settings);
  if (result) *result = r;
  return r;
}

static int detach_now(void) {
  if (!atomic_load(&lw_attached)) return lw_preloaded ? ALREADY_PRELOADED : NOT_ATTACHED;
  /* A poll in progress takes microseconds; never wait for ever (the thread running this call may be
   * the very one that was stopped inside that poll). */
  int idle = 0, tries = 0;
  while (!atomic_compare_exchange_weak(&patching, &idle, 1)) {
    idle = 0;
    if (++tries > 1000) return BUSY;
    struct timespec pause = {0, 100000};
    nanosleep(&pause, NULL);
  }
  atomic_store(&lw_attached, 0);
  int was_busy = lw_tl_busy;
  lw_tl_busy = 1;
  lw_got_restore_all();
  lw_tl_busy = was_busy;
  atomic_store(&patching, 0);
  lw_recorder_detach();
  return ATTACHED;
}

EXPORT int leakwatch_detach(volatile int *result) {
  int r = detach_now();
  if (result) *result = r;
  return r;
}
