#define _GNU_SOURCE
#include "recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "modules.h"
#include "resync.h"
#include "unwinding.h"

_Atomic int lw_active;
uint64_t lw_sample_bytes = 524288;
lw_ring lw_the_ring;
LW_TLS int lw_tl_busy;
LW_TLS lw_sampler lw_tl_sampler;

static LW_TLS uint32_t tl_tid;
static int forked_child; /* a child of fork() before it execs: no dl_iterate_phdr (its lock may be held) */
static _Atomic uint64_t next_modules_ns;

/* A frame near the allocation site in no module written yet: a library loaded since (dlopen is not
 * hooked). Walk the loaded objects again, at most every 100 ms (JIT code is in no module, always). */
static void maybe_new_modules(const uint64_t *frames, int nf, uint64_t now) {
  if (forked_child) return;
  int check = nf < 8 ? nf : 8;
  for (int k = 0; k < check; k++) {
    if (lw_modules_contains((uintptr_t)frames[k])) continue;
    uint64_t due = atomic_load_explicit(&next_modules_ns, memory_order_relaxed);
    if (now >= due && atomic_compare_exchange_strong(&next_modules_ns, &due, now + 100000000ull))
      lw_modules_write_new(&lw_the_ring);
    return;
  }
}
static lw_config config;
static uint64_t record_after_ns; /* LEAKWATCH_START_DELAY: nothing is recorded (or listed) before */

/* ---- ownership: a child that skipped the fork handlers must not write the parent's ring ------------ */
/* A page the kernel zeroes in any child with its own address space (MADV_WIPEONFORK, Linux 4.14+):
 * _Fork and clone children see 0 and stay silent; the fork handler sets it again for a real child. */
static volatile uint64_t *owner_token;
static pid_t owner_pid; /* fallback where the kernel refuses MADV_WIPEONFORK: a getpid per record */

static void owner_claim(void) {
  if (owner_token) *owner_token = 1;
  owner_pid = (pid_t)syscall(SYS_getpid);
}

static inline int owner_ok(void) {
  if (__builtin_expect(owner_token != NULL, 1)) return *owner_token == 1;
  return (pid_t)syscall(SYS_getpid) == owner_pid;
}

static void owner_init(void) {
  void *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return;
  if (madvise(page, 4096, MADV_WIPEONFORK) != 0) {
    munmap(page, 4096);
    return;
  }
  owner_token = page;
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* An allocation's timestamp: the coarse wall clock (the kernel's last tick, milliseconds apart). The
 * collector and the streams-app use it for ages and trends, in seconds; the precise clock cost 32 ns
 * a call on this project's kvm-clock VM against 5 ns, a tenth of exact mode's cost per allocation. */
static inline uint64_t event_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- allocator statistics: glibc's view of its arenas, for the fragmentation view ------------- */
/* mallinfo2 walks every free chunk of every arena under that arena's lock: on a fragmented heap the
 * other threads of an arena wait for it. So it runs rarely (LEAKWATCH_ALLOCATOR_STATS_SECONDS, 60 s)
 * and backs off by its own cost: after a walk of d, the next waits at least 10,000 d (<= 0.01% of
 * the time holding arena locks), from whichever thread records then (the shim starts no threads).
 * Due times are on the clock the recording path reads anyway (event_ns, CLOCK_REALTIME_COARSE). */
static _Atomic uint64_t next_stats_ns;

static void write_allocator_stats(void) {
  uint64_t t0 = mono_ns();
  struct mallinfo2 mi = mallinfo2();
  uint64_t d = mono_ns() - t0;
  uint64_t now = now_ns();
  uint64_t wait = d * 10000 > config.allocator_stats_interval_ns ? d * 10000 : config.allocator_stats_interval_ns;
  atomic_store(&next_stats_ns, config.allocator_stats_interval_ns ? now + wait : UINT64_MAX);
  lw_allocator_stats_payload s = {now, mi.arena + mi.hblkhd, mi.uordblks + mi.hblkhd, mi.fordblks, mi.keepcost};
  lw_ring_write(&lw_the_ring, LW_REC_ALLOCATOR_STATS, &s, sizeof s, NULL, 0);
}

