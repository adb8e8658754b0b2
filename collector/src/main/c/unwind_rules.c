#define _GNU_SOURCE
#include "unwind_rules.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__x86_64__)

/* glibc 2.35's struct dl_find_object, declared here so the shim still loads on an older glibc
 * (where the fast path is simply off). */
struct lw_dl_find_object {
  unsigned long long dlfo_flags;
  void *dlfo_map_start;
  void *dlfo_map_end;
  void *dlfo_link_map;
  void *dlfo_eh_frame;
  unsigned long long reserved[7];
};
typedef int (*dl_find_object_fn)(void *, struct lw_dl_find_object *);
static dl_find_object_fn find_object;

/* ---- a rule, packed in 64 bits -------------------------------------------------------------- */

enum { RULE_UNSUPPORTED = 0, RULE_FRAME = 1, RULE_END = 2, RULE_NO_INFO = 3 };
#define RULE_KIND(r) ((int)((r) & 3))
#define RULE_CFA_RBP(r) ((int)(((r) >> 2) & 1))
#define RULE_RBP_SAVED(r) ((int)(((r) >> 3) & 1))
#define RULE_CFA_OFF(r) ((int32_t)(uint32_t)((r) >> 8))
#define RULE_RBP_OFF(r) ((int32_t)((int64_t)(r) >> 40)) /* 24-bit signed */

static uint64_t make_rule(int kind, int cfa_rbp, int32_t cfa_off, int rbp_saved, int32_t rbp_off) {
  return (uint64_t)kind | (uint64_t)cfa_rbp << 2 | (uint64_t)rbp_saved << 3 | (uint64_t)(uint32_t)cfa_off << 8 |
         (uint64_t)(int64_t)rbp_off << 40;
}

/* ---- the cache: direct-mapped, one seqlock per entry ---------------------------------------- */

#define CACHE_BITS 14
#define CACHE_SIZE (1u << CACHE_BITS)

struct entry {
  _Atomic uint32_t seq; /* odd while written */
  uint32_t pad;
  _Atomic uint64_t pc;
  _Atomic uint64_t rule;
  uint64_t pad2;
};
static struct entry *cache;
static _Atomic uint64_t misses, unsupported_count; /* hits are not counted: one shared line per frame would cost more than the cache saves */

static inline uint32_t slot_of(uintptr_t pc) {
  uint64_t h = (uint64_t)pc * 0x9E3779B97F4A7C15ull;
  return (uint32_t)(h >> (64 - CACHE_BITS));
}

static int cache_get(uintptr_t pc, uint64_t *rule) {
  struct entry *e = &cache[slot_of(pc)];
  uint32_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
  if (s1 & 1) return 0;
  uint64_t p = atomic_load_explicit(&e->pc, memory_order_relaxed);
  uint64_t r = atomic_load_explicit(&e->rule, memory_order_relaxed);
  atomic_thread_fence(memory_order_acquire);
  if (atomic_load_explicit(&e->seq, memory_order_relaxed) != s1 || p != pc || r == 0) return 0;
  *rule = r;
  return 1;
}

static void cache_put(uintptr_t pc, uint64_t rule) {
  struct entry *e = &cache[slot_of(pc)];
  uint32_t s = atomic_load_explicit(&e->seq, memory_order_relaxed);
  if ((s & 1) || !atomic_compare_exchange_strong_explicit(&e->seq, &s, s + 1, memory_order_acq_rel, memory_order_relaxed))
    return; /* another thread is writing it: do not wait */
  atomic_thread_fence(memory_order_release);
  atomic_store_explicit(&e->pc, pc, memory_order_relaxed);
  atomic_store_explicit(&e->rule, rule, memory_order_relaxed);
  atomic_store_explicit(&e->seq, s + 2, memory_order_release);
}

/* ---- reading the tables, bounded -------------------------------------------------------------- */

struct cursor {
  const uint8_t *p, *end;
  int bad;
};

static uint64_t uleb(struct cursor *c) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (c->p >= c->end) break;
    uint8_t b = *c->p++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  c->bad = 1;
  return 0;
}

static int64_t sleb(struct cursor *c) {
  int64_t v = 0;
  int shift = 0;
  for (; shift < 64; shift += 7) {
    if (c->p >= c->end) break;
    uint8_t b = *c->p++;
    v |= (int64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      shift += 7;
      if (shift < 64 && (b & 0x40)) v |= -((int64_t)1 << shift);
      return v;
    }
  }
  c->bad = 1;
  return 0;
}

