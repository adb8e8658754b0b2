/*
 * shim: the LD_PRELOAD entry points (libleakwatch.so).
 *
 * Rules this file keeps, in every entry point:
 *   - never block: no locks; a full ring or full live set drops and counts;
 *   - never recurse: a thread already inside the shim (tl_busy) goes straight to the real
 *     allocator, and calls made while dlsym() resolves the real functions are served from a
 *     static bootstrap arena;
 *   - never crash: failure to set up (no run directory, no memory) leaves the shim passive;
 *   - ordering: a free is recorded before the real free, an allocation after the real call
 *     returns, so the ring's reservation order (the sequence number) never reorders a reuse.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "block_header.h"
#include "live_set.h"
#include "sampler.h"
#include "shared_ring_buffer.h"
#include "unwinding.h"

#define EXPORT __attribute__((visibility("default")))
#define TLS __thread __attribute__((tls_model("initial-exec")))

/* ---- the real allocator ---------------------------------------------------------------- */
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);
static void *(*real_dlopen)(const char *, int);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static void *(*real_mremap)(void *, size_t, size_t, int, ...);
static void *(*real_malloc_usable_size_fn)(void *);

/* dlsym() may allocate before the real functions are known: serve it from here. */
static _Alignas(64) uint8_t bootstrap_arena[256 * 1024];
static _Atomic size_t bootstrap_used;
static _Atomic int resolving;

static inline int in_bootstrap(const void *p) {
  return (const uint8_t *)p >= bootstrap_arena &&
         (const uint8_t *)p < bootstrap_arena + sizeof bootstrap_arena;
}

static void *bootstrap_alloc(size_t n, size_t align) {
  if (align < 16) align = 16;
  size_t cur = atomic_load(&bootstrap_used);
  for (;;) {
    size_t start = (cur + align - 1) & ~(align - 1);
    if (start + n > sizeof bootstrap_arena || start + n < start) return NULL;
    if (atomic_compare_exchange_weak(&bootstrap_used, &cur, start + n)) {
      memset(bootstrap_arena + start, 0, n);
      return bootstrap_arena + start;
    }
  }
}