static inline void maybe_allocator_stats(uint64_t now) {
  uint64_t due = atomic_load_explicit(&next_stats_ns, memory_order_relaxed);
  if (__builtin_expect(now < due, 1)) return;
  if (atomic_compare_exchange_strong(&next_stats_ns, &due, UINT64_MAX)) write_allocator_stats();
}

/* After every record: a drop asks for a resync (sampled mode keeps the live list it needs). */
static inline void after_write(int written) {
  if (lw_sample_bytes == 0) return;
  if (!written) lw_resync_request();
  else if (__builtin_expect(lw_resync_pending(), 0)) lw_resync_run(&lw_the_ring, now_ns());
}

static int write_free(uint64_t addr, int kind, uint64_t len) {
  lw_free_payload f = {addr, (uint8_t)kind, {0}, len};
  int written = lw_ring_write(&lw_the_ring, LW_REC_FREE, &f, sizeof f, NULL, 0) != UINT64_MAX;
  after_write(written);
  return written;
}

/* ---- recording --------------------------------------------------------------------------------- */

static void record_alloc_from(const lw_walk_start *from, void *p, uint64_t n, double weight, int kind);

__attribute__((noinline)) void lw_record_alloc(void *p, uint64_t n, double weight, int kind) {
  record_alloc_from(NULL, p, n, weight, kind);
}

__attribute__((noinline)) static void record_alloc_from(const lw_walk_start *from, void *p, uint64_t n, double weight,
                                                        int kind) {
  if (!owner_ok()) return;
  lw_tl_busy = 1;
  uint64_t ts = event_ns();
  if (ts < record_after_ns) goto out; /* the warm-up: not recorded and not listed */
  if (lw_sample_bytes != 0 && kind == LW_KIND_HEAP) {
    uint64_t old_size = 0;
    switch (lw_live_set_insert((uintptr_t)p, n, &old_size)) {
      case LW_LIVE_INSERTED:
        break;
      case LW_LIVE_REPLACED: /* the earlier block at p was freed where the shim could not see it */
        atomic_fetch_add_explicit(&lw_the_ring.hdr->stats.freed_elsewhere, 1, memory_order_relaxed);
        write_free((uint64_t)(uintptr_t)p, LW_KIND_HEAP, 0);
        break;
      case LW_LIVE_BUSY:
        atomic_fetch_add_explicit(&lw_the_ring.hdr->stats.live_set_busy, 1, memory_order_relaxed);
        goto out;
      default:
        atomic_fetch_add_explicit(&lw_the_ring.hdr->stats.live_set_full, 1, memory_order_relaxed);
        goto out;
    }
  }
  {
    uint64_t frames[LW_MAX_FRAMES];
    int truncated = 0;
    int nf = lw_unwind_from(from, frames, config.max_frames, &truncated);
    if (truncated) atomic_fetch_add_explicit(&lw_the_ring.hdr->stats.stacks_truncated, 1, memory_order_relaxed);
    if (!tl_tid) tl_tid = (uint32_t)syscall(SYS_gettid);
    maybe_new_modules(frames, nf, ts); /* before the ALLOC: the collector reads the module first */
    if (__builtin_expect(atomic_load_explicit(&lw_attached, memory_order_relaxed), 0) && !forked_child)
      lw_attach_poll(ts);
    lw_alloc_payload a = {(uint64_t)(uintptr_t)p, n, weight, ts, tl_tid, (uint8_t)kind, (uint8_t)truncated, (uint16_t)nf};
    /* Dropped or not, a sampled block stays listed: the resync that follows the overflow restores it. */
    int written = lw_ring_write(&lw_the_ring, LW_REC_ALLOC, &a, sizeof a, frames, (uint32_t)nf * 8u) != UINT64_MAX;
    after_write(written);
    maybe_allocator_stats(ts);
  }
out:
  lw_tl_busy = 0;
}

