#define _GNU_SOURCE
#include "got_patch.h"

#include <elf.h>
#include <link.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_OBJECTS 4096
#define MAX_SLOTS 65536

typedef struct {
  uintptr_t base;     /* load bias */
  uintptr_t dynamic;  /* address of its PT_DYNAMIC: with base, tells the same load apart */
} patched_object;

typedef struct {
  uintptr_t *slot;
  uintptr_t old;
  uintptr_t hook;
  uint32_t object; /* index into objects */
  uintptr_t relro_lo, relro_hi;
} patched_slot;

static patched_object *objects;
static patched_slot *slots;
static uint32_t nobjects, nslots;
static lw_got_stats stats;

typedef struct {
  const lw_got_hook *hooks;
  int nhooks;
  uintptr_t self;
} patch_ctx;

static int tables_ready(void) {
  if (objects) return 1;
  void *o = mmap(NULL, MAX_OBJECTS * sizeof(patched_object), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (o == MAP_FAILED) return 0;
  void *s = mmap(NULL, MAX_SLOTS * sizeof(patched_slot), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (s == MAP_FAILED) {
    munmap(o, MAX_OBJECTS * sizeof(patched_object));
    return 0;
  }
  objects = o;
  slots = s;
  return 1;
}

/* One aligned store, the page made writable around it when it is in the object's RELRO range. */
static void write_slot(uintptr_t *slot, uintptr_t value, uintptr_t relro_lo, uintptr_t relro_hi) {
  uintptr_t a = (uintptr_t)slot;
  int ro = a >= relro_lo && a < relro_hi;
  long page = sysconf(_SC_PAGESIZE);
  void *pg = (void *)(a & ~((uintptr_t)page - 1));
  if (ro && mprotect(pg, (size_t)page, PROT_READ | PROT_WRITE) != 0) return;
  __atomic_store_n(slot, value, __ATOMIC_RELEASE);
  if (ro) mprotect(pg, (size_t)page, PROT_READ);
}

/* d_ptr entries of a loaded object's dynamic section: glibc relocates most of them in place; the
 * vDSO's and some others' stay file-relative. */
static uintptr_t dyn_ptr(uintptr_t base, ElfW(Addr) v) { return v < base ? base + v : v; }

static int known_object(uintptr_t base, uintptr_t dynamic) {
  for (uint32_t i = 0; i < nobjects; i++)
    if (objects[i].base == base && objects[i].dynamic == dynamic) return 1;
  return 0;
}

static void patch_relocs(const ElfW(Rela) *rel, size_t n, const ElfW(Sym) *symtab, const char *strtab,
                         uintptr_t base, const patch_ctx *ctx, uintptr_t relro_lo, uintptr_t relro_hi) {
  for (size_t i = 0; i < n; i++) {
    uint32_t type = (uint32_t)ELF64_R_TYPE(rel[i].r_info);
    if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
    const ElfW(Sym) *sym = &symtab[ELF64_R_SYM(rel[i].r_info)];
    if (sym->st_shndx != SHN_UNDEF || sym->st_name == 0) continue; /* its own definition: leave it */
    const char *name = strtab + sym->st_name;
    for (int h = 0; h < ctx->nhooks; h++) {
      if (strcmp(name, ctx->hooks[h].name) != 0) continue;
      if (nslots >= MAX_SLOTS) {
        stats.skipped++;
        break;
      }
      uintptr_t *slot = (uintptr_t *)(base + rel[i].r_offset);
      uintptr_t hook = (uintptr_t)ctx->hooks[h].hook;
      uintptr_t old = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
      if (old == hook) break;
      slots[nslots] = (patched_slot){slot, old, hook, nobjects, relro_lo, relro_hi};
      nslots++;
      stats.slots++;
      write_slot(slot, hook, relro_lo, relro_hi);
      break;
    }
  }
}

static int patch_object(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  const patch_ctx *ctx = arg;
  uintptr_t base = info->dlpi_addr;
  const ElfW(Dyn) *dyn = NULL;
  uintptr_t lo = UINTPTR_MAX, hi = 0, relro_lo = 0, relro_hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_DYNAMIC) dyn = (const ElfW(Dyn) *)(base + ph->p_vaddr);
    if (ph->p_type == PT_GNU_RELRO) { /* what ld.so made read-only: whole pages only, as it rounds */
      uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
      relro_lo = (base + ph->p_vaddr) & ~(page - 1);
      relro_hi = (base + ph->p_vaddr + ph->p_memsz) & ~(page - 1);
    }
    if (ph->p_type == PT_LOAD) {
      if (base + ph->p_vaddr < lo) lo = base + ph->p_vaddr;
      if (base + ph->p_vaddr + ph->p_memsz > hi) hi = base + ph->p_vaddr + ph->p_memsz;
    }
  }
  if (!dyn || (ctx->self >= lo && ctx->self < hi)) return 0;
  const char *name = info->dlpi_name ? info->dlpi_name : "";
  if (strstr(name, "linux-vdso") || strstr(name, "/ld-linux")) return 0;
  if (known_object(base, (uintptr_t)dyn) || nobjects >= MAX_OBJECTS) return 0;

  const ElfW(Sym) *symtab = NULL;
  const char *strtab = NULL;
  const ElfW(Rela) *jmprel = NULL, *rela = NULL;
  size_t pltrelsz = 0, relasz = 0;
  int pltrel_rela = 1;
  for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
    switch (d->d_tag) {
      case DT_SYMTAB: symtab = (const ElfW(Sym) *)dyn_ptr(base, d->d_un.d_ptr); break;
      case DT_STRTAB: strtab = (const char *)dyn_ptr(base, d->d_un.d_ptr); break;
      case DT_JMPREL: jmprel = (const ElfW(Rela) *)dyn_ptr(base, d->d_un.d_ptr); break;
      case DT_PLTRELSZ: pltrelsz = d->d_un.d_val; break;
      case DT_RELA: rela = (const ElfW(Rela) *)dyn_ptr(base, d->d_un.d_ptr); break;
      case DT_RELASZ: relasz = d->d_un.d_val; break;
      case DT_PLTREL: pltrel_rela = d->d_un.d_val == DT_RELA; break;
      default: break;
    }
  }
  objects[nobjects] = (patched_object){base, (uintptr_t)dyn};
  stats.objects++;
  if (symtab && strtab) {
    if (jmprel && pltrel_rela)
      patch_relocs(jmprel, pltrelsz / sizeof(ElfW(Rela)), symtab, strtab, base, ctx, relro_lo, relro_hi);
    if (rela) patch_relocs(rela, relasz / sizeof(ElfW(Rela)), symtab, strtab, base, ctx, relro_lo, relro_hi);
  }
  nobjects++;
  return 0;
}