static void resolve_real(void) {
  if (real_free) return;
  atomic_store(&resolving, 1);
  real_malloc = dlsym(RTLD_NEXT, "malloc");
  real_calloc = dlsym(RTLD_NEXT, "calloc");
  real_realloc = dlsym(RTLD_NEXT, "realloc");
  real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
  real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
  real_memalign = dlsym(RTLD_NEXT, "memalign");
  real_valloc = dlsym(RTLD_NEXT, "valloc");
  real_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
  real_dlopen = dlsym(RTLD_NEXT, "dlopen");
  real_mmap = dlsym(RTLD_NEXT, "mmap");
  real_munmap = dlsym(RTLD_NEXT, "munmap");
  real_mremap = dlsym(RTLD_NEXT, "mremap");
  real_malloc_usable_size_fn = (void *(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
  real_free = dlsym(RTLD_NEXT, "free");
  atomic_store(&resolving, 0);
}

/* ---- tracking state -------------------------------------------------------------------- */
static lw_ring ring;
static _Atomic int active;          /* ring set up and recording */
static uint64_t sample_bytes = 524288;
static int max_frames = 48;
static uint64_t record_after_ns;    /* LEAKWATCH_START_DELAY: nothing is recorded before */
static char run_dir[256] = "/dev/shm/leakwatch";
static uint64_t ring_bytes;
static int ring_populate; /* LEAKWATCH_RING_POPULATE=1: fault the ring in at start, not on its first lap */
static uintptr_t self_lo, self_hi;

static TLS int tl_busy;
static TLS lw_sampler tl_sampler;
static TLS uint32_t tl_tid;

typedef struct {
  uint64_t address;
  uint64_t size;
  double weight;
  uint64_t timestamp_ns;
  uint32_t tid;
  uint8_t kind;
  uint8_t truncated;
  uint16_t nframes;
} lw_alloc_payload;
_Static_assert(sizeof(lw_alloc_payload) == 40, "alloc payload is 40 bytes");

typedef struct {
  uint64_t address;
  uint8_t kind;
  uint8_t pad[7];
  uint64_t length; /* mmap kind: bytes unmapped from address on (partial unmaps); heap: 0 */
} lw_free_payload;

typedef struct {
  uint64_t load_bias;
  uint64_t lo;
  uint64_t hi;
  uint32_t flags; /* 1 = the main executable */
  uint16_t build_id_len;
  uint16_t path_len;
  uint8_t build_id[32];
} lw_module_payload;
_Static_assert(sizeof(lw_module_payload) == 64, "module payload is 64 bytes");

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t env_u64(const char *name, uint64_t dflt) {
  const char *v = getenv(name);
  if (!v || !*v) return dflt;
  uint64_t x = 0;
  for (; *v; v++) {
    if (*v < '0' || *v > '9') return dflt;
    x = x * 10 + (uint64_t)(*v - '0');
  }
  return x;
}

/* ---- modules: so the collector can name frames even after the process is gone ---------- */
static int emit_module(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  (void)arg;
  lw_module_payload m;
  memset(&m, 0, sizeof m);
  uint64_t lo = UINT64_MAX, hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD) {
      if (ph->p_vaddr < lo) lo = ph->p_vaddr;
      if (ph->p_vaddr + ph->p_memsz > hi) hi = ph->p_vaddr + ph->p_memsz;
    } else if (ph->p_type == PT_NOTE && m.build_id_len == 0) {
      const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
      const uint8_t *end = p + ph->p_memsz;
      while (p + sizeof(ElfW(Nhdr)) <= end) {
        const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)p;
        const uint8_t *name = p + sizeof *nh;
        const uint8_t *desc = name + ((nh->n_namesz + 3u) & ~3u);
        const uint8_t *next = desc + ((nh->n_descsz + 3u) & ~3u);
        if (next > end || next <= p) break;
        if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
          uint32_t n = nh->n_descsz > 32 ? 32 : nh->n_descsz;
          memcpy(m.build_id, desc, n);
          m.build_id_len = (uint16_t)n;
          break;
        }
        p = next;
      }
    }
  }
  if (hi == 0) return 0;
  m.load_bias = info->dlpi_addr;
  m.lo = info->dlpi_addr + lo;
  m.hi = info->dlpi_addr + hi;
  char exe[1024];
  const char *path = info->dlpi_name;
  if (!path || !*path) {
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return 0; /* the vdso has no name either; the main program always has one */
    exe[n] = 0;
    path = exe;
    m.flags = 1;
  }
  size_t len = strnlen(path, 1024);
  m.path_len = (uint16_t)len;
  lw_ring_write(&ring, LW_REC_MODULE, &m, sizeof m, path, (uint32_t)len);
  return 0;
}

static int find_self(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  uintptr_t probe = (uintptr_t)arg;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
    if (probe >= lo && probe < hi) {
      self_lo = lo;
      self_hi = hi;
      return 1;
    }
  }
  return 0;
}

/* ---- recording --------------------------------------------------------------------------- */

uint64_t lw_header_secret;
static int header_mode;            /* sampled mode: recorded blocks carry an in-band header */
static _Atomic long hashed_live;   /* sampled blocks without a header (aligned APIs) in live_set */

/* ---- resync: after an overflow, list the live sampled blocks so downstream converges ----------- */
static _Atomic int resync_wanted;
static _Atomic int resync_running;

#define RESYNC_BATCH 250 /* (address, size) pairs per record: 8 + 8 + 4000 bytes <= LW_RING_MAX_RECORD */
typedef struct {
  uint64_t count;
  uint64_t pairs[RESYNC_BATCH * 2];
  int n;
  int failed;
} resync_ctx;

static void resync_flush(resync_ctx *c) {
  if (c->n && !c->failed) {
    c->count = (uint64_t)c->n;
    if (lw_ring_write(&ring, LW_REC_RESYNC_ENTRIES, &c->count, 8, c->pairs, (uint32_t)c->n * 16u) == UINT64_MAX)
      c->failed = 1;
  }
  c->n = 0;
}

