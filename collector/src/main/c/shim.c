/*
 * shim: the LD_PRELOAD entry points (libleakwatch.so). Each is a guard and a call: the real function,
 * and the recorder (recorder.h) before a release or after an allocation. What is recorded, and the
 * rules that keep the shim safe inside someone else's process, live in recorder.c.
 *
 * Every block handed out is exactly the block the real allocator made, so glibc's own free, realloc
 * and malloc_usable_size stay right for callers that bypass this file (ctypes, dlsym on a libc
 * handle, RTLD_DEEPBIND, __libc_free); malloc_usable_size and the loader's functions (dlopen) are not
 * interposed at all. Calls made while dlsym() resolves the real functions are served from a static
 * bootstrap arena.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "recorder.h"

#define EXPORT __attribute__((visibility("default")))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- the real allocator ---------------------------------------------------------------- */
/* Not NULL before the lookup: free's fast path jumps through real_free without asking, malloc's
 * through malloc_fast_path_target, and the slow halves know the unresolved stand-ins. */
static void *malloc_unresolved(size_t n);
static void *(*real_malloc)(size_t) = malloc_unresolved;
/* Where malloc's fast path jumps (see malloc): the real malloc, or malloc_slow in exact mode. */
static void *(*_Atomic malloc_fast_path_target)(size_t) = malloc_unresolved;
static void free_unresolved(void *p);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *) = free_unresolved; /* looked up last: the sign the lookup is done */
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);
static void *(*real_mremap)(void *, size_t, size_t, int, ...);

/* dlsym() may allocate before the real functions are known: serve it from here. */
static _Alignas(64) uint8_t bootstrap_arena[256 * 1024];
static _Atomic size_t bootstrap_used;
_Atomic uint64_t lw_bootstrap_allocations;
static _Atomic int resolving;

static inline int in_bootstrap(const void *p) {
  return (uintptr_t)p - (uintptr_t)bootstrap_arena < sizeof bootstrap_arena;
}

static void *bootstrap_alloc(size_t n, size_t align) {
  /* Before each block is handed out: free's fast path reads only the filter, which is there (static)
   * and zero from the start, so the arena's bytes must be saturated before any arena block can reach
   * a free (see free). The arena serves a handful of calls, once: repeating it costs nothing. */
  lw_live_set_never_skip((uintptr_t)bootstrap_arena, (uintptr_t)bootstrap_arena + sizeof bootstrap_arena);
  if (align < 16) align = 16;
  size_t cur = atomic_load(&bootstrap_used);
  for (;;) {
    size_t start = (cur + align - 1) & ~(align - 1);
    if (start + n > sizeof bootstrap_arena || start + n < start) return NULL;
    if (atomic_compare_exchange_weak(&bootstrap_used, &cur, start + n)) {
      atomic_fetch_add(&lw_bootstrap_allocations, 1);
      memset(bootstrap_arena + start, 0, n);
      return bootstrap_arena + start;
    }
  }
}

/* Preloaded, the real functions come next in lookup order (RTLD_NEXT). Attached (dlopen'd into a
 * running process, behind libc), they are what the process itself calls: the first definition in
 * the global scope, libc's or a preloaded malloc's (see attached_real), never this library's. */
static void resolve_with(void *(*lookup)(const char *)) {
  atomic_store(&resolving, 1);
  real_malloc = lookup("malloc");
  real_calloc = lookup("calloc");
  real_realloc = lookup("realloc");
  real_posix_memalign = lookup("posix_memalign");
  real_aligned_alloc = lookup("aligned_alloc");
  real_memalign = lookup("memalign");
  real_valloc = lookup("valloc");
  real_pvalloc = lookup("pvalloc");
  real_mmap = lookup("mmap");
  real_munmap = lookup("munmap");
  real_mremap = lookup("mremap");
  real_free = lookup("free");
  atomic_store(&resolving, 0);
  lw_shim_route_malloc();
}

static void *next_after_us(const char *name) { return dlsym(RTLD_NEXT, name); }

/* The definition the process's calls reach. dlsym(RTLD_DEFAULT) may answer with a non-PIE
 * executable's PLT entry (its canonical address for the function, which only jumps through its GOT,
 * which the attach rewrites to this library: calling it would recurse): an address that is not a
 * definition of `name` is not taken, and libc's (next after this library) is. dladdr alone does not
 * tell: glibc names a PLT entry after the undefined symbol whose canonical address it is, so the
 * symbol itself must be defined (a CPython attached five times crashed in malloc -> malloc@plt ->
 * malloc until its stack ran out). */
static void *attached_real(const char *name) {
  void *p = dlsym(RTLD_DEFAULT, name);
  Dl_info info;
  const ElfW(Sym) *sym = NULL;
  if (p && dladdr1(p, &info, (void **)&sym, RTLD_DL_SYMENT) && sym && sym->st_shndx != SHN_UNDEF &&
      info.dli_sname && strcmp(info.dli_sname, name) == 0 && info.dli_saddr == p)
    return p;
  return dlsym(RTLD_NEXT, name);
}