static uint64_t fixed(struct cursor *c, int n) {
  if (c->end - c->p < n) {
    c->bad = 1;
    return 0;
  }
  uint64_t v = 0;
  memcpy(&v, c->p, (size_t)n); /* little-endian */
  c->p += n;
  return v;
}

/* A DW_EH_PE-encoded pointer. base_data: the base of datarel (the .eh_frame_hdr). */
static uint64_t encoded(struct cursor *c, uint8_t enc, uintptr_t base_data) {
  if (enc == 0xff) return 0; /* omit */
  uintptr_t field = (uintptr_t)c->p;
  uint64_t v;
  switch (enc & 0x0f) {
    case 0x00: v = fixed(c, 8); break;
    case 0x01: v = uleb(c); break;
    case 0x02: v = fixed(c, 2); break;
    case 0x03: v = fixed(c, 4); break;
    case 0x04: v = fixed(c, 8); break;
    case 0x09: v = (uint64_t)sleb(c); break;
    case 0x0a: v = (uint64_t)(int64_t)(int16_t)fixed(c, 2); break;
    case 0x0b: v = (uint64_t)(int64_t)(int32_t)fixed(c, 4); break;
    case 0x0c: v = fixed(c, 8); break;
    default: c->bad = 1; return 0;
  }
  switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += field; break;
    case 0x30: v += base_data; break;
    default: c->bad = 1; return 0;
  }
  if (enc & 0x80) c->bad = 1; /* indirect */
  return v;
}

/* ---- the CFA program ---------------------------------------------------------------------------- */

enum { HOW_SAME = 0, HOW_OFFSET = 1, HOW_UNDEFINED = 2, HOW_OTHER = 3 };

struct row {
  int64_t cfa_off;
  uint8_t cfa_reg, cfa_expr;
  uint8_t rbp_how, ra_how;
  int64_t rbp_off, ra_off;
};

struct cie {
  uint64_t code_align;
  int64_t data_align;
  uint8_t fde_enc;
  int has_z;
  const uint8_t *instr, *end;
};

#define REG_RBP 6
#define REG_RSP 7
#define REG_RA 16

static void set_rule(struct row *r, uint64_t reg, uint8_t how, int64_t off) {
  if (reg == REG_RBP) {
    r->rbp_how = how;
    r->rbp_off = off;
  } else if (reg == REG_RA) {
    r->ra_how = how;
    r->ra_off = off;
  }
}