static void resync_add(uintptr_t addr, uint64_t size, void *arg) {
  resync_ctx *c = arg;
  if (c->failed) return;
  c->pairs[2 * c->n] = addr;
  c->pairs[2 * c->n + 1] = size;
  if (++c->n == RESYNC_BATCH) resync_flush(c);
}

/*
 * Runs on the thread that records next once the ring has room again (at most a quarter full), one
 * thread at a time. Entries added or removed while the list is written are settled downstream by
 * the events inside the BEGIN..END window. A list cut short by a full ring is abandoned and retried.
 */
__attribute__((noinline)) static void resync(void) {
  uint64_t w = atomic_load_explicit(&ring.hdr->write_pos, memory_order_relaxed);
  uint64_t r = atomic_load_explicit(&ring.hdr->read_pos, memory_order_relaxed);
  if (w - r > (ring.mask + 1) / 4) return;
  int idle = 0;
  if (!atomic_compare_exchange_strong(&resync_running, &idle, 1)) return;
  atomic_store(&resync_wanted, 0);
  /* One resync at a time (resync_running), so one buffer for all threads: 4 KiB kept off small
   * thread stacks, and out of thread-local storage, where it displaced the hot per-thread counters
   * (default sampling measured 1.25x instead of 1.05x with it there). */
  static resync_ctx ctx;
  ctx.n = 0;
  ctx.failed = 0;
  uint64_t epoch = now_ns();
  if (lw_ring_write(&ring, LW_REC_RESYNC_BEGIN, &epoch, 8, NULL, 0) == UINT64_MAX) {
    ctx.failed = 1;
  } else {
    lw_live_set_for_each(resync_add, &ctx);
    resync_flush(&ctx);
    if (!ctx.failed && lw_ring_write(&ring, LW_REC_RESYNC_END, &epoch, 8, NULL, 0) == UINT64_MAX) ctx.failed = 1;
  }
  if (ctx.failed) {
    atomic_store(&resync_wanted, 1);
    atomic_fetch_add_explicit(&ring.hdr->stats.resyncs_abandoned, 1, memory_order_relaxed);
  } else {
    atomic_fetch_add_explicit(&ring.hdr->stats.resyncs_completed, 1, memory_order_relaxed);
  }
  atomic_store(&resync_running, 0);
}

/* After every record: a drop asks for a resync (sampled mode keeps the live list it needs). */
static inline void after_write(int written) {
  if (!header_mode) return;
  if (!written) {
    atomic_store_explicit(&resync_wanted, 1, memory_order_relaxed);
  } else if (__builtin_expect(atomic_load_explicit(&resync_wanted, memory_order_relaxed), 0)) {
    resync();
  }
}

/* ---- allocator statistics: glibc's view of its arenas, for the fragmentation view ------------- */
#define STATS_INTERVAL_NS 5000000000ull
static _Atomic uint64_t next_stats_ns;

static void write_allocator_stats(uint64_t now) {
  struct mallinfo2 mi = mallinfo2(); /* takes each arena's lock briefly; we hold none of them here */
  uint64_t payload[5] = {now, mi.arena + mi.hblkhd, mi.uordblks + mi.hblkhd, mi.fordblks, mi.keepcost};
  lw_ring_write(&ring, LW_REC_ALLOCATOR_STATS, payload, sizeof payload, NULL, 0);
}

/* At most every 5 s, from whichever thread records then (the shim starts no threads of its own). */
static inline void maybe_allocator_stats(uint64_t now) {
  uint64_t due = atomic_load_explicit(&next_stats_ns, memory_order_relaxed);
  if (__builtin_expect(now < due, 1)) return;
  if (atomic_compare_exchange_strong(&next_stats_ns, &due, now + STATS_INTERVAL_NS)) write_allocator_stats(now);
}

