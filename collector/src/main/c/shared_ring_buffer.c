#define _GNU_SOURCE
#include "shared_ring_buffer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older headers lack it, older kernels refuse it */
#endif

/* System calls through syscall(): none of them is a cancellation point, so a thread cancelled while
 * inside an allocation can never be unwound out of the shim half way through. */
static int sys_open(const char *path, int flags, int mode) {
  return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}
static void sys_close(int fd) { syscall(SYS_close, fd); }

/* Writes the decimal form of v at p; returns the end. No locale, no allocation. */
static char *put_u64(char *p, uint64_t v) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *p++ = tmp[--n];
  return p;
}

static char *put_str(char *p, const char *end, const char *s) {
  while (*s && p < end) *p++ = *s++;
  return p;
}

static void read_cmdline(lw_ring_header *h) {
  /* thread-self: the process's own file is empty once its main thread has ended */
  int fd = sys_open("/proc/thread-self/cmdline", O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) fd = sys_open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return;
  char *dst = (char *)h + LW_RING_CMDLINE_OFFSET;
  ssize_t total = 0;
  while (total < (ssize_t)LW_RING_CMDLINE_MAX) {
    ssize_t n = syscall(SYS_read, fd, dst + total, LW_RING_CMDLINE_MAX - (size_t)total);
    if (n <= 0) break;
    total += n;
  }
  sys_close(fd);
  h->cmdline_len = (uint32_t)total;
}