/* Runs instructions up to (not past) the row of target. Returns 0, or -1 when unsupported. */
static int run_cfa(struct cursor c, const struct cie *ci, const struct row *initial, struct row *r, uint64_t loc,
                   uint64_t target) {
  struct row stack[8];
  int depth = 0;
  while (c.p < c.end && !c.bad) {
    uint8_t op = *c.p++;
    uint8_t low = op & 0x3f;
    uint64_t delta = 0, reg;
    int advance = 0;
    switch (op & 0xc0) {
      case 0x40: delta = low; advance = 1; break;
      case 0x80: set_rule(r, low, HOW_OFFSET, (int64_t)uleb(&c) * ci->data_align); continue;
      case 0xc0:
        if (low == REG_RBP) r->rbp_how = initial->rbp_how, r->rbp_off = initial->rbp_off;
        if (low == REG_RA) r->ra_how = initial->ra_how, r->ra_off = initial->ra_off;
        continue;
      default: break;
    }
    if (!advance) {
      switch (op) {
        case 0x00: continue;
        case 0x01: {
          uint64_t to = encoded(&c, ci->fde_enc, 0);
          if (to > target) return 0;
          loc = to;
          continue;
        }
        case 0x02: delta = fixed(&c, 1); advance = 1; break;
        case 0x03: delta = fixed(&c, 2); advance = 1; break;
        case 0x04: delta = fixed(&c, 4); advance = 1; break;
        case 0x05: reg = uleb(&c); set_rule(r, reg, HOW_OFFSET, (int64_t)uleb(&c) * ci->data_align); continue;
        case 0x06:
          reg = uleb(&c);
          if (reg == REG_RBP) r->rbp_how = initial->rbp_how, r->rbp_off = initial->rbp_off;
          if (reg == REG_RA) r->ra_how = initial->ra_how, r->ra_off = initial->ra_off;
          continue;
        case 0x07: set_rule(r, uleb(&c), HOW_UNDEFINED, 0); continue;
        case 0x08: set_rule(r, uleb(&c), HOW_SAME, 0); continue;
        case 0x09: reg = uleb(&c); (void)uleb(&c); set_rule(r, reg, HOW_OTHER, 0); continue;
        case 0x0a:
          if (depth == 8) return -1;
          stack[depth++] = *r;
          continue;
        case 0x0b:
          if (depth == 0) return -1;
          *r = stack[--depth];
          continue;
        case 0x0c: r->cfa_reg = (uint8_t)uleb(&c); r->cfa_off = (int64_t)uleb(&c); r->cfa_expr = 0; continue;
        case 0x0d: r->cfa_reg = (uint8_t)uleb(&c); r->cfa_expr = 0; continue;
        case 0x0e: r->cfa_off = (int64_t)uleb(&c); continue;
        case 0x0f: {
          uint64_t n = uleb(&c);
          if (n > (uint64_t)(c.end - c.p)) return -1;
          c.p += n;
          r->cfa_expr = 1;
          continue;
        }
        case 0x10: case 0x16: {
          reg = uleb(&c);
          uint64_t n = uleb(&c);
          if (n > (uint64_t)(c.end - c.p)) return -1;
          c.p += n;
          set_rule(r, reg, HOW_OTHER, 0);
          continue;
        }
        case 0x11: reg = uleb(&c); set_rule(r, reg, HOW_OFFSET, sleb(&c) * ci->data_align); continue;
        case 0x12: r->cfa_reg = (uint8_t)uleb(&c); r->cfa_off = sleb(&c) * ci->data_align; r->cfa_expr = 0; continue;
        case 0x13: r->cfa_off = sleb(&c) * ci->data_align; continue;
        case 0x14: reg = uleb(&c); (void)uleb(&c); set_rule(r, reg, HOW_OTHER, 0); continue;
        case 0x15: reg = uleb(&c); (void)sleb(&c); set_rule(r, reg, HOW_OTHER, 0); continue;
        case 0x2e: (void)uleb(&c); continue;
        case 0x2f: reg = uleb(&c); set_rule(r, reg, HOW_OFFSET, -(int64_t)uleb(&c) * ci->data_align); continue;
        default: return -1;
      }
    }
    if (advance) {
      uint64_t next = loc + delta * ci->code_align;
      if (next > target) return 0;
      loc = next;
    }
  }
  return c.bad ? -1 : 0;
}

static int parse_cie(const uint8_t *cie, const uint8_t *limit_hint, struct cie *out) {
  (void)limit_hint;
  uint32_t len;
  memcpy(&len, cie, 4);
  if (len == 0 || len == 0xffffffffu) return -1;
  struct cursor c = {cie + 4, cie + 4 + len, 0};
  if (fixed(&c, 4) != 0) return -1; /* a CIE's id */
  uint8_t version = (uint8_t)fixed(&c, 1);
  if (version != 1 && version != 3 && version != 4) return -1;
  const char *aug = (const char *)c.p;
  size_t aug_len = strnlen(aug, (size_t)(c.end - c.p));
  if (aug_len == (size_t)(c.end - c.p)) return -1;
  c.p += aug_len + 1;
  if (version == 4) c.p += 2; /* address_size, segment_selector_size */
  out->code_align = uleb(&c);
  out->data_align = sleb(&c);
  uint64_t ra = version == 1 ? fixed(&c, 1) : uleb(&c);
  if (ra != REG_RA) return -1;
  out->fde_enc = 0x00;
  out->has_z = 0;
  if (aug[0] == 'z') {
    out->has_z = 1;
    uint64_t n = uleb(&c);
    if (c.bad || n > (uint64_t)(c.end - c.p)) return -1;
    const uint8_t *data_end = c.p + n;
    for (const char *a = aug + 1; *a; a++) {
      if (*a == 'R') {
        out->fde_enc = (uint8_t)fixed(&c, 1);
      } else if (*a == 'P') {
        uint8_t enc = (uint8_t)fixed(&c, 1);
        (void)encoded(&c, (uint8_t)(enc & 0x7f), 0); /* the personality routine: skipped */
      } else if (*a == 'L') {
        (void)fixed(&c, 1);
      } else {
        return -1; /* 'S' (a signal frame) and anything newer */
      }
    }
    c.p = data_end;
  } else if (aug[0] != 0) {
    return -1;
  }
  if (c.bad) return -1;
  out->instr = c.p;
  out->end = c.end;
  return 0;
}

