#define _GNU_SOURCE
#include "unwinding.h"

#include "modules.h"

#include <dlfcn.h>
#include <pthread.h>
#include <unwind.h>

#define TLS __thread __attribute__((tls_model("initial-exec")))

static uintptr_t self_lo, self_hi;
static enum lw_unwinder unwinder;
static int dwarf_fork_safe;
static TLS uintptr_t tl_stack_lo, tl_stack_hi;

static inline int in_self(uintptr_t pc) { return pc >= self_lo && pc < self_hi; }

/* The DWARF walk ended at a frame in no loaded object (JIT code), not at the stack's real end. */
static inline int lw_unwind_stopped_early(uint64_t last_pc) { return last_pc && !lw_modules_contains((uintptr_t)last_pc); }

struct backtrace_state {
  uint64_t *frames;
  int max;
  int n;
  int truncated;
  uintptr_t last_fp; /* the frame pointer of the last frame reported (rbp) */
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
#if defined(__x86_64__)
  b->last_fp = (uintptr_t)_Unwind_GetGR(ctx, 6); /* DWARF register 6 is rbp */
#endif
  return _URC_NO_REASON;
}

static int stack_bounds(void);

/* libgcc stops at code without unwind tables (a JIT's compiled methods). Such code built with frame
 * pointers (a JVM under -XX:+PreserveFramePointer) is walked on by its frame-pointer chain, with
 * the same bounds checks as the fp unwinder. */
static void continue_by_frame_pointers(struct backtrace_state *b) {
  uintptr_t fp = b->last_fp;
  if (!fp || b->n == 0 || b->n >= b->max || !stack_bounds()) return;
  while (fp >= tl_stack_lo && fp + 16 <= tl_stack_hi && (fp & 7) == 0) {
    uintptr_t next = ((const uintptr_t *)fp)[0];
    uintptr_t pc = ((const uintptr_t *)fp)[1];
    if (pc < 4096) break;
    if (b->n == b->max) {
      b->truncated = 1;
      break;
    }
    b->frames[b->n++] = pc;
    if (next <= fp) break;
    fp = next;
  }
}

static int unwind_dwarf(uint64_t *frames, int max_frames, int *truncated) {
  struct backtrace_state b = {frames, max_frames, 0, 0, 0};
  if (_Unwind_Backtrace(on_frame, &b) == _URC_END_OF_STACK && !b.truncated && lw_unwind_stopped_early(frames[b.n > 0 ? b.n - 1 : 0]))
    continue_by_frame_pointers(&b);
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
