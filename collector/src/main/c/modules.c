#define _GNU_SOURCE
#include "modules.h"

#include <elf.h>
#include <link.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_MODULES 2048
#define PATH_ARENA (512u * 1024u)

typedef struct {
  lw_module_payload m;
  uint32_t path_off;
} known_module;

static known_module *known;
/* The address ranges of the modules written, sorted by start: "is this return address in a loaded
 * object?" without the loader's lock. Read without a lock by any thread; written only by
 * write_new (one at a time). A reader racing a write may get a wrong answer, never a bad index. */
static struct { uint64_t lo, hi; } ranges[MAX_MODULES];
static _Atomic uint32_t nranges;
/* Odd while write_new inserts into ranges (a reader's search may then give a wrong answer). */
static _Atomic uint32_t ranges_seq;

/* Return addresses found in a module written so far, by hash of the address. Every recorded stack
 * asks about its first frames (a library loaded since?), and a binary search of the ranges per frame
 * was a tenth of exact mode's instructions per allocation (callgrind, churn); the same few return
 * addresses come again and again. Ranges only ever grow, so an address once found stays found.
 * Shared by every thread without a lock: an entry is one aligned 8-byte store of an address the
 * ranges held (a search that raced an insert is not cached), and a slot taken by another address is
 * only a miss. */
#define KNOWN_PC_BITS 10
static _Atomic uint64_t known_pcs[1u << KNOWN_PC_BITS];
static char *paths;
static uint32_t nknown, paths_used;
static _Atomic int busy;

static int table_ready(void) {
  if (known) return 1;
  void *k = mmap(NULL, MAX_MODULES * sizeof(known_module), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (k == MAP_FAILED) return 0;
  void *p = mmap(NULL, PATH_ARENA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    munmap(k, MAX_MODULES * sizeof(known_module));
    return 0;
  }
  known = k;
  paths = p;
  return 1;
}

static void read_build_id(const struct dl_phdr_info *info, const ElfW(Phdr) *ph, lw_module_payload *m) {
  const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
  const uint8_t *end = p + ph->p_memsz;
  while (p + sizeof(ElfW(Nhdr)) <= end) {
    const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)(const void *)p;
    const uint8_t *name = p + sizeof *nh;
    const uint8_t *desc = name + ((nh->n_namesz + 3u) & ~3u);
    const uint8_t *next = desc + ((nh->n_descsz + 3u) & ~3u);
    if (next > end || next <= p) return;
    if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0) {
      uint32_t n = nh->n_descsz > 32 ? 32 : nh->n_descsz;
      memcpy(m->build_id, desc, n);
      m->build_id_len = (uint16_t)n;
      return;
    }
    p = next;
  }
}

static int is_known(const lw_module_payload *m, const char *path, size_t len) {
  for (uint32_t i = 0; i < nknown; i++) {
    const known_module *k = &known[i];
    if (k->m.lo == m->lo && k->m.hi == m->hi && k->m.load_bias == m->load_bias && k->m.path_len == len &&
        memcmp(paths + k->path_off, path, len) == 0)
      return 1;
  }
  return 0;
}

