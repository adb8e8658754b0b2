#define _GNU_SOURCE
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "live_set.h"

/* Where settings come from: the environment (preloaded), or the text `leakwatch attach` passed in
 * (NAME=VALUE lines; a value is returned in a static buffer, valid until the next lookup). */
static const char *settings_text;

static const char *setting(const char *name) {
  if (!settings_text) return secure_getenv(name);
  static char value[LW_RUN_DIR_MAX];
  size_t n = strlen(name);
  for (const char *line = settings_text; *line;) {
    const char *end = strchr(line, '\n');
    if (!end) end = line + strlen(line);
    if ((size_t)(end - line) > n && strncmp(line, name, n) == 0 && line[n] == '=') {
      size_t len = (size_t)(end - line) - n - 1;
      if (len >= sizeof value) return NULL;
      memcpy(value, line + n + 1, len);
      value[len] = 0;
      return value;
    }
    line = *end ? end + 1 : end;
  }
  return NULL;
}

static uint64_t env_u64(const char *name, uint64_t dflt) {
  const char *v = setting(name);
  if (!v || !*v) return dflt;
  uint64_t x = 0;
  for (; *v; v++) {
    if (*v < '0' || *v > '9') return dflt;
    if (x > (UINT64_MAX - 9) / 10) return dflt;
    x = x * 10 + (uint64_t)(*v - '0');
  }
  return x;
}

void lw_config_read_text(lw_config *c, const char *text) {
  settings_text = text;
  lw_config_read(c);
  settings_text = NULL;
}

void lw_config_read(lw_config *c) {
  memset(c, 0, sizeof *c);
  c->sample_bytes = env_u64("LEAKWATCH_SAMPLE_BYTES", 524288);
  uint64_t mf = env_u64("LEAKWATCH_MAX_FRAMES", 48);
  c->max_frames = mf < 1 ? 1 : mf > LW_MAX_FRAMES ? LW_MAX_FRAMES : (int)mf;
  /* Exact mode bursts at millions of records per second, faster than a collector drains: a deep ring
   * absorbs the burst. Space is reserved as the ring first fills, so a short process costs little. */
  uint64_t ring = env_u64("LEAKWATCH_RING_BYTES", c->sample_bytes == 0 ? (256u << 20) : (8u << 20));
  if (ring < 65536) ring = 65536;
  if (ring > (1u << 30)) ring = 1u << 30;
  while (ring & (ring - 1)) ring &= ring - 1; /* round down to 2^k */
  c->ring_bytes = ring;
  uint64_t populate = env_u64("LEAKWATCH_RING_POPULATE", 0);
  c->ring_populate = populate == 1 || (populate > 1 && populate == (uint64_t)syscall(SYS_getppid));
  uint64_t wait_ms = env_u64("LEAKWATCH_RING_FULL_WAIT_MS", 0);
  c->ring_full_wait_ns = (wait_ms > 600000 ? 600000 : wait_ms) * 1000000ull;
  uint64_t delay = env_u64("LEAKWATCH_START_DELAY", 0);
  c->start_delay_ns = delay > 86400u * 365 ? 86400ull * 365 * 1000000000ull : delay * 1000000000ull;
  const char *uw = setting("LEAKWATCH_UNWIND");
  c->unwinder = uw && strcmp(uw, "fp") == 0      ? LW_UNWIND_FP
                : uw && strcmp(uw, "check") == 0 ? LW_UNWIND_CHECK
                : uw && strcmp(uw, "libgcc") == 0 ? LW_UNWIND_LIBGCC
                                                  : LW_UNWIND_DWARF;
  c->live_set_bits = (int)env_u64("LEAKWATCH_LIVE_SET_BITS", LW_LIVE_SET_DEFAULT_BITS);
  uint64_t stats = env_u64("LEAKWATCH_ALLOCATOR_STATS_SECONDS", 60);
  c->allocator_stats_interval_ns = stats > 86400 ? 86400ull * 1000000000ull : stats * 1000000000ull;
  const char *dir = setting("LEAKWATCH_RUN_DIR");
  strcpy(c->run_dir, "/dev/shm/leakwatch");
  if (dir && *dir == '/' && strlen(dir) < sizeof c->run_dir) strcpy(c->run_dir, dir);
}

int lw_config_check_run_dir(const char *dir) {
  mkdir(dir, 0700); /* fine if it exists */
  int fd = (int)syscall(SYS_openat, AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct stat st;
  int ok = syscall(SYS_fstat, fd, &st) == 0 && S_ISDIR(st.st_mode);
  syscall(SYS_close, fd);
  if (!ok) return -1;
  int sticky = (st.st_mode & S_ISVTX) != 0;
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !sticky) return -1;
  if (st.st_uid != geteuid() && st.st_uid != 0 && !sticky) return -1;
  return 0;
}