/* The rule of the row holding pc. */
static uint64_t compute_rule(uintptr_t pc) {
  struct lw_dl_find_object dlfo;
  if (find_object((void *)pc, &dlfo) != 0 || dlfo.dlfo_eh_frame == NULL) return make_rule(RULE_NO_INFO, 0, 0, 0, 0);
  const uint8_t *hdr = dlfo.dlfo_eh_frame;
  if (hdr[0] != 1) return 0;
  uint8_t ptr_enc = hdr[1], count_enc = hdr[2], table_enc = hdr[3];
  struct cursor c = {hdr + 4, hdr + 4 + 32, 0};
  (void)encoded(&c, ptr_enc, (uintptr_t)hdr);
  uint64_t count = encoded(&c, count_enc, (uintptr_t)hdr);
  if (c.bad || table_enc != 0x3b || count == 0 || count > (1u << 28)) return 0;
  const int32_t *table = (const int32_t *)(const void *)c.p;
  /* the last entry whose initial location is <= pc */
  uint64_t lo = 0, hi = count;
  while (hi - lo > 1) {
    uint64_t mid = (lo + hi) / 2;
    if ((uintptr_t)hdr + (intptr_t)table[2 * mid] <= pc) lo = mid;
    else hi = mid;
  }
  if ((uintptr_t)hdr + (intptr_t)table[2 * lo] > pc) return make_rule(RULE_NO_INFO, 0, 0, 0, 0);
  const uint8_t *fde = hdr + table[2 * lo + 1];
  uint32_t len;
  memcpy(&len, fde, 4);
  if (len == 0 || len == 0xffffffffu) return 0;
  int32_t cie_delta;
  memcpy(&cie_delta, fde + 4, 4);
  struct cie ci;
  if (parse_cie(fde + 4 - cie_delta, NULL, &ci) != 0) return 0;
  struct cursor f = {fde + 8, fde + 4 + len, 0};
  uint64_t begin = encoded(&f, ci.fde_enc, 0);
  uint64_t range = encoded(&f, (uint8_t)(ci.fde_enc & 0x0f), 0);
  if (f.bad) return 0;
  if (pc < begin || pc - begin >= range) return make_rule(RULE_NO_INFO, 0, 0, 0, 0);
  if (ci.has_z) {
    uint64_t n = uleb(&f);
    if (f.bad || n > (uint64_t)(f.end - f.p)) return 0;
    f.p += n;
  }
  struct row initial = {0, REG_RSP, 0, HOW_SAME, HOW_SAME, 0, 0};
  if (run_cfa((struct cursor){ci.instr, ci.end, 0}, &ci, &initial, &initial, begin, UINT64_MAX) != 0) return 0;
  struct row r = initial;
  if (run_cfa(f, &ci, &initial, &r, begin, pc) != 0) return 0;
  if (r.ra_how == HOW_UNDEFINED) return make_rule(RULE_END, 0, 0, 0, 0);
  if (r.cfa_expr || (r.cfa_reg != REG_RSP && r.cfa_reg != REG_RBP) || r.ra_how != HOW_OFFSET || r.ra_off != -8) return 0;
  if (r.cfa_off <= 0 || r.cfa_off > INT32_MAX) return 0;
  if (r.rbp_how != HOW_SAME && r.rbp_how != HOW_UNDEFINED && r.rbp_how != HOW_OFFSET) return 0;
  int saved = r.rbp_how == HOW_OFFSET;
  if (saved && (r.rbp_off < -(1 << 23) || r.rbp_off >= (1 << 23))) return 0;
  return make_rule(RULE_FRAME, r.cfa_reg == REG_RBP, (int32_t)r.cfa_off, saved, saved ? (int32_t)r.rbp_off : 0);
}

static uint64_t rule_for(uintptr_t pc) {
  uint64_t rule;
  if (cache_get(pc, &rule)) return rule;
  atomic_fetch_add_explicit(&misses, 1, memory_order_relaxed);
  rule = compute_rule(pc);
  if (RULE_KIND(rule) == RULE_UNSUPPORTED) {
    atomic_fetch_add_explicit(&unsupported_count, 1, memory_order_relaxed);
    rule = make_rule(RULE_UNSUPPORTED, 0, 0, 1, 0); /* nonzero: cached as unsupported */
  }
  cache_put(pc, rule);
  return rule;
}

