#define _GNU_SOURCE
#include "thread_stack.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel's PROCMAP_QUERY (include/uapi/linux/fs.h, Linux 6.11), declared here because the
 * distribution headers we build with may predate it. An older kernel answers ENOTTY. */
struct lw_procmap_query {
  uint64_t size, query_flags, query_addr;
  uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
  uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
  uint64_t vma_name_addr, build_id_addr;
};
#define LW_PROCMAP_QUERY _IOWR('f', 17, struct lw_procmap_query)
#define LW_PROCMAP_VMA_READABLE 0x01

enum { S_START, S_END, S_PERMS, S_SKIP, S_BAD };

void lw_maps_scan_init(struct lw_maps_scan *s, uintptr_t want) {
  *s = (struct lw_maps_scan){.want = want, .state = S_START};
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* One line: "start-end perms ...\n". Anything else on a line sends it to S_SKIP unmatched. */
int lw_maps_scan_feed(struct lw_maps_scan *s, const char *text, size_t n) {
  for (size_t i = 0; i < n && !s->found; i++) {
    char c = text[i];
    if (c == '\n') {
      if (s->state == S_SKIP && s->readable && s->start < s->end && s->want >= s->start && s->want < s->end) {
        s->found = 1;
        s->lo = (uintptr_t)s->start;
        s->hi = (uintptr_t)s->end;
      }
      s->state = S_START;
      s->start = s->end = 0;
      s->digits = s->readable = 0;
      continue;
    }
    switch (s->state) {
      case S_START:
      case S_END: {
        int v = hex_value(c);
        uint64_t *field = s->state == S_START ? &s->start : &s->end;
        if (v >= 0 && s->digits < 16) {
          *field = *field << 4 | (uint64_t)v;
          s->digits++;
        } else if (s->state == S_START && c == '-' && s->digits > 0) {
          s->state = S_END;
          s->digits = 0;
        } else if (s->state == S_END && c == ' ' && s->digits > 0) {
          s->state = S_PERMS;
          s->digits = 0;
        } else {
          s->state = S_BAD; /* unparseable: skip the line, never match it */
        }
        break;
      }
      case S_PERMS:
        /* the first permission character: 'r' or '-' */
        if (c == 'r') s->readable = 1;
        else if (c != '-') s->state = S_BAD;
        if (s->state == S_PERMS) s->state = S_SKIP;
        break;
      default:
        break;
    }
  }
  return s->found;
}

static int query_ioctl(int fd, uintptr_t addr, uintptr_t *lo, uintptr_t *hi) {
  struct lw_procmap_query q = {.size = sizeof q, .query_addr = addr};
  if (syscall(SYS_ioctl, fd, LW_PROCMAP_QUERY, &q) != 0) return -1; /* ENOTTY before 6.11 */
  if (!(q.vma_flags & LW_PROCMAP_VMA_READABLE) || q.vma_start > addr || q.vma_end <= addr) return 0;
  *lo = (uintptr_t)q.vma_start;
  *hi = (uintptr_t)q.vma_end;
  return 1;
}

int lw_thread_stack_mapping(uintptr_t addr, uintptr_t *lo, uintptr_t *hi) {
  /* This thread's view, not the process's: once the main thread has ended (pthread_exit in main,
   * the others running on), /proc/self is that zombie's and its maps are empty. */
  int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/thread-self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  int found = query_ioctl(fd, addr, lo, hi);
  if (found < 0) {
    /* A small buffer: this runs inside an allocation, on whatever stack the thread has left. */
    char buf[512];
    struct lw_maps_scan s;
    lw_maps_scan_init(&s, addr);
    long got;
    found = 0;
    while (!found && (got = syscall(SYS_read, fd, buf, sizeof buf)) > 0) found = lw_maps_scan_feed(&s, buf, (size_t)got);
    if (found) {
      *lo = s.lo;
      *hi = s.hi;
    }
  }
  syscall(SYS_close, fd);
  return found;
}
