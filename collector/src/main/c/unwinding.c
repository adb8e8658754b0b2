#define _GNU_SOURCE
#include "unwinding.h"

#include "modules.h"
#include "thread_stack.h"
#include "unwind_rules.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <dlfcn.h>
#include <unwind.h>

#define TLS __thread __attribute__((tls_model("initial-exec")))

static uintptr_t self_lo, self_hi;
static enum lw_unwinder unwinder;
static int dwarf_fork_safe;
static int rules_ok; /* the cached-rule walk is available */
static _Atomic uint64_t checked, differed, fell_back;
static TLS uintptr_t tl_stack_lo, tl_stack_hi;
/* The highest CFA libgcc's walks met on this thread: an upper bound for the cached-rule walk's
 * reads, learned without pthread_getattr_np (which takes the thread's own lock and allocates: a
 * sampled allocation inside it would deadlock on that lock, as a JVM showed). */
static TLS uintptr_t tl_cfa_hi;

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
  uintptr_t cfa = (uintptr_t)_Unwind_GetCFA(ctx);
  if (cfa > tl_cfa_hi) tl_cfa_hi = cfa;
#if defined(__x86_64__)
  b->last_fp = (uintptr_t)_Unwind_GetGR(ctx, 6); /* DWARF register 6 is rbp */
#endif
  return _URC_NO_REASON;
}

static int stack_bounds(uintptr_t here);

/* libgcc stops at code without unwind tables (a JIT's compiled methods). Such code built with frame
 * pointers (a JVM under -XX:+PreserveFramePointer) is walked on by its frame-pointer chain, with
 * the same bounds checks as the fp unwinder. */