int lw_unwind_rules_init(void) {
  find_object = (dl_find_object_fn)dlsym(RTLD_DEFAULT, "_dl_find_object");
  if (!find_object) return -1;
  void *m = mmap(NULL, CACHE_SIZE * sizeof(struct entry), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return -1;
  cache = m;
  return 0;
}

__attribute__((noinline)) int lw_unwind_rules_walk(const lw_walk_start *from, uint64_t *frames, int max_frames,
                                                   int *truncated, uintptr_t skip_lo, uintptr_t skip_hi,
                                                   uintptr_t stack_lo, uintptr_t stack_hi, uintptr_t *last_bp) {
  *truncated = 0;
  if (!cache) return -1;
  uintptr_t pc, sp, bp;
  int n = 0, at_return_address;
  if (from) {
    pc = from->pc, sp = from->sp, bp = from->bp;
    at_return_address = 1;
    /* A return address outside the shim (the entry point tail-called the shim) is the first frame. */
    if (pc >= 4096 && !(pc >= skip_lo && pc < skip_hi) && max_frames > 0) frames[n++] = pc;
  } else {
    __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2" : "=r"(pc), "=r"(sp), "=r"(bp));
    at_return_address = 0; /* pc is this instruction, not a return address */
  }
  if (sp < stack_lo || sp >= stack_hi) return -1; /* on another stack (sigaltstack, a coroutine) */
  for (int depth = 0; depth < 512; depth++) {
    uint64_t rule = rule_for(depth == 0 && !at_return_address ? pc : pc - 1);
    int kind = RULE_KIND(rule);
    if (kind == RULE_END) break;
    if (kind == RULE_NO_INFO) {
      if (n == 0) return -1;
      break; /* JIT code: the caller walks on by frame pointers */
    }
    if (kind != RULE_FRAME) return -1;
    uintptr_t cfa = (RULE_CFA_RBP(rule) ? bp : sp) + (uintptr_t)(intptr_t)RULE_CFA_OFF(rule);
    if (cfa <= sp || cfa > stack_hi || (cfa & 7) != 0) return -1;
    uintptr_t ra = *(const uintptr_t *)(cfa - 8);
    if (RULE_RBP_SAVED(rule)) {
      uintptr_t slot = cfa + (uintptr_t)(intptr_t)RULE_RBP_OFF(rule);
      if (slot < stack_lo || slot > stack_hi - 8 || (slot & 7) != 0) return -1;
      bp = *(const uintptr_t *)slot;
    }
    sp = cfa;
    pc = ra;
    if (pc < 4096) break;
    if (n == 0 && pc >= skip_lo && pc < skip_hi) continue; /* the shim's own frames */
    if (n == max_frames) {
      *truncated = 1;
      break;
    }
    frames[n++] = pc;
  }
  *last_bp = bp;
  return n;
}

int lw_unwind_rules_describe(uintptr_t pc, int *cfa_is_rbp, int32_t *cfa_offset, int *rbp_saved, int32_t *rbp_offset) {
  if (!find_object) return 0;
  uint64_t r = compute_rule(pc);
  if (RULE_KIND(r) == RULE_NO_INFO) return -1;
  if (RULE_KIND(r) != RULE_FRAME) return 0;
  *cfa_is_rbp = RULE_CFA_RBP(r);
  *cfa_offset = RULE_CFA_OFF(r);
  *rbp_saved = RULE_RBP_SAVED(r);
  *rbp_offset = RULE_RBP_OFF(r);
  return 1;
}

void lw_unwind_rules_counts(uint64_t *m, uint64_t *u) {
  *m = atomic_load(&misses);
  *u = atomic_load(&unsupported_count);
}

#else /* not x86-64: the fast path is off, libgcc walks every stack */

int lw_unwind_rules_init(void) { return -1; }
int lw_unwind_rules_walk(const lw_walk_start *from, uint64_t *frames, int max_frames, int *truncated, uintptr_t skip_lo,
                         uintptr_t skip_hi, uintptr_t stack_lo, uintptr_t stack_hi, uintptr_t *last_bp) {
  (void)from, (void)frames, (void)max_frames, (void)truncated, (void)skip_lo, (void)skip_hi, (void)stack_lo, (void)stack_hi, (void)last_bp;
  return -1;
}
int lw_unwind_rules_describe(uintptr_t pc, int *a, int32_t *b, int *c, int32_t *d) {
  (void)pc, (void)a, (void)b, (void)c, (void)d;
  return 0;
}
void lw_unwind_rules_counts(uint64_t *m, uint64_t *u) { *m = *u = 0; }

#endif
