#define _GNU_SOURCE
#include "unwinding.h"

#include <dlfcn.h>
#include <pthread.h>
#include <unwind.h>

#define TLS __thread __attribute__((tls_model("initial-exec")))

static uintptr_t self_lo, self_hi;
static enum lw_unwinder unwinder;
static int dwarf_fork_safe;
static TLS uintptr_t tl_stack_lo, tl_stack_hi;

static inline int in_self(uintptr_t pc) { return pc >= self_lo && pc < self_hi; }

struct backtrace_state {
  uint64_t *frames;
  int max;
  int n;
  int truncated;
};

static _Unwind_Reason_Code on_frame(struct _Unwind_Context *ctx, void *arg) {
  struct backtrace_state *b = arg;
  uintptr_t pc = (uintptr_t)_Unwind_GetIP(ctx);
  if (pc == 0) return _URC_END_OF_STACK;
  if (b->n == 0 && in_self(pc)) return _URC_NO_REASON; /* the shim's own frames */
  if (b->n == b->max) {
    b->truncated = 1;
    return _URC_END_OF_STACK;
  }
  b->frames[b->n++] = pc;
  return _URC_NO_REASON;
}

static int unwind_dwarf(uint64_t *frames, int max_frames, int *truncated) {
  struct backtrace_state b = {frames, max_frames, 0, 0};
  _Unwind_Backtrace(on_frame, &b);
  *truncated = b.truncated;
  return b.n;
}

void lw_unwind_init(uintptr_t lo, uintptr_t hi, enum lw_unwinder which) {
  self_lo = lo;
  self_hi = hi;
  unwinder = which;
  dwarf_fork_safe = dlsym(RTLD_DEFAULT, "_dl_find_object") != NULL;
  /* libgcc sets up its register tables on the first unwind: do it now, under the shim's guard. */
  uint64_t warm[4];
  int t;
  unwind_dwarf(warm, 4, &t);
}

void lw_unwind_after_fork(void) {
  tl_stack_lo = tl_stack_hi = 0;
  if (!dwarf_fork_safe) unwinder = LW_UNWIND_FP;
}

const char *lw_unwind_name(void) { return unwinder == LW_UNWIND_FP ? "fp" : "dwarf"; }

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

__attribute__((noinline)) static int unwind_fp(uint64_t *frames, int max_frames, int *truncated) {
  *truncated = 0;
  if (!stack_bounds()) return 0;
  uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
  int out = 0;
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

int lw_unwind(uint64_t *frames, int max_frames, int *truncated) {
  return unwinder == LW_UNWIND_FP ? unwind_fp(frames, max_frames, truncated) : unwind_dwarf(frames, max_frames, truncated);
}