__attribute__((noinline)) int lw_record_free(void *p, uint64_t *size) {
  if (!owner_ok()) return 0;
  int was_busy = lw_tl_busy;
  /* Sampled: off the list first, so a resync triggered by this very write cannot list it. */
  if (lw_sample_bytes != 0 && !lw_live_set_remove((uintptr_t)p, size)) return 0;
  if (was_busy) atomic_fetch_add_explicit(&lw_the_ring.hdr->stats.frees_reentrant, 1, memory_order_relaxed);
  lw_tl_busy = 1;
  int written = write_free((uint64_t)(uintptr_t)p, LW_KIND_HEAP, 0);
  lw_tl_busy = was_busy;
  (void)written;
  return 1; /* recorded, or dropped and left to the resync: either way downstream learns of it */
}

void lw_record_still_live(void *p, uint64_t size) {
  if (lw_tl_busy || !atomic_load_explicit(&lw_active, memory_order_relaxed)) return;
  lw_record_alloc(p, size, lw_sampler_weight(size, lw_sample_bytes), LW_KIND_HEAP);
}

/* Called by the entry points (lw_on_alloc, inlined into them): the walk starts at that call, not
 * four shim frames below it. __builtin_frame_address gives this function a frame pointer, so the
 * caller's rbp is saved at fp[0] and its return address at fp[1]. */
__attribute__((noinline)) void lw_on_alloc_slow(void *p, size_t n, uint64_t sample_bytes) {
  const uintptr_t *fp = __builtin_frame_address(0);
  lw_walk_start from = {fp[1], (uintptr_t)(fp + 2), fp[0]};
  if (sample_bytes == 0) {
    if (p && lw_recording_allowed()) record_alloc_from(&from, p, n, (double)n, LW_KIND_HEAP);
    return;
  }
  /* The countdown ran out: every way out of here re-arms it. */
  double weight;
  if (!p || !lw_recording_allowed()) {
    lw_sampler_rearm(&lw_tl_sampler, sample_bytes);
    return;
  }
  if (lw_sampler_reached(&lw_tl_sampler, sample_bytes, n, &weight)) record_alloc_from(&from, p, n, weight, LW_KIND_HEAP);
}

void lw_on_map(void *p, size_t len) {
  if (p == MAP_FAILED || lw_tl_busy || !lw_ring_ready()) return;
  lw_record_alloc(p, len, (double)len, LW_KIND_MMAP);
}