lw_got_stats lw_got_patch_new(const lw_got_hook *hooks, int nhooks, uintptr_t self) {
  if (!tables_ready()) return stats;
  patch_ctx ctx = {hooks, nhooks, self};
  dl_iterate_phdr(patch_object, &ctx);
  return stats;
}

/* Reads a slot without trusting that it is still mapped (its object may have been dlclosed):
 * process_vm_readv on ourselves answers EFAULT where a load would fault. */
static int read_slot(const uintptr_t *slot, uintptr_t *value) {
  struct iovec local = {value, sizeof *value}, remote = {(void *)slot, sizeof *value};
  return syscall(SYS_process_vm_readv, syscall(SYS_getpid), &local, 1UL, &remote, 1UL, 0UL) == (long)sizeof *value ? 0 : -1;
}

uint32_t lw_got_restore_all(void) {
  if (!objects) return 0;
  /* No dl_iterate_phdr here: detach may run on a thread stopped inside a walk of the loaded objects
   * (the shim's own, while it recorded), whose lock it would wait on for ever. A slot is restored
   * where it is still mapped and still holds the hook: a dlclosed object's page, unmapped or
   * reused, does not hold this library's address by chance. */
  uint32_t restored = 0;
  for (uint32_t i = 0; i < nslots; i++) {
    patched_slot *s = &slots[i];
    uintptr_t now;
    if (read_slot(s->slot, &now) != 0 || now != s->hook) continue;
    write_slot(s->slot, s->old, s->relro_lo, s->relro_hi);
    restored++;
  }
  nslots = 0;
  nobjects = 0;
  memset(&stats, 0, sizeof stats);
  return restored;
}
