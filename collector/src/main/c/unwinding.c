#define _GNU_SOURCE
#include "unwinding.h"

#include <dlfcn.h>
#include <execinfo.h>
#include <pthread.h>

#define TLS __thread __attribute__((tls_model("initial-exec")))

static uintptr_t self_lo, self_hi;
static enum lw_unwinder unwinder;
static int (*unw_backtrace_fn)(void **, int);
static TLS uintptr_t tl_stack_lo, tl_stack_hi;

void lw_unwind_init(uintptr_t lo, uintptr_t hi, enum lw_unwinder which) {
  self_lo = lo;
  self_hi = hi;
  unwinder = which;
  void *lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (lib) unw_backtrace_fn = (int (*)(void **, int))dlsym(lib, "unw_backtrace");
  void *warm[4];
  backtrace(warm, 4); /* dlopen()s libgcc_s and lets it allocate now, not later */
  if (unw_backtrace_fn) unw_backtrace_fn(warm, 4);
}

const char *lw_unwind_dwarf_impl(void) { return unw_backtrace_fn ? "libunwind" : "libgcc"; }

void lw_unwind_thread_reset(void) { tl_stack_lo = tl_stack_hi = 0; }

static int stack_bounds(void) {
  if (tl_stack_hi) return 1;
  pthread_attr_t attr;
  void *addr;
  size_t size;
  /* May allocate (the main thread reads /proc/self/maps): we are under the re-entrancy guard. */
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
  int ok = pthread_attr_getstack(&attr, &addr, &size) == 0;
  pthread_attr_destroy(&attr);
  if (!ok) return 0;
  tl_stack_lo = (uintptr_t)addr;
  tl_stack_hi = (uintptr_t)addr + size;
  return 1;
}

static inline int in_self(uintptr_t pc) { return pc >= self_lo && pc < self_hi; }

__attribute__((noinline)) static int unwind_fp(uint64_t *frames, int max_frames, int *truncated) {
  if (!stack_bounds()) return 0;
  uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
  int out = 0;
  *truncated = 0;
  while (fp >= tl_stack_lo && fp + 16 <= tl_stack_hi && (fp & 7) == 0) {
    uintptr_t next = ((const uintptr_t *)fp)[0];
    uintptr_t pc = ((const uintptr_t *)fp)[1];
    if (pc < 4096) break;
    if (!in_self(pc)) {
      if (out == max_frames) {
        *truncated = 1;
        break;
      }
      frames[out++] = pc;
    }
    if (next <= fp) break; /* stacks grow down: a caller's frame is always above */
    fp = next;
  }
  return out;
}

static int unwind_dwarf(uint64_t *frames, int max_frames, int *truncated) {
  void *raw[LW_MAX_FRAMES + 8];
  int want = max_frames + 8;
  if (want > LW_MAX_FRAMES + 8) want = LW_MAX_FRAMES + 8;
  int n = unw_backtrace_fn ? unw_backtrace_fn(raw, want) : backtrace(raw, want);
  int out = 0, i = 0;
  while (i < n && in_self((uintptr_t)raw[i])) i++;
  for (; i < n && out < max_frames; i++) frames[out++] = (uint64_t)(uintptr_t)raw[i];
  *truncated = (i < n) || (n == want);
  return out;
}

int lw_unwind(uint64_t *frames, int max_frames, int *truncated) {
  return unwinder == LW_UNWIND_FP ? unwind_fp(frames, max_frames, truncated) : unwind_dwarf(frames, max_frames, truncated);
}