int lw_on_unmap(void *addr, size_t len) {
  if (!atomic_load_explicit(&lw_active, memory_order_relaxed) || !owner_ok()) return 0;
  int was_busy = lw_tl_busy;
  if (was_busy) atomic_fetch_add_explicit(&lw_the_ring.hdr->stats.frees_reentrant, 1, memory_order_relaxed);
  lw_tl_busy = 1;
  int written = write_free((uint64_t)(uintptr_t)addr, LW_KIND_MMAP, len);
  lw_tl_busy = was_busy;
  return written;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

/* Is a collector serving the run directory? It holds a POSIX lock on collector.lock while it runs. */
static int collector_present(void) {
  char path[LW_RUN_DIR_MAX + 32];
  size_t n = strlen(config.run_dir);
  memcpy(path, config.run_dir, n);
  memcpy(path + n, "/collector.lock", 16);
  int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct flock lk;
  memset(&lk, 0, sizeof lk);
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  int held = syscall(SYS_fcntl, fd, F_GETLK, &lk) == 0 && lk.l_type != F_UNLCK;
  syscall(SYS_close, fd);
  return held;
}

/* A collector served the run directory when the ring was made: the ring is kept at exit even when
 * that collector is down by then (restarting) and had not read from it yet. */
static int served_at_start;

static int open_ring(int child) {
  if (lw_ring_create(&lw_the_ring, config.run_dir, config.ring_bytes, (uint32_t)syscall(SYS_getpid),
                     (uint32_t)syscall(SYS_getppid), now_ns(), lw_sample_bytes, config.ring_populate && !child) != 0)
    return -1;
  lw_the_ring.full_wait_ns = config.ring_full_wait_ns;
  /* Made before any ring could count them (while the real functions were looked up); a forked child
   * made none (its parent's ring counts them). */
  if (!child)
    atomic_store(&lw_the_ring.hdr->stats.bootstrap_allocations, atomic_load(&lw_bootstrap_allocations));
  if (child) {
    lw_modules_write_known(&lw_the_ring);
    atomic_store(&next_stats_ns, config.allocator_stats_interval_ns ? now_ns() + config.allocator_stats_interval_ns : UINT64_MAX);
  } else {
    lw_modules_write_new(&lw_the_ring);
    write_allocator_stats();
  }
  served_at_start = collector_present();
  return 0;
}

/* Runs in the child of fork() with one thread, from glibc's fork handlers: no lock may be taken here
 * (another parent thread may have held any of them), so no dl_iterate_phdr, no mallinfo2, no stdio.
 * The child's ring is made when it first records (most children exec before that, and an unused
 * ring would be left behind: exec runs no destructor). */
_Atomic int lw_child_pending;

static void after_fork_in_child(void) {
  if (!atomic_load(&lw_active) && !atomic_load(&lw_child_pending)) return;
  atomic_store(&lw_active, 0);
  lw_tl_busy = 1;
  tl_tid = 0;
  forked_child = 1;
  owner_claim();
  lw_unwind_after_fork();
  lw_resync_reset();
  lw_ring_detach(&lw_the_ring);
  /* Sampled: the parent's list is not the child's. Exact mode keeps its saturated filter (no list). A
   * clear never zeroes the bootstrap arena's bytes. */
  if (lw_sample_bytes != 0) lw_live_set_clear();
  /* The child would draw the very intervals its parent draws (same generator state): pre-forked
   * workers would sample in lockstep. It reseeds from its own thread id at its next allocation. */
  lw_tl_sampler.seeded = 0;
  lw_tl_sampler.bytes_until_sample = 0;
  atomic_store(&lw_child_pending, 1);
  lw_tl_busy = 0;
}

/* The forked child's first recording: its ring, if a collector serves the run directory (a child
 * nobody collects would only leave a file behind). */
__attribute__((noinline)) void lw_child_open(void) {
  int one = 1;
  if (!atomic_compare_exchange_strong(&lw_child_pending, &one, 0) || !owner_ok()) return;
  int was_busy = lw_tl_busy;
  lw_tl_busy = 1;
  if (collector_present() && open_ring(1) == 0) atomic_store(&lw_active, 1);
  lw_tl_busy = was_busy;
}

/* The start shared by a preloaded shim (settings from the environment) and an attach (from text). */
static int start_recording(uintptr_t self_probe, const char *settings) {
  static int once;
  lw_tl_busy = 1;
  if (settings) lw_config_read_text(&config, settings);
  else lw_config_read(&config);
  /* Every free is asked about in exact mode (which keeps no list), and while an attach after an
   * earlier one changes the mode (an exact-mode attach after a sampled one must not let free skip
   * blocks on that session's filter); a sampled start clears the filter below. */
  if (once || config.sample_bytes == 0) lw_live_set_skip_none();
  lw_sample_bytes = config.sample_bytes;
  lw_shim_route_malloc();
  record_after_ns = event_ns() + config.start_delay_ns; /* the clock allocations are stamped with */
  if (!once) {
    uintptr_t lo = 0, hi = 0;
    lw_modules_range_of(self_probe, &lo, &hi);
    lw_unwind_init(lo, hi, config.unwinder);
    owner_init();
  }
  owner_claim();
  int ok = 0;
  if (lw_config_check_run_dir(config.run_dir) == 0 &&
      (lw_sample_bytes == 0 || lw_live_set_init(config.live_set_bits) == 0)) {
    if (lw_sample_bytes != 0) lw_live_set_clear(); /* an earlier attach's blocks: that ring is closed */
    lw_resync_reset();
    if (open_ring(0) == 0) {
      if (settings) lw_the_ring.hdr->flags |= LW_FLAG_ATTACHED;
      if (!once) pthread_atfork(NULL, NULL, after_fork_in_child);
      once = 1;
      atomic_store(&lw_active, 1);
      ok = 1;
    }
  }
  lw_tl_busy = 0;
  return ok ? 0 : -1;
}

void lw_recorder_start(uintptr_t self_probe) { start_recording(self_probe, NULL); }

int lw_recorder_attach(uintptr_t self_probe, const char *settings) {
  if (atomic_load(&lw_active)) return -1;
  return start_recording(self_probe, settings);
}

/* The last records of an attach: what an exit writes, with the ring marked detached (the process
 * goes on; its collector retires the ring once drained). Recording stops first: a thread inside
 * the shim right now may still finish its record after these, and the collector ignores it. */
int lw_recorder_detach(void) {
  if (!atomic_load(&lw_active) || !owner_ok()) return -1;
  int was_busy = lw_tl_busy;
  lw_tl_busy = 1;
  atomic_store(&lw_active, 0);
  /* (no lw_modules_write_new: it walks the loaded objects under the loader's lock, which the thread
   * running this may have been stopped holding; modules were written as frames needed them) */
  write_allocator_stats();
  lw_exit_payload e = {now_ns()};
  lw_ring_write(&lw_the_ring, LW_REC_EXIT, &e, sizeof e, NULL, 0);
  lw_the_ring.hdr->flags |= LW_FLAG_EXITED | LW_FLAG_DETACHED;
  if (!collector_present() && !served_at_start && atomic_load(&lw_the_ring.hdr->read_pos) == 0)
    unlink(lw_the_ring.path);
  lw_tl_busy = was_busy;
  return 0;
}

/*
 * The shim's destructor. It changes nothing that a later destructor or a still-running thread could
 * trip over: the ring stays mapped and recording (later frees are real frees of recorded blocks),
 * glibc's caches are left alone (no __libc_freeres: other threads and later destructors still use
 * them). It writes the modules loaded since start, a resync still owed, the last allocator statistics
 * and EXIT; when no collector serves the run directory and none ever read the ring, the ring file is
 * removed (nobody would read it; the mapping stays valid until the process is gone).
 */
void lw_recorder_exit(void) {
  if (!atomic_load(&lw_active) || !owner_ok()) return;
  int was_busy = lw_tl_busy;
  lw_tl_busy = 1;
  lw_unwind_report();
  lw_modules_write_new(&lw_the_ring);
  int collector = collector_present();
  /* A resync still owed after an overflow is the only way this process's totals become right again:
   * at exit (and only then) wait a bounded 300 ms for the collector to make room for it. */
  for (int i = 0; i < 30 && collector && lw_sample_bytes != 0 && lw_resync_pending(); i++) {
    if (lw_resync_run(&lw_the_ring, now_ns())) break;
    struct timespec pause = {0, 10 * 1000 * 1000};
    syscall(SYS_nanosleep, &pause, NULL);
  }
  write_allocator_stats();
  lw_exit_payload e = {now_ns()};
  lw_ring_write(&lw_the_ring, LW_REC_EXIT, &e, sizeof e, NULL, 0);
  lw_the_ring.hdr->flags |= LW_FLAG_EXITED;
  /* Removed only when no collector serves the run directory, none did when the ring was made and none
   * ever read from it: otherwise the ring is kept for the collector's successor (one restarted or
   * upgraded while this process exits would else lose the process's last records and its exit). */
  if (!collector && !served_at_start && atomic_load(&lw_the_ring.hdr->read_pos) == 0) unlink(lw_the_ring.path);
  lw_tl_busy = was_busy;
}