static int on_object(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  lw_ring *ring = arg;
  lw_module_payload m;
  memset(&m, 0, sizeof m);
  uint64_t lo = UINT64_MAX, hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD) {
      if (ph->p_vaddr < lo) lo = ph->p_vaddr;
      if (ph->p_vaddr + ph->p_memsz > hi) hi = ph->p_vaddr + ph->p_memsz;
    } else if (ph->p_type == PT_NOTE && m.build_id_len == 0) {
      read_build_id(info, ph, &m);
    }
  }
  if (hi == 0) return 0;
  m.load_bias = info->dlpi_addr;
  m.lo = info->dlpi_addr + lo;
  m.hi = info->dlpi_addr + hi;
  char exe[LW_MODULE_PATH_MAX];
  const char *path = info->dlpi_name;
  if (!path || !*path) {
    /* thread-self: /proc/self/exe is gone once the main thread has ended (pthread_exit in main) */
    ssize_t n = readlink("/proc/thread-self/exe", exe, sizeof exe - 1);
    if (n <= 0) n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return 0; /* the vdso has no name either; the main program always has one */
    exe[n] = 0;
    path = exe;
    m.flags = LW_MODULE_MAIN;
  }
  size_t len = strnlen(path, LW_MODULE_PATH_MAX);
  m.path_len = (uint16_t)len;
  if (is_known(&m, path, len)) return 0;
  if (nknown < MAX_MODULES && paths_used + len <= PATH_ARENA) {
    known[nknown].m = m;
    known[nknown].path_off = paths_used;
    memcpy(paths + paths_used, path, len);
    paths_used += (uint32_t)len;
    nknown++;
    uint32_t n = atomic_load(&nranges), at = n;
    atomic_fetch_add(&ranges_seq, 1); /* odd: inserting */
    while (at > 0 && ranges[at - 1].lo > m.lo) {
      ranges[at] = ranges[at - 1];
      at--;
    }
    ranges[at].lo = m.lo;
    ranges[at].hi = m.hi;
    atomic_store(&nranges, n + 1);
    atomic_fetch_add(&ranges_seq, 1); /* even: settled */
  }
  lw_ring_write(ring, LW_REC_MODULE, &m, sizeof m, path, (uint32_t)len);
  return 0;
}

void lw_modules_write_new(lw_ring *ring) {
  int idle = 0;
  if (!atomic_compare_exchange_strong(&busy, &idle, 1)) return;
  if (table_ready()) dl_iterate_phdr(on_object, ring);
  atomic_store(&busy, 0);
}

void lw_modules_write_known(lw_ring *ring) {
  atomic_store(&busy, 0); /* the fork may have caught another thread inside write_new */
  for (uint32_t i = 0; known && i < nknown; i++)
    lw_ring_write(ring, LW_REC_MODULE, &known[i].m, sizeof known[i].m, paths + known[i].path_off, known[i].m.path_len);
}

int lw_modules_contains(uintptr_t pc) {
  _Atomic uint64_t *slot = &known_pcs[((uint64_t)pc * 0x9E3779B97F4A7C15ull) >> (64 - KNOWN_PC_BITS)];
  if (pc != 0 && atomic_load_explicit(slot, memory_order_relaxed) == pc) return 1;
  uint32_t seq = atomic_load_explicit(&ranges_seq, memory_order_acquire);
  uint32_t n = atomic_load_explicit(&nranges, memory_order_acquire);
  if (n > MAX_MODULES) n = MAX_MODULES;
  uint32_t lo = 0, hi = n;
  while (lo < hi) { /* the last range starting at or below pc */
    uint32_t mid = (lo + hi) / 2;
    if (ranges[mid].lo <= pc) lo = mid + 1;
    else hi = mid;
  }
  int found = lo > 0 && pc < ranges[lo - 1].hi;
  atomic_thread_fence(memory_order_acquire); /* the search's reads before the second look at seq */
  if (found && pc != 0 && !(seq & 1) && atomic_load_explicit(&ranges_seq, memory_order_relaxed) == seq)
    atomic_store_explicit(slot, pc, memory_order_relaxed);
  return found;
}

struct range_probe {
  uintptr_t probe, lo, hi;
  int found;
};

static int on_range(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  struct range_probe *r = arg;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
    if (r->probe >= lo && r->probe < hi) {
      r->lo = lo;
      r->hi = hi;
      r->found = 1;
      return 1;
    }
  }
  return 0;
}

int lw_modules_range_of(uintptr_t probe, uintptr_t *lo, uintptr_t *hi) {
  struct range_probe r = {probe, 0, 0, 0};
  dl_iterate_phdr(on_range, &r);
  if (!r.found) return -1;
  *lo = r.lo;
  *hi = r.hi;
  return 0;
}