/* Writes an ALLOC record for p; returns 1 when it was written. */
__attribute__((noinline)) static int record_alloc(void *p, size_t n, double weight, int kind) {
  int written = 0;
  tl_busy = 1;
  uint64_t ts = now_ns();
  if (ts >= record_after_ns) {
    uint64_t frames[LW_MAX_FRAMES];
    int truncated = 0;
    int nf = lw_unwind(frames, max_frames, &truncated);
    if (truncated) atomic_fetch_add_explicit(&ring.hdr->stats.stacks_truncated, 1, memory_order_relaxed);
    if (!tl_tid) tl_tid = (uint32_t)syscall(SYS_gettid);
    lw_alloc_payload a = {(uint64_t)(uintptr_t)p, n, weight, ts, tl_tid, (uint8_t)kind, (uint8_t)truncated, (uint16_t)nf};
    written = lw_ring_write(&ring, LW_REC_ALLOC, &a, sizeof a, frames, (uint32_t)nf * 8u) != UINT64_MAX;
    after_write(written);
    maybe_allocator_stats(ts);
  }
  tl_busy = 0;
  return written;
}

/* Writes a FREE record for p (before the real release); returns 1 when written. */
static int record_free(void *p, int kind, uint64_t len) {
  if (!atomic_load_explicit(&active, memory_order_relaxed) || tl_busy) return 0;
  tl_busy = 1;
  lw_free_payload f = {(uint64_t)(uintptr_t)p, (uint8_t)kind, {0}, len};
  int written = lw_ring_write(&ring, LW_REC_FREE, &f, sizeof f, NULL, 0) != UINT64_MAX;
  after_write(written);
  tl_busy = 0;
  return written;
}

/* Should a new block of n bytes be recorded? Consumes the thread's sampling countdown. */
static inline int want_record(size_t n, double *weight) {
  if (!atomic_load_explicit(&active, memory_order_relaxed)) return 0;
  /* The control word shares no line with the hot positions: it stays cached until someone flips it. */
  if (__builtin_expect(atomic_load_explicit(&ring.hdr->control, memory_order_relaxed) & LW_CONTROL_DORMANT, 0)) return 0;
  if (tl_busy) {
    atomic_fetch_add_explicit(&ring.hdr->stats.reentrant_calls, 1, memory_order_relaxed);
    return 0;
  }
  return lw_sampler_should_record(&tl_sampler, sample_bytes, n, weight);
}

/* Exact mode, or a block that cannot carry a header: record it, remembering it in live_set when sampled. */
static void record_unheadered(void *p, size_t n, double weight, int kind) {
  if (!p) return;
  if (sample_bytes != 0) {
    if (lw_live_set_insert((uintptr_t)p, n) != 0) {
      atomic_fetch_add_explicit(&ring.hdr->stats.live_set_full, 1, memory_order_relaxed);
      return;
    }
    atomic_fetch_add_explicit(&hashed_live, 1, memory_order_relaxed);
    record_alloc(p, n, weight, kind); /* dropped or not, it stays listed for the next resync */
    return;
  }
  record_alloc(p, n, weight, kind);
}

/* A block removed from live_set, if it was there. */
static inline int take_unheadered(void *p) {
  if (atomic_load_explicit(&hashed_live, memory_order_relaxed) <= 0 || !lw_live_set_remove((uintptr_t)p)) return 0;
  atomic_fetch_sub_explicit(&hashed_live, 1, memory_order_relaxed);
  return 1;
}

/*
 * A block with a header: listed in live_set and recorded. If the record is dropped (full ring) the
 * block stays listed and marked: the resync that follows the overflow reports it, so it is not lost.
 * Returns 0 only when the block cannot be listed (then it is not tracked at all).
 */
static int record_headered(void *user, size_t n, double weight) {
  if (lw_live_set_insert((uintptr_t)user, n) != 0) {
    atomic_fetch_add_explicit(&ring.hdr->stats.live_set_full, 1, memory_order_relaxed);
    return 0;
  }
  record_alloc(user, n, weight, LW_KIND_HEAP);
  return 1;
}

/* The free of a block marked sampled: recorded, then gone from live_set even if the record was dropped
 * (a resync then tells downstream it is gone). */