__attribute__((noinline)) static void continue_by_frame_pointers(struct backtrace_state *b) {
  uintptr_t fp = b->last_fp, here = (uintptr_t)__builtin_frame_address(0);
  if (!fp || b->n == 0 || b->n >= b->max || !stack_bounds(here)) return;
  while (fp >= here && fp + 16 <= tl_stack_hi && (fp & 7) == 0) {
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

static int unwind_libgcc(uint64_t *frames, int max_frames, int *truncated) {
  struct backtrace_state b = {frames, max_frames, 0, 0, 0};
  if (_Unwind_Backtrace(on_frame, &b) == _URC_END_OF_STACK && !b.truncated && lw_unwind_stopped_early(frames[b.n > 0 ? b.n - 1 : 0]))
    continue_by_frame_pointers(&b);
  *truncated = b.truncated;
  return b.n;
}

/* The cached-rule walk; -1 when it cannot do this stack (the caller takes libgcc's). */
static int unwind_rules(const lw_walk_start *from, uint64_t *frames, int max_frames, int *truncated) {
  if (!rules_ok || !tl_cfa_hi) return -1; /* libgcc walks first and learns the bound */
  uintptr_t last_bp = 0;
  uintptr_t here = (uintptr_t)__builtin_frame_address(0);
  /* Reads stay between this frame (less a margin for the walker's own) and the highest CFA libgcc
   * met: the live stack a correct walk reads anyway. A frame beyond it is walked by libgcc. */
  int n = lw_unwind_rules_walk(from, frames, max_frames, truncated, self_lo, self_hi, here - 65536, tl_cfa_hi, &last_bp);
  if (n <= 0) return -1;
  if (!*truncated && lw_unwind_stopped_early(frames[n - 1])) {
    struct backtrace_state b = {frames, max_frames, n, 0, last_bp};
    continue_by_frame_pointers(&b);
    *truncated = b.truncated;
    n = b.n;
  }
  return n;
}

static int unwind_dwarf(const lw_walk_start *from, uint64_t *frames, int max_frames, int *truncated) {
  int n = unwind_rules(from, frames, max_frames, truncated);
  return n >= 0 ? n : unwind_libgcc(frames, max_frames, truncated);
}

/* Both walks; libgcc's answer is returned, the difference counted. */
static int unwind_check(const lw_walk_start *from, uint64_t *frames, int max_frames, int *truncated) {
  uint64_t fast[LW_MAX_FRAMES];
  int fast_truncated = 0;
  int max = max_frames < LW_MAX_FRAMES ? max_frames : LW_MAX_FRAMES;
  int nf = unwind_rules(from, fast, max, &fast_truncated);
  int n = unwind_libgcc(frames, max_frames, truncated);
  atomic_fetch_add_explicit(&checked, 1, memory_order_relaxed);
  if (nf < 0) {
    atomic_fetch_add_explicit(&fell_back, 1, memory_order_relaxed);
  } else if (nf != (n < max ? n : max) || memcmp(fast, frames, sizeof(uint64_t) * (size_t)nf) != 0) {
    atomic_fetch_add_explicit(&differed, 1, memory_order_relaxed);
  }
  return n;
}

static char *put_u64(char *p, uint64_t v) {
  char tmp[24];
  int i = 0;
  do tmp[i++] = (char)('0' + v % 10); while ((v /= 10) != 0);
  while (i) *p++ = tmp[--i];
  return p;
}

static char *put_str(char *p, const char *s) {
  size_t n = strlen(s);
  memcpy(p, s, n);
  return p + n;
}

void lw_unwind_report(void) {
  if (unwinder != LW_UNWIND_CHECK) return;
  char line[160], *p = line;
  p = put_str(p, "leakwatch: unwind check: ");
  p = put_u64(p, atomic_load(&checked));
  p = put_str(p, " stacks, ");
  p = put_u64(p, atomic_load(&differed));
  p = put_str(p, " differ, ");
  p = put_u64(p, atomic_load(&fell_back));
  p = put_str(p, " walked by libgcc alone\n");
  syscall(SYS_write, 2, line, (size_t)(p - line));
}

void lw_unwind_init(uintptr_t lo, uintptr_t hi, enum lw_unwinder which) {
  self_lo = lo;
  self_hi = hi;
  unwinder = which;
  dwarf_fork_safe = dlsym(RTLD_DEFAULT, "_dl_find_object") != NULL;
  rules_ok = which != LW_UNWIND_LIBGCC && lw_unwind_rules_init() == 0;
  /* libgcc sets up its register tables on the first unwind: do it now, under the shim's guard. */
  uint64_t warm[4];
  int t;
  unwind_libgcc(warm, 4, &t);
}

void lw_unwind_after_fork(void) {
  tl_stack_lo = tl_stack_hi = tl_cfa_hi = 0;
  if (!dwarf_fork_safe) unwinder = LW_UNWIND_FP;
}

const char *lw_unwind_name(void) {
  switch (unwinder) {
    case LW_UNWIND_FP: return "fp";
    case LW_UNWIND_LIBGCC: return "libgcc";
    case LW_UNWIND_CHECK: return "check";
    default: return "dwarf";
  }
}

/* The stack the walk runs on, [tl_stack_lo, tl_stack_hi): kept per thread while walks start inside
 * it, asked of the kernel again when one starts elsewhere (a sigaltstack, a coroutine's stack, the
 * main thread's stack grown below what was seen). Walks read only from their own frame upwards. */
static int stack_bounds(uintptr_t here) {
  if (here >= tl_stack_lo && here < tl_stack_hi) return 1;
  uintptr_t lo, hi;
  if (!lw_thread_stack_mapping(here, &lo, &hi)) return 0;
  tl_stack_lo = lo;
  tl_stack_hi = hi;
  return 1;
}

__attribute__((noinline)) static int unwind_fp(uint64_t *frames, int max_frames, int *truncated) {
  *truncated = 0;
  uintptr_t fp = (uintptr_t)__builtin_frame_address(0), here = fp;
  if (!stack_bounds(here)) return 0;
  int out = 0;
  while (fp >= here && fp + 16 <= tl_stack_hi && (fp & 7) == 0) {
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

int lw_unwind_from(const lw_walk_start *from, uint64_t *frames, int max_frames, int *truncated) {
  switch (unwinder) {
    case LW_UNWIND_FP: return unwind_fp(frames, max_frames, truncated);
    case LW_UNWIND_LIBGCC: return unwind_libgcc(frames, max_frames, truncated);
    case LW_UNWIND_CHECK: return unwind_check(from, frames, max_frames, truncated);
    default: return unwind_dwarf(from, frames, max_frames, truncated);
  }
}

int lw_unwind(uint64_t *frames, int max_frames, int *truncated) { return lw_unwind_from(NULL, frames, max_frames, truncated); }