/* Field 22 of /proc/self/stat (start time in clock ticks); comm may hold spaces and ')'. */
static uint64_t read_start_ticks(void) {
  char buf[1024];
  int fd = sys_open("/proc/self/stat", O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return 0;
  ssize_t n = syscall(SYS_read, fd, buf, sizeof buf - 1);
  sys_close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  int field = 2;
  for (; *p && field < 22; p++)
    if (*p == ' ') field++;
  uint64_t v = 0;
  while (*p >= '0' && *p <= '9') v = v * 10 + (uint64_t)(*p++ - '0');
  return v;
}

/* Backs [off, off + len) of the file for real. tmpfs and local filesystems support fallocate; where
 * it is refused for lack of support, writing the tail byte of each page has the same effect. */
static int reserve(int fd, uint64_t off, uint64_t len) {
  /* tmpfs's fallocate stops with EINTR whenever a signal is pending (a timer, SIGCHLD): try again. */
  for (int tries = 0; tries < 8; tries++) {
    if (syscall(SYS_fallocate, fd, 0, (off_t)off, (off_t)len) == 0) return 0;
    if (errno != EINTR) break;
  }
  if (errno != EOPNOTSUPP) return -1;
  for (uint64_t p = off; p < off + len; p += 4096) {
    char zero = 0;
    int tries = 0;
    while (syscall(SYS_pwrite64, fd, &zero, 1, (off_t)(p | 4095)) != 1)
      if (errno != EINTR || ++tries == 8) return -1;
  }
  return 0;
}

int lw_ring_create(lw_ring *ring, const char *dir, uint64_t capacity, uint32_t pid, uint32_t ppid,
                   uint64_t start_time_ns, uint64_t sample_bytes, int populate) {
  if (capacity < 4096 || (capacity & (capacity - 1))) return -1;
  char final_path[LW_RING_PATH_MAX], tmp_path[LW_RING_PATH_MAX];
  const char *end = final_path + sizeof final_path - 40;
  char *p = put_str(final_path, end, dir);
  p = put_str(p, end, "/leakwatch-");
  p = put_u64(p, pid);
  *p++ = '-';
  p = put_u64(p, start_time_ns);
  size_t stem = (size_t)(p - final_path);
  memcpy(tmp_path, final_path, stem);
  memcpy(p, ".ring", 6);
  memcpy(tmp_path + stem, ".tmp", 5);

  int fd = sys_open(tmp_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  size_t size = LW_RING_HEADER_SIZE + capacity;
  /* Chunks of a sixteenth of the ring, at least LW_RING_RESERVE_CHUNK: the next one is reserved a whole
   * chunk ahead, so writers keep room while a reserving thread is descheduled (exact mode fills
   * ~100 MB/s; a 16 MiB chunk of a 256 MiB ring is 150 ms of that). */
  uint64_t chunk = capacity / 16 > LW_RING_RESERVE_CHUNK ? capacity / 16 : LW_RING_RESERVE_CHUNK;
  /* A sampled ring starts at LW_RING_FIRST_RESERVE and doubles as its first lap needs (see
   * lookahead()): most processes are short and write a handful of records, and reserving two chunks
   * up front allocated and charged 512 tmpfs pages at every process start, 0.7 ms of a /bin/true's
   * 2 ms under the shim. Exact mode floods from its first allocation, so it starts at two chunks. */
  uint64_t first = sample_bytes != 0 ? LW_RING_FIRST_RESERVE : 2 * chunk;
  if (populate || first > capacity) first = capacity;
  struct stat st;
  if (syscall(SYS_ftruncate, fd, (off_t)size) != 0 || reserve(fd, 0, LW_RING_HEADER_SIZE + first) != 0 ||
      syscall(SYS_fstat, fd, &st) != 0) {
    sys_close(fd);
    unlink(tmp_path);
    return -1;
  }
  void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
  sys_close(fd);
  if (m == MAP_FAILED) {
    unlink(tmp_path);
    return -1;
  }
  lw_ring_header *h = (lw_ring_header *)m;
  memcpy(h->magic, LW_RING_MAGIC, 8);
  h->version = LW_RING_VERSION;
  h->header_size = LW_RING_HEADER_SIZE;
  h->capacity = capacity;
  h->pid = pid;
  h->ppid = ppid;
  h->start_time_ns = start_time_ns;
  h->sample_bytes = sample_bytes;
  h->proc_start_ticks = read_start_ticks();
  read_cmdline(h);
  atomic_store_explicit(&h->write_pos, 0, memory_order_relaxed);
  atomic_store_explicit(&h->read_pos, 0, memory_order_release);
  if (rename(tmp_path, final_path) != 0) {
    munmap(m, size);
    unlink(tmp_path);
    return -1;
  }
  ring->hdr = h;
  ring->data = (uint8_t *)m + LW_RING_HEADER_SIZE;
  ring->mask = capacity - 1;
  ring->mapping_size = size;
  atomic_store(&ring->reserved, first);
  ring->chunk = chunk;
  atomic_store(&ring->extending, 0);
  atomic_store(&ring->reserve_failed, 0);
  atomic_store(&ring->reserve_backoff, 0);
  ring->full_wait_ns = 0;
  atomic_store(&ring->gave_up_at, UINT64_MAX);
  atomic_store(&ring->extend_gave_up_at, UINT64_MAX);
  ring->exact = sample_bytes == 0;
  ring->dev = st.st_dev;
  ring->ino = st.st_ino;
  memcpy(ring->path, final_path, sizeof ring->path);
  return 0;
}

void lw_ring_detach(lw_ring *ring) {
  if (ring->hdr) munmap(ring->hdr, ring->mapping_size);
  ring->hdr = NULL;
  ring->data = NULL;
}

void lw_ring_discard(lw_ring *ring) {
  if (!ring->hdr) return;
  lw_ring_detach(ring);
  unlink(ring->path);
}

/* How far ahead of the writers space is reserved: a chunk, or half of what is reserved while that is
 * less (a small sampled ring extends when half used, before it is full). */
static inline uint64_t lookahead(const lw_ring *ring, uint64_t have) {
  return have < ring->chunk ? have / 2 : ring->chunk;
}

/*
 * Backs the first lap up to `need` data bytes. One thread at a time; the others wait for it (an exact
 * ring's writers, or a ring told to wait: wait_for_extension) or drop their record. The file is
 * reopened by name and checked to be the same inode (the shim keeps no
 * descriptor open: a program that closes every descriptor, or counts them, must not meet ours).
 */
__attribute__((noinline)) static int extend_reservation(lw_ring *ring, uint64_t need) {
  if (atomic_load_explicit(&ring->reserve_failed, memory_order_relaxed)) return 0;
  /* After a failure, the next LW_RING_RESERVE_BACKOFF calls do not try (a full tmpfs, no descriptor
   * left, a run directory the process can no longer reach): a retry costs system calls, and a cause
   * that passes (the collector retiring rings, descriptors closed) must not leave the ring short for
   * the rest of the process's life. */
  uint32_t skip = atomic_load_explicit(&ring->reserve_backoff, memory_order_relaxed);
  if (skip > 0) {
    atomic_compare_exchange_strong(&ring->reserve_backoff, &skip, skip - 1);
    return 0;
  }
  int idle = 0;
  if (!atomic_compare_exchange_strong(&ring->extending, &idle, 1)) return 0;
  uint64_t have = atomic_load(&ring->reserved);
  int ok = 1, saved = errno; /* the program's: nothing here may change it */
  uint64_t populate_from = 0, populate_to = 0;
  if (need > have) {
    uint64_t cap = ring->mask + 1;
    /* Below a chunk the reservation doubles (at least), beyond it grows a chunk at a time. */
    uint64_t upto;
    if (need <= ring->chunk) {
      upto = have * 2;
      while (upto < need) upto *= 2;
    } else {
      upto = (need + ring->chunk - 1) & ~(ring->chunk - 1);
    }
    if (upto > cap) upto = cap;
    int fd = sys_open(ring->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0);
    struct stat st;
    int known = fd >= 0 && syscall(SYS_fstat, fd, &st) == 0;
    if (known && (st.st_dev != ring->dev || st.st_ino != ring->ino)) {
      ok = 0; /* another file under our ring's name: never write through it */
      atomic_store(&ring->reserve_failed, 1);
    } else if (!known || reserve(fd, LW_RING_HEADER_SIZE + have, upto - have) != 0) {
      ok = 0;
      atomic_store(&ring->reserve_backoff, LW_RING_RESERVE_BACKOFF);
    } else {
      atomic_store(&ring->reserved, upto);
      populate_from = have;
      populate_to = upto;
    }
    if (fd >= 0) sys_close(fd);
  }
  atomic_store(&ring->extending, 0);
  /* Map the new stretch into this process's page tables now: otherwise each of its pages faults on
   * the first record written there, a fault a page inside the program's allocations. After the
   * stretch is published and the extension let go: the reservation is what keeps writers from a hole,
   * and populating 16 MiB (an exact ring's chunk) takes long enough that writers on other threads
   * would run through the lookahead meanwhile and drop records as unreserved (exact mode, 4 threads
   * on 2 cores: 18,000 of 800,000). Populating pages that writers have faulted already changes
   * nothing in them. A MiB a call, so that another thread's mmap or munmap, which waits for the
   * process's mmap lock, waits for 256 pages at most. A kernel before 5.14 refuses it (EINVAL), as
   * does one whose pages are larger than the ring header, and the pages fault as before. */
  for (uint64_t at = populate_from; at < populate_to; at += LW_RING_RESERVE_CHUNK) {
    uint64_t len = populate_to - at < LW_RING_RESERVE_CHUNK ? populate_to - at : LW_RING_RESERVE_CHUNK;
    syscall(SYS_madvise, (uint8_t *)ring->data + at, (size_t)len, MADV_POPULATE_WRITE);
  }
  errno = saved;
  return ok;
}

static inline void copy_in(lw_ring *ring, uint64_t pos, const void *src, uint32_t len) {
  uint64_t off = pos & ring->mask;
  uint64_t first = ring->mask + 1 - off;
  if (first >= len) {
    memcpy(ring->data + off, src, len);
  } else {
    memcpy(ring->data + off, src, (size_t)first);
    memcpy(ring->data, (const uint8_t *)src + first, len - (size_t)first);
  }
}

static inline uint64_t drop(_Atomic uint64_t *why, lw_ring_header *h, uint32_t len) {
  atomic_fetch_add_explicit(why, 1, memory_order_relaxed);
  if (why == &h->stats.records_dropped_full)
    atomic_fetch_add_explicit(&h->stats.bytes_dropped_full, len, memory_order_relaxed);
  return UINT64_MAX;
}

static __thread __attribute__((tls_model("initial-exec"))) int tl_write_depth;

static inline uint64_t mono_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * The ring is full with the reader at r. A ring told to wait sleeps until the reader moves (returns 1:
 * look again) or until it has not moved for full_wait_ns (returns 0: drop, and every write drops at
 * once until it moves). Sleeps are short system calls (no lock, no allocation, async-signal-safe);
 * the caller holds no reservation, so the reader is never waiting on this thread.
 */
__attribute__((noinline)) static int wait_for_room(lw_ring *ring, uint64_t r) {
  if (ring->full_wait_ns == 0 || tl_write_depth > 1) return 0;
  if (atomic_load_explicit(&ring->gave_up_at, memory_order_relaxed) == r) return 0;
  lw_ring_header *h = ring->hdr;
  uint64_t start = mono_now_ns(), now = start;
  int moved = 0, saved_errno = errno; /* a signal may end a sleep with EINTR: the program's errno stays */
  while (now - start < ring->full_wait_ns) {
    struct timespec pause = {0, 50 * 1000}; /* 50 us: the reader drains ~100 KiB meanwhile */
    syscall(SYS_nanosleep, &pause, NULL);
    now = mono_now_ns();
    if (atomic_load_explicit(&h->read_pos, memory_order_acquire) != r) {
      moved = 1;
      break;
    }
  }
  atomic_fetch_add_explicit(&h->stats.full_waits, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->stats.full_wait_ns, now - start, memory_order_relaxed);
  if (!moved) atomic_store_explicit(&ring->gave_up_at, r, memory_order_relaxed);
  errno = saved_errno;
  return moved;
}

static uint64_t ring_write(lw_ring *ring, uint16_t type, const void *a, uint32_t a_len, const void *b,
                           uint32_t b_len);

/*
 * A write past the reservation while another thread extends it: in an exact ring (exact means exact)
 * or one told to wait for its reader, waits for that extension (a sibling thread in one fallocate,
 * not another process), asleep, so that the extender gets a CPU, which on a small machine this very
 * writer may be keeping from it. Four exact-mode threads on two cores, with drops instead of this
 * wait, lost up to 7% of a 192 MiB flood's records (ring_test). A sampled ring (a service in a
 * fleet) never waits on us: it drops, counted. Returns 1 when the reservation moved (try again), 0
 * to drop. Bounded: LW_RING_EXTEND_WAIT_NS, and a wait that saw no progress is not repeated until the
 * reservation moves (an extender stopped in a debugger costs one wait, not one a write). Never from
 * a nested write: a signal handler that interrupted the extender itself would wait on itself. The
 * caller holds no reservation, so nobody waits on it.
 */
__attribute__((noinline)) static int wait_for_extension(lw_ring *ring, uint64_t have) {
  /* The extension this writer lost the race for may be done already. `extending` is read before
   * `reserved` below: the extender publishes `reserved` before it lets go. */
  if (atomic_load_explicit(&ring->reserved, memory_order_acquire) != have) return 1;
  if ((!ring->exact && ring->full_wait_ns == 0) || tl_write_depth > 1) return 0;
  if (atomic_load_explicit(&ring->extend_gave_up_at, memory_order_relaxed) == have) return 0;
  uint64_t start = mono_now_ns();
  int moved = 0, saved_errno = errno;
  for (;;) {
    int extending = atomic_load(&ring->extending);
    moved = atomic_load_explicit(&ring->reserved, memory_order_acquire) != have;
    if (moved || !extending || mono_now_ns() - start >= LW_RING_EXTEND_WAIT_NS)
      break; /* done; or none running (it failed: its backoff decides); or too long */
    struct timespec pause = {0, 50 * 1000};
    syscall(SYS_nanosleep, &pause, NULL);
  }
  if (!moved) atomic_store_explicit(&ring->extend_gave_up_at, have, memory_order_relaxed);
  errno = saved_errno;
  return moved;
}

uint64_t lw_ring_write(lw_ring *ring, uint16_t type, const void *a, uint32_t a_len, const void *b,
                       uint32_t b_len) {
  tl_write_depth++;
  uint64_t at = ring_write(ring, type, a, a_len, b, b_len);
  tl_write_depth--;
  return at;
}

static uint64_t ring_write(lw_ring *ring, uint16_t type, const void *a, uint32_t a_len, const void *b,
                           uint32_t b_len) {
  lw_ring_header *h = ring->hdr;
  if (!h) return UINT64_MAX;
  uint32_t len = (8u + a_len + b_len + 7u) & ~7u;
  if (len > LW_RING_MAX_RECORD) return drop(&h->stats.records_dropped_oversize, h, len);
  uint64_t cap = ring->mask + 1;
  uint64_t w;
  for (int tries = 0;; tries++) {
    if (tries == LW_RING_MAX_TRIES) return drop(&h->stats.records_dropped_contention, h, len);
    /* A consistent view: read_pos on both sides of write_pos. With r1 read before w, a sane
     * reader guarantees r <= w; with r2 read after w, it guarantees w - r <= cap. If the reader
     * moved in between, look again (a bounded number of times: never spin). */
    uint64_t r = atomic_load_explicit(&h->read_pos, memory_order_acquire);
    w = atomic_load_explicit(&h->write_pos, memory_order_acquire);
    uint64_t r2 = atomic_load_explicit(&h->read_pos, memory_order_acquire);
    if (r != r2) continue;
    /* Positions the shim wrote are multiples of 8; anything else was written by someone else, and
     * an unaligned header store could run past the end of the mapping. */
    if (((r | w) & 7) != 0 || r > w || w - r > cap) {
      atomic_fetch_add_explicit(&h->stats.corrupt_positions, 1, memory_order_relaxed);
      return drop(&h->stats.records_dropped_full, h, len);
    }
    if (cap - (w - r) < len) {
      /* Waiting is not a failed try. The wait is bounded by the reader: each one ends when it moves
       * or gives up after full_wait_ns without it moving. */
      if (wait_for_room(ring, r)) {
        tries = -1;
        continue;
      }
      return drop(&h->stats.records_dropped_full, h, len);
    }
    /* First lap: past `reserved` the file is sparse. Space is reserved ahead of the writers (a chunk,
     * or half of a sampled ring's smaller reservation), so a writer that finds another (or its own
     * interrupted self, from a signal handler) extending still has room and does not drop. */
    uint64_t need = w + len < cap ? w + len : cap;
    uint64_t have = atomic_load_explicit(&ring->reserved, memory_order_acquire);
    if (have < cap) {
      uint64_t ahead = lookahead(ring, have);
      if (__builtin_expect(need + ahead > have, 0) && !extend_reservation(ring, need + ahead) && need > have) {
        if (wait_for_extension(ring, have)) {
          tries = -1; /* waiting is not a failed try */
          continue;
        }
        return drop(&h->stats.records_dropped_unreserved, h, len);
      }
    }
    if (atomic_compare_exchange_weak_explicit(&h->write_pos, &w, w + len, memory_order_acq_rel,
                                              memory_order_relaxed))
      break;
  }
  _Atomic uint64_t *hdr_word = (_Atomic uint64_t *)(void *)(ring->data + (w & ring->mask));
  /* PENDING carries the length at once: a write abandoned from here on can be skipped by the reader. */
  atomic_store_explicit(hdr_word, lw_record_header(LW_REC_PENDING, len), memory_order_relaxed);
  if (a_len) copy_in(ring, w + 8, a, a_len);
  if (b_len) copy_in(ring, w + 8 + a_len, b, b_len);
  /* Padding bytes are left as the reader zeroed them. The final header goes last: whole or absent. */
  atomic_store_explicit(hdr_word, lw_record_header(type, len), memory_order_release);
  atomic_fetch_add_explicit(&h->stats.records_written, 1, memory_order_relaxed);
  return w;
}