static void free_headered(void *user) {
  record_free(user, LW_KIND_HEAP, 0);
  lw_live_set_remove((uintptr_t)user);
}

/* The sampled slow path of malloc/calloc: a block with a header, recorded. */
__attribute__((noinline)) static void *alloc_sampled(size_t n, double weight, int zeroed) {
  size_t total;
  if (__builtin_add_overflow(n, (size_t)LW_HEADER_BYTES, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  uint8_t *raw = zeroed ? real_calloc(1, total) : real_malloc(total);
  if (!raw) return NULL;
  void *user = raw + LW_HEADER_BYTES;
  lw_header_set(user, record_headered(user, n, weight) ? LW_HDR_SAMPLED : LW_HDR_PLAIN);
  return user;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */
static int open_ring(void) {
  uint32_t pid = (uint32_t)getpid();
  if (lw_ring_create(&ring, run_dir, ring_bytes, pid, (uint32_t)getppid(), now_ns(), sample_bytes, ring_populate) != 0)
    return -1;
  dl_iterate_phdr(emit_module, NULL);
  uint64_t now = now_ns();
  atomic_store(&next_stats_ns, now + STATS_INTERVAL_NS);
  write_allocator_stats(now);
  return 0;
}

static void after_fork_in_child(void) {
  /* The child is tracked as its own process: new ring, empty live set, new thread id. */
  if (!atomic_load(&active)) return;
  atomic_store(&active, 0);
  tl_busy = 1;
  tl_tid = 0;
  lw_unwind_thread_reset();
  lw_ring_detach(&ring);
  lw_live_set_clear();
  if (open_ring() == 0) atomic_store(&active, 1);
  tl_busy = 0;
}

__attribute__((constructor)) static void leakwatch_init(void) {
  resolve_real();
  tl_busy = 1;
  sample_bytes = env_u64("LEAKWATCH_SAMPLE_BYTES", 524288);
  uint64_t mf = env_u64("LEAKWATCH_MAX_FRAMES", 48);
  max_frames = mf < 1 ? 1 : mf > LW_MAX_FRAMES ? LW_MAX_FRAMES : (int)mf;
  /* Exact mode bursts at millions of records per second, faster than a collector drains: a deep ring
   * absorbs the burst (tmpfs pages are only touched as the ring fills). */
  uint64_t default_ring = sample_bytes == 0 ? (256u << 20) : (8u << 20);
  ring_bytes = env_u64("LEAKWATCH_RING_BYTES", default_ring);
  if (ring_bytes < 65536) ring_bytes = 65536;
  ring_populate = env_u64("LEAKWATCH_RING_POPULATE", 0) != 0;
  while (ring_bytes & (ring_bytes - 1)) ring_bytes &= ring_bytes - 1; /* round down to 2^k */
  const char *dir = getenv("LEAKWATCH_RUN_DIR");
  if (dir && *dir && strlen(dir) < sizeof run_dir) strcpy(run_dir, dir);
  mkdir(run_dir, 0700); /* fine if it exists; the ring itself is 0600 */
  record_after_ns = now_ns() + env_u64("LEAKWATCH_START_DELAY", 0) * 1000000000ull;

  header_mode = sample_bytes != 0;
  if (syscall(SYS_getrandom, &lw_header_secret, sizeof lw_header_secret, 0) != (long)sizeof lw_header_secret)
    lw_header_secret = now_ns() * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uintptr_t)&lw_header_secret;
  lw_header_secret |= 1; /* never zero, and never equal to its complement */

  dl_iterate_phdr(find_self, (void *)(uintptr_t)&leakwatch_init);
  const char *uw = getenv("LEAKWATCH_UNWIND");
  lw_unwind_init(self_lo, self_hi, uw && strcmp(uw, "fp") == 0 ? LW_UNWIND_FP : LW_UNWIND_DWARF);
  if (lw_live_set_init((int)env_u64("LEAKWATCH_LIVE_SET_BITS", LW_LIVE_SET_DEFAULT_BITS)) == 0 && open_ring() == 0) {
    pthread_atfork(NULL, NULL, after_fork_in_child);
    atomic_store(&active, 1);
  }
  tl_busy = 0;
}

/* glibc's own exit-time cleanup (what valgrind and mtrace call): frees stdio buffers, the thread
 * stack cache, locale and loader data, so a clean exit does not show glibc's caches as leaks.
 * Weak: absent on other C libraries. Streams keep working, unbuffered, for later destructors. */
extern void __libc_freeres(void) __attribute__((weak));

__attribute__((destructor)) static void leakwatch_fini(void) {
  if (!atomic_load(&active)) return;
  if (__libc_freeres && env_u64("LEAKWATCH_FREERES", 1) != 0) __libc_freeres(); /* its frees are recorded */
  tl_busy = 1;
  dl_iterate_phdr(emit_module, NULL); /* libraries loaded since start, for symbolization */
  /* A resync still owed after an overflow is the only way this process's totals become right again:
   * at exit (and only then) wait a bounded 300 ms for the collector to make room for it. */
  for (int i = 0; i < 30 && header_mode && atomic_load(&resync_wanted); i++) {
    resync();
    if (!atomic_load(&resync_wanted)) break;
    struct timespec pause = {0, 10 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  uint64_t ts = now_ns();
  write_allocator_stats(ts);
  lw_ring_write(&ring, LW_REC_EXIT, &ts, sizeof ts, NULL, 0);
  ring.hdr->flags |= LW_FLAG_EXITED;
  tl_busy = 0;
  /* Keep recording: later destructors' frees are real frees of recorded blocks. */
}

/* ---- the interposed functions --------------------------------------------------------------- */

EXPORT void *malloc(size_t n) {
  if (__builtin_expect(!real_malloc, 0)) {
    if (atomic_load(&resolving)) return bootstrap_alloc(n, 16);
    resolve_real();
  }
  double weight;
  if (want_record(n, &weight)) {
    if (header_mode) return alloc_sampled(n, weight, 0);
    void *p = real_malloc(n);
    record_unheadered(p, n, weight, LW_KIND_HEAP);
    return p;
  }
  return real_malloc(n);
}

EXPORT void *calloc(size_t nmemb, size_t size) {
  size_t n;
  if (__builtin_mul_overflow(nmemb, size, &n)) {
    errno = ENOMEM;
    return NULL;
  }
  if (__builtin_expect(!real_calloc, 0)) {
    if (atomic_load(&resolving)) return bootstrap_alloc(n, 16);
    resolve_real();
  }
  double weight;
  if (want_record(n, &weight)) {
    if (header_mode) return alloc_sampled(n, weight, 1);
    void *p = real_calloc(nmemb, size);
    record_unheadered(p, n, weight, LW_KIND_HEAP);
    return p;
  }
  return real_calloc(nmemb, size);
}

EXPORT void free(void *p) {
  if (!p || in_bootstrap(p)) return;
  if (__builtin_expect(!real_free, 0)) resolve_real();
  if (header_mode) {
    enum lw_header_kind h = lw_header_kind(p);
    if (h != LW_HDR_NONE) {
      if (h == LW_HDR_SAMPLED) free_headered(p);
      lw_header_clear(p);
      real_free(lw_header_base(p));
      return;
    }
    if (take_unheadered(p)) record_free(p, LW_KIND_HEAP, 0);
  } else {
    record_free(p, LW_KIND_HEAP, 0); /* exact mode: every block was recorded */
  }
  real_free(p);
}

/* realloc failed after its free was recorded: the block is still live, so say so again. */
static void rerecord(void *p, size_t usable) {
  if (!tl_busy) record_alloc(p, usable, lw_sampler_weight(usable, sample_bytes), LW_KIND_HEAP);
}

/* Sampled mode: a realloc failed after p's free was recorded; p is live, record it (and list it) again. */
static void still_live(void *p, enum lw_header_kind h) {
  size_t usable = malloc_usable_size(p);
  double weight = lw_sampler_weight(usable, sample_bytes);
  if (h == LW_HDR_SAMPLED) {
    if (!record_headered(p, usable, weight)) lw_header_set(p, LW_HDR_PLAIN);
  } else {
    record_unheadered(p, usable, weight, LW_KIND_HEAP);
  }
}

EXPORT void *realloc(void *p, size_t n) {
  if (!p) return malloc(n);
  if (in_bootstrap(p)) {
    void *q = malloc(n);
    if (q) {
      size_t avail = (size_t)(bootstrap_arena + sizeof bootstrap_arena - (uint8_t *)p);
      memcpy(q, p, n < avail ? n : avail);
    }
    return q;
  }
  if (__builtin_expect(!real_realloc, 0)) resolve_real();
  if (n == 0) { /* glibc frees and returns NULL; keep that whatever p carries */
    free(p);
    return NULL;
  }
  double weight;
  if (!header_mode) {
    /* A realloc is a free and an allocation; the free goes first so a reuse is never reordered. */
    int freed = record_free(p, LW_KIND_HEAP, 0);
    void *q = real_realloc(p, n);
    if (q) {
      if (want_record(n, &weight)) record_unheadered(q, n, weight, LW_KIND_HEAP);
    } else if (freed) {
      rerecord(p, malloc_usable_size(p));
    }
    return q;
  }
  enum lw_header_kind h = lw_header_kind(p);
  int freed = 0;
  if (h == LW_HDR_SAMPLED) {
    freed = record_free(p, LW_KIND_HEAP, 0);
    lw_live_set_remove((uintptr_t)p);
  }
  else if (h == LW_HDR_NONE && take_unheadered(p)) freed = record_free(p, LW_KIND_HEAP, 0);
  int sample = want_record(n, &weight);
  if (h != LW_HDR_NONE) {
    uint8_t *base = lw_header_base(p);
    uint64_t tag = ((uint64_t *)base)[0];
    size_t total;
    if (__builtin_add_overflow(n, (size_t)LW_HEADER_BYTES, &total)) {
      errno = ENOMEM;
      if (freed) still_live(p, h);
      return NULL;
    }
    ((uint64_t *)base)[0] = 0; /* the old block may be released by the real realloc */
    uint8_t *raw = real_realloc(base, total);
    if (!raw) {
      ((uint64_t *)base)[0] = tag;
      if (freed) still_live(p, h);
      return NULL;
    }
    void *q = raw + LW_HEADER_BYTES;
    lw_header_set(q, sample && record_headered(q, n, weight) ? LW_HDR_SAMPLED : LW_HDR_PLAIN);
    return q;
  }
  if (sample) { /* an unmarked block grows into a sampled one: move it into a block with a header */
    size_t old = real_malloc_usable_size_fn ? (size_t)real_malloc_usable_size_fn(p) : 0;
    void *q = alloc_sampled(n, weight, 0);
    if (!q) return NULL;
    memcpy(q, p, old < n ? old : n);
    real_free(p);
    return q;
  }
  void *q = real_realloc(p, n);
  if (!q && freed) still_live(p, h);
  return q;
}

EXPORT size_t malloc_usable_size(void *p) {
  if (!p || in_bootstrap(p)) return 0;
  if (__builtin_expect(!real_malloc_usable_size_fn, 0)) {
    real_malloc_usable_size_fn = (void *(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
    if (!real_malloc_usable_size_fn) return 0;
  }
  if (header_mode && lw_header_kind(p) != LW_HDR_NONE)
    return (size_t)real_malloc_usable_size_fn(lw_header_base(p)) - LW_HEADER_BYTES;
  return (size_t)real_malloc_usable_size_fn(p);
}

EXPORT void *reallocarray(void *p, size_t nmemb, size_t size) {
  size_t n;
  if (__builtin_mul_overflow(nmemb, size, &n)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(p, n);
}

/* Aligned allocations cannot move their start by a header: sampled ones are remembered in live_set. */
#define ALIGNED_ENTRY(call, n)                                  \
  double weight;                                                \
  int rec = want_record((n), &weight);                          \
  void *p = (call);                                             \
  if (rec) record_unheadered(p, (n), weight, LW_KIND_HEAP);     \
  return p;

EXPORT int posix_memalign(void **out, size_t align, size_t n) {
  if (__builtin_expect(!real_posix_memalign, 0)) {
    if (atomic_load(&resolving)) {
      *out = bootstrap_alloc(n, align);
      return *out ? 0 : ENOMEM;
    }
    resolve_real();
  }
  double weight;
  int rec = want_record(n, &weight);
  int rc = real_posix_memalign(out, align, n);
  if (rc == 0 && rec) record_unheadered(*out, n, weight, LW_KIND_HEAP);
  return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t n) {
  if (__builtin_expect(!real_aligned_alloc, 0)) {
    if (atomic_load(&resolving)) return bootstrap_alloc(n, align);
    resolve_real();
  }
  ALIGNED_ENTRY(real_aligned_alloc(align, n), n)
}

EXPORT void *memalign(size_t align, size_t n) {
  if (__builtin_expect(!real_memalign, 0)) {
    if (atomic_load(&resolving)) return bootstrap_alloc(n, align);
    resolve_real();
  }
  ALIGNED_ENTRY(real_memalign(align, n), n)
}

EXPORT void *valloc(size_t n) {
  if (__builtin_expect(!real_valloc, 0)) resolve_real();
  ALIGNED_ENTRY(real_valloc(n), n)
}

EXPORT void *pvalloc(size_t n) {
  if (__builtin_expect(!real_pvalloc, 0)) resolve_real();
  ALIGNED_ENTRY(real_pvalloc(n), n)
}

/*
 * Application mappings, reported as kind mmap and never mixed with heap bytes. Every mapping is
 * recorded (they are few and large; sampling would keep nearly all of them anyway). The allocator's
 * own mmaps do not pass through here: glibc calls the system call directly. An unmap records the
 * range, so a partial unmap leaves the rest of the mapping outstanding downstream.
 */
static void *mmap_entry(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (__builtin_expect(!real_mmap, 0)) {
    if (atomic_load(&resolving)) return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    resolve_real();
  }
  void *p = real_mmap(addr, len, prot, flags, fd, off);
  if (p != MAP_FAILED && atomic_load_explicit(&active, memory_order_relaxed) && !tl_busy)
    record_alloc(p, len, (double)len, LW_KIND_MMAP);
  return p;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap_entry(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap_entry(addr, len, prot, flags, fd, off);
}

EXPORT int munmap(void *addr, size_t len) {
  if (__builtin_expect(!real_munmap, 0)) {
    if (atomic_load(&resolving)) return (int)syscall(SYS_munmap, addr, len);
    resolve_real();
  }
  int recorded = record_free(addr, LW_KIND_MMAP, len); /* before: a reuse of the range comes after */
  int rc = real_munmap(addr, len);
  if (rc != 0 && recorded && !tl_busy) record_alloc(addr, len, (double)len, LW_KIND_MMAP);
  return rc;
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...) {
  void *new_addr = NULL;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void *);
    va_end(ap);
  }
  if (__builtin_expect(!real_mremap, 0)) resolve_real();
  int recorded = record_free(old, LW_KIND_MMAP, old_len);
  void *p = real_mremap(old, old_len, new_len, flags, new_addr);
  if (!tl_busy && atomic_load_explicit(&active, memory_order_relaxed)) {
    if (p != MAP_FAILED) record_alloc(p, new_len, (double)new_len, LW_KIND_MMAP);
    else if (recorded) record_alloc(old, old_len, (double)old_len, LW_KIND_MMAP);
  }
  return p;
}

EXPORT void *dlopen(const char *file, int mode) {
  if (__builtin_expect(!real_dlopen, 0)) resolve_real();
  void *h = real_dlopen(file, mode);
  if (h && atomic_load(&active) && !tl_busy) {
    tl_busy = 1;
    dl_iterate_phdr(emit_module, NULL); /* the collector keeps each module once */
    tl_busy = 0;
  }
  return h;
}