static void resolve_real(void) {
  if (real_free != free_unresolved) return;
  resolve_with(next_after_us);
}

/* True while the real functions are being looked up (the caller is then served from the arena). */
static inline int resolving_now(void) {
  if (atomic_load(&resolving)) return 1;
  resolve_real();
  return 0;
}

/* Preloaded (LD_PRELOAD or /etc/ld.so.preload): loaded before libc, and the process's malloc is
 * this library's. Otherwise it was dlopen'd (by `leakwatch attach`, or by a program that should not
 * have) and stays a bystander until leakwatch_attach. Told apart by the order of the loaded objects
 * (not by comparing dlsym's answer for malloc: a non-PIE executable answers with its PLT entry). */
int lw_preloaded;

typedef struct {
  uintptr_t self;
  int index, self_index, libc_index;
} load_order;

static int find_order(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  load_order *o = arg;
  const char *name = info->dlpi_name ? info->dlpi_name : "";
  const char *base = strrchr(name, '/');
  base = base ? base + 1 : name;
  if (o->libc_index < 0 && strncmp(base, "libc.so", 7) == 0) o->libc_index = o->index;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD && o->self >= info->dlpi_addr + ph->p_vaddr &&
        o->self < info->dlpi_addr + ph->p_vaddr + ph->p_memsz)
      o->self_index = o->index;
  }
  o->index++;
  return 0;
}

__attribute__((constructor)) static void leakwatch_init(void) {
  resolve_real();
  load_order o = {(uintptr_t)&leakwatch_init, 0, -1, -1};
  dl_iterate_phdr(find_order, &o);
  lw_preloaded = o.self_index >= 0 && (o.libc_index < 0 || o.self_index < o.libc_index);
  if (!lw_preloaded) {
    resolve_with(attached_real);
    return;
  }
  lw_recorder_start((uintptr_t)&leakwatch_init);
}

__attribute__((destructor)) static void leakwatch_fini(void) { lw_recorder_exit(); }

/* ---- the malloc family ------------------------------------------------------------------------ */

/* malloc's slow half: a sample point reached (the countdown is left as it was, so lw_on_alloc finds
 * it reached again), exact mode, or the real malloc not looked up yet. */
__attribute__((noinline)) static void *malloc_slow(size_t n) {
  if (UNLIKELY(real_malloc == malloc_unresolved) && resolving_now()) return bootstrap_alloc(n, 16);
  void *p = real_malloc(n);
  lw_on_alloc(p, n);
  return p;
}

static void *malloc_unresolved(size_t n) { return malloc_slow(n); }

void lw_shim_route_malloc(void) {
  if (real_malloc == malloc_unresolved) return; /* stays unresolved: malloc_slow looks it up */
  atomic_store(&malloc_fast_path_target, lw_sample_bytes == 0 ? malloc_slow : real_malloc);
}

/* The sampling decision comes before the real call, so that an allocation that is not sampled is a
 * jump to the real malloc: no frame, and the real malloc returns straight to the caller. Neither the
 * mode nor whether the real malloc is known is asked here. A thread's countdown is zero until a
 * sample point re-arms it, which happens only after a real call and only in sampled mode, so an
 * unresolved process and exact mode take the slow half, bar malloc(0). The jump's target covers
 * what the countdown cannot: a countdown armed by a sampled session outlives it (another thread's
 * cannot be reset), so in exact mode the target is malloc_slow, which records every allocation, and
 * before the lookup it is malloc_unresolved. (Two instructions fewer than asking for exact mode
 * first, on every malloc.) */
EXPORT void *malloc(size_t n) {
  if (__builtin_expect(lw_sampler_skip(&lw_tl_sampler, n), 1))
    return atomic_load_explicit(&malloc_fast_path_target, memory_order_relaxed)(n);
  return malloc_slow(n);
}

EXPORT void *calloc(size_t nmemb, size_t size) {
  size_t n;
  if (__builtin_mul_overflow(nmemb, size, &n)) {
    errno = ENOMEM;
    return NULL;
  }
  if (UNLIKELY(!real_calloc) && resolving_now()) return bootstrap_alloc(n, 16);
  void *p = real_calloc(nmemb, size);
  lw_on_alloc(p, n);
  return p;
}

/* free's slow half: a block the filter cannot rule out, every block in exact mode, a block from the
 * bootstrap arena, or a free before the real functions were looked up (through free_unresolved).
 * Out of line, so that free itself needs no frame: the common case is the filter's byte and a jump
 * to the real free. */
__attribute__((noinline)) static void free_slow(void *p) {
  if (!p || in_bootstrap(p)) return;
  if (UNLIKELY(real_free == free_unresolved)) resolve_real();
  lw_on_free(p, NULL);
  real_free(p);
}

static void free_unresolved(void *p) { free_slow(p); }

/* A bootstrap block never passes the filter (its pages' bytes are saturated before its first block is
 * handed out, and kept so: lw_live_set_never_skip), so it is told apart in the slow half, and the
 * fast path is the filter's byte alone, a static array's (no pointer to load). */
EXPORT void free(void *p) {
  if (__builtin_expect(lw_free_skips(p), 1)) {
    real_free(p); /* free(NULL) may come here: the real free ignores it */
    return;
  }
  free_slow(p);
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
  if (UNLIKELY(!real_realloc)) resolve_real();
  if (n == 0) { /* glibc frees and returns NULL */
    free(p);
    return NULL;
  }
  /* A realloc is a free and an allocation; the free is recorded first so a reuse is never reordered. */
  uint64_t old = 0; /* sampled: the listed size; exact mode keeps no list, so ask the allocator if needed */
  int freed = lw_on_free(p, &old);
  void *q = real_realloc(p, n);
  if (!q) {
    if (freed) lw_record_still_live(p, lw_sample_bytes == 0 ? malloc_usable_size(p) : old);
    return NULL;
  }
  lw_on_alloc(q, n);
  return q;
}

EXPORT void *reallocarray(void *p, size_t nmemb, size_t size) {
  size_t n;
  if (__builtin_mul_overflow(nmemb, size, &n)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(p, n);
}

EXPORT int posix_memalign(void **out, size_t align, size_t n) {
  if (UNLIKELY(!real_posix_memalign) && resolving_now()) {
    *out = bootstrap_alloc(n, align);
    return *out ? 0 : ENOMEM;
  }
  int rc = real_posix_memalign(out, align, n);
  if (rc == 0) lw_on_alloc(*out, n);
  return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t n) {
  if (UNLIKELY(!real_aligned_alloc) && resolving_now()) return bootstrap_alloc(n, align);
  void *p = real_aligned_alloc(align, n);
  lw_on_alloc(p, n);
  return p;
}

EXPORT void *memalign(size_t align, size_t n) {
  if (UNLIKELY(!real_memalign) && resolving_now()) return bootstrap_alloc(n, align);
  void *p = real_memalign(align, n);
  lw_on_alloc(p, n);
  return p;
}

EXPORT void *valloc(size_t n) {
  if (UNLIKELY(!real_valloc)) resolve_real();
  void *p = real_valloc(n);
  lw_on_alloc(p, n);
  return p;
}

EXPORT void *pvalloc(size_t n) {
  if (UNLIKELY(!real_pvalloc)) resolve_real();
  void *p = real_pvalloc(n);
  lw_on_alloc(p, n);
  return p;
}

/* ---- application mappings (kind mmap) ----------------------------------------------------------
 * Every mapping is recorded (they are few and large). The allocator's own mmaps do not pass through
 * here: glibc calls the system call directly. A mapping placed with MAP_FIXED replaces whatever was
 * there, so that range is recorded as unmapped first; a failed call records it mapped again. */

static void *mmap_entry(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (UNLIKELY(!real_mmap) && resolving_now()) return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
  int replaced = (flags & MAP_FIXED) ? lw_on_unmap(addr, len) : 0;
  void *p = real_mmap(addr, len, prot, flags, fd, off);
  if (p != MAP_FAILED) lw_on_map(p, len);
  else if (replaced) lw_on_map(addr, len);
  return p;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap_entry(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap_entry(addr, len, prot, flags, fd, off);
}

EXPORT int munmap(void *addr, size_t len) {
  if (UNLIKELY(!real_munmap) && resolving_now()) return (int)syscall(SYS_munmap, addr, len);
  int recorded = lw_on_unmap(addr, len); /* before: a reuse of the range comes after */
  int rc = real_munmap(addr, len);
  if (rc != 0 && recorded) lw_on_map(addr, len);
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
  if (UNLIKELY(!real_mremap)) resolve_real();
  int recorded = lw_on_unmap(old, old_len);
  int replaced = (flags & MREMAP_FIXED) ? lw_on_unmap(new_addr, new_len) : 0;
  void *p = real_mremap(old, old_len, new_len, flags, new_addr);
  if (p != MAP_FAILED) {
    lw_on_map(p, new_len);
  } else {
    if (recorded) lw_on_map(old, old_len);
    if (replaced) lw_on_map(new_addr, new_len);
  }
  return p;
}

/* This library's own entry points, for got_patch (attach.c): hidden aliases name these definitions
 * whatever the process's lookup order (attached, `malloc` looked up by name is libc's). */
#define LW_OWN(name) extern __typeof(name) lw_own_##name __attribute__((alias(#name), copy(name), visibility("hidden")));
LW_OWN(malloc)
LW_OWN(calloc)
LW_OWN(realloc)
LW_OWN(reallocarray)
LW_OWN(free)
LW_OWN(posix_memalign)
LW_OWN(aligned_alloc)
LW_OWN(memalign)
LW_OWN(valloc)
LW_OWN(pvalloc)
LW_OWN(mmap)
LW_OWN(mmap64)
LW_OWN(munmap)
LW_OWN(mremap)
