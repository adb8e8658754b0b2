/*
 * leakwatch-inject: loads the shim into a running process and starts or ends its recording there
 * (`leakwatch attach` / `detach` run it; it is a separate program because ptrace belongs to the
 * thread that attached, and a JVM is a poor place for that).
 *
 *   leakwatch-inject attach PID SHIM SETTINGS     SETTINGS: NAME=VALUE lines (config.h's names)
 *   leakwatch-inject detach PID SHIM
 *
 * How: PTRACE_SEIZE one thread of the target, PTRACE_INTERRUPT it, and run two calls on it with
 * the registers it had saved aside: dlopen(SHIM) (glibc >= 2.34 has it in libc.so.6), then
 * leakwatch_attach(SETTINGS, &answer) (its address from the shim's offset in a copy loaded here).
 * Each call returns into glibc's signal trampoline over a signal frame built from the thread's
 * saved state (remote_call_restoring): while this program lives it catches that rt_sigreturn and
 * restores the thread itself; if it dies in the middle of a call, the frame restores it. Only that
 * one thread stops; the others run on.

 * Where a thread is hijacked matters: the calls allocate and take the loader's lock. A thread
 * stopped inside libc, the loader, libgcc_s or the shim (in user code there), or in one of the
 * system calls malloc
 * makes (brk, mmap, munmap, mremap, mprotect, madvise), may hold an arena or loader lock that the
 * calls would wait on for ever; it is let go for a millisecond and stopped again, up to 200 times,
 * then the next thread is tried. So is a thread running a signal handler that interrupted such
 * code (the handler is the program's, but malloc may be half done under it). A thread stopped in any
 * other system call or in the program's own code holds neither.
 *
 * A process under a seccomp filter is refused (unless LEAKWATCH_ATTACH_SECCOMP is set): the shim's
 * loading makes system calls its filter may answer with a kill.
 *
 * Safety: the target is never killed and never left stopped: fatal signals to this program are
 * blocked while a call runs, and a kill -9 of it in the middle of a call leaves the thread to
 * return through its signal frame (where glibc's trampoline is not the expected one, or there is no
 * XSAVE area, calls return to address 0 as before, and a kill -9 then faults it). A signal that arrives for the
 * hijacked thread during a call is delivered to it there, as any signal interrupts any code; a
 * group stop (SIGSTOP, SIGTSTP) seen meanwhile is let through for the call, and the kernel stops the
 * thread again at its release if the group stop still holds (a SIGCONT since has ended it: sending
 * the stop again left the process stopped with nobody to continue it).
 *
 * Exit status: 0 done, 2 usage, 3 refused (reason on stderr), 4 no permission to trace,
 * 5 the process is gone, 6 the call failed in the target, 7 no safe point found.
 * On success stdout has one line: "ok tid=T paused_us=P stops=S".
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <cpuid.h>
#include <dirent.h>
#include <stddef.h>
#include <ucontext.h>
#include <time.h>
#include <unistd.h>

enum { OK = 0, USAGE = 2, REFUSED = 3, NO_PERMISSION = 4, GONE = 5, FAILED = 6, NO_SAFE_POINT = 7 };

static pid_t target;
static const char *action = "attach"; /* or "detach": for messages */

static int alive(pid_t pid);
static void proc_file(char *out, size_t n, pid_t pid, const char *file);

/* A refusal read from /proc of a process that has since exited would name the wrong cause (a
 * zombie cannot be traced: "not allowed"; its exe and root are gone: "statically linked", "sees no
 * shim"): every refusal first asks whether the target still lives. */
static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void die(int code, const char *fmt, ...) {
  if ((code == REFUSED || code == NO_PERMISSION) && target > 0 && !alive(target)) {
    fprintf(stderr, "leakwatch-inject: pid %d exited during the %s\n", target, action);
    exit(GONE);
  }
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "leakwatch-inject: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(code);
}

static uint64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- the target's memory map ------------------------------------------------------------------- */

typedef struct {
  uintptr_t lo, hi;
} range;

typedef struct {
  uintptr_t libc_base;
  unsigned long libc_dev_major, libc_dev_minor, libc_inode;
  char libc_path[4096];
  range code[64]; /* executable ranges of libc, the loader and libgcc_s */
  int ncode;
  uintptr_t loader_base;
  unsigned long loader_inode;
  range loader_code[8]; /* the loader's alone: a thread there is inside a load */
  int nloader_code;
  int has_shim;
  uintptr_t shim_base; /* where its first mapping (file offset 0) starts */
  unsigned long shim_dev_major, shim_dev_minor, shim_inode;
} map_info;

static int is_libc(const char *path) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  return strncmp(b, "libc.so", 7) == 0 || (strncmp(b, "libc-", 5) == 0 && strstr(b, ".so"));
}

static int is_loader(const char *path) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  return strncmp(b, "ld-linux", 8) == 0 || strncmp(b, "ld-2.", 5) == 0;
}

static int read_maps(pid_t pid, const char *shim, map_info *m) {
  char path[96];
  proc_file(path, sizeof path, pid, "maps");
  FILE *f = fopen(path, "r");
  if (!f) { /* the live thread it went through may have ended meanwhile: another, once */
    proc_file(path, sizeof path, pid, "maps");
    f = fopen(path, "r");
  }
  if (!f) return -1;
  memset(m, 0, sizeof *m);
  char line[8192];
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi, off, major, minor, inode;
    char perms[8];
    int n = 0;
    if (sscanf(line, "%lx-%lx %7s %lx %lx:%lx %lu %n", &lo, &hi, perms, &off, &major, &minor, &inode, &n) < 7) continue;
    char *p = line + n;
    p[strcspn(p, "\n")] = 0;
    if (*p != '/') continue;
    if (shim && strcmp(p, shim) == 0) {
      m->has_shim = 1;
      if (off == 0 && !m->shim_base) {
        m->shim_base = lo;
        m->shim_dev_major = major;
        m->shim_dev_minor = minor;
        m->shim_inode = inode;
      }
    }
    if (is_loader(p) && off == 0 && !m->loader_base) {
      m->loader_base = lo;
      m->loader_inode = inode;
    }
    if (is_loader(p) && perms[2] == 'x' && m->nloader_code < 8) m->loader_code[m->nloader_code++] = (range){lo, hi};
    if (is_libc(p) && off == 0 && !m->libc_base) {
      m->libc_base = lo;
      m->libc_dev_major = major;
      m->libc_dev_minor = minor;
      m->libc_inode = inode;
      snprintf(m->libc_path, sizeof m->libc_path, "%s", p);
    }
    /* Code that may hold a lock the calls need: libc (malloc's arenas), the loader, libgcc_s (its
     * unwinder's object list). (The shim's own code may be inside a walk of the loaded objects: so
     * detach calls into it directly, without dlopen, and takes no loader lock.) */
    int locks = is_libc(p) || is_loader(p) || strstr(p, "/libgcc_s.so");
    if (locks && perms[2] == 'x' && m->ncode < 64) m->code[m->ncode++] = (range){lo, hi};
  }
  fclose(f);
  return 0;
}

static int in_code(const map_info *m, uintptr_t pc) {
  for (int i = 0; i < m->ncode; i++)
    if (pc >= m->code[i].lo && pc < m->code[i].hi) return 1;
  return 0;
}

static int in_loader(const map_info *m, uintptr_t pc) {
  for (int i = 0; i < m->nloader_code; i++)
    if (pc >= m->loader_code[i].lo && pc < m->loader_code[i].hi) return 1;
  return 0;
}

/* The shim file the target has mapped is the one our offsets come from (a package upgrade may
 * rename a new build into place between our dlopen and its). */
static int same_shim(const map_info *a, const map_info *b) {
  return a->shim_base && b->shim_base && a->shim_inode == b->shim_inode &&
         a->shim_dev_major == b->shim_dev_major && a->shim_dev_minor == b->shim_dev_minor;
}

/* /proc/PID/stat from its state on (after the command's closing parenthesis: the command may hold
 * spaces and parentheses), in buf; NULL when there is none. */
static const char *stat_fields(pid_t pid, pid_t tid, char *buf, size_t size) {
  char path[96];
  snprintf(path, sizeof path, "/proc/%d/task/%d/stat", pid, tid);
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  size_t n = fread(buf, 1, size - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *close = strrchr(buf, ')');
  return close ? close + 1 : NULL;
}

/* The first of pid's threads, other than `except`, for which test(pid, tid, arg) holds; 0 when none. */
static pid_t find_thread(pid_t pid, pid_t except, int (*test)(pid_t, pid_t, const void *), const void *arg) {
  char dir[64];
  snprintf(dir, sizeof dir, "/proc/%d/task", pid);
  DIR *d = opendir(dir);
  if (!d) return 0;
  pid_t found = 0;
  struct dirent *e;
  while (!found && (e = readdir(d))) {
    char *end;
    long tid = strtol(e->d_name, &end, 10);
    if (*end || tid <= 0 || tid == except) continue;
    if (test(pid, (pid_t)tid, arg)) found = (pid_t)tid;
  }
  closedir(d);
  return found;
}

static int waits_in_loader(pid_t pid, pid_t tid, const void *maps) {
  char path[96], line[512];
  snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", pid, tid);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int got = fgets(line, sizeof line, f) != NULL;
  fclose(f);
  if (!got || line[0] < '0' || line[0] > '9') return 0; /* "running", or -1: not in a system call */
  const char *last = strrchr(line, ' ');
  uintptr_t pc = last ? (uintptr_t)strtoull(last + 1, NULL, 16) : 0;
  return pc && in_loader(maps, pc);
}

/* A thread of pid, other than `except`, waiting in a system call made by the loader: it is loading a
 * library and holds the loader's lock, which our dlopen would wait for as long as that load takes (a
 * library on a FIFO or a stalled network file system: for ever, the injector with it). Read from
 * /proc/PID/task/TID/syscall, whose last field is the user pc of a thread in a system call; 0 when
 * there is none. A thread running in the loader outside a system call will be done in a moment. */
static pid_t thread_waiting_in_loader(pid_t pid, pid_t except, const map_info *m) {
  return find_thread(pid, except, waits_in_loader, m);
}

/* A vfork child (posix_spawn's, system()'s) runs in its parent's memory until it execs: a dlopen
 * made there loads the shim into the parent, with the parent's thread pointer, on the child's small
 * stack, and the attach reported for the child starts the parent's recording. kcmp says whether two
 * processes share one address space; where it cannot (no permission on the parent, a kernel without
 * it) the attach goes on as before. */
static int shares_parents_memory(pid_t pid) {
  char buf[512];
  const char *fields = stat_fields(pid, pid, buf, sizeof buf);
  int ppid;
  if (!fields || sscanf(fields, " %*c %d", &ppid) != 1 || ppid <= 0) return 0;
  return syscall(SYS_kcmp, pid, (pid_t)ppid, 1 /* KCMP_VM */, 0UL, 0UL) == 0;
}

/* The same program image: libc and the loader the same files where they were (an exec maps them
 * anew). Identity only: libgcc_s, loaded on a first pthread_exit or backtrace, may come meanwhile. */
static int same_image(const map_info *a, const map_info *b) {
  return a->libc_base == b->libc_base && a->libc_inode == b->libc_inode &&
         a->loader_base == b->loader_base && a->loader_inode == b->loader_inode;
}

/* ---- ptrace ------------------------------------------------------------------------------------ */

typedef struct {
  struct user_regs_struct regs;
  uint8_t xstate[16384]; /* XSAVE area: SSE/AVX registers the calls may clobber */
  size_t xstate_len;
} thread_state;

static int save_state(pid_t tid, thread_state *s) {
  if (ptrace(PTRACE_GETREGS, tid, 0, &s->regs) != 0) return -1;
  struct iovec iov = {s->xstate, sizeof s->xstate};
  if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) == 0) {
    s->xstate_len = iov.iov_len;
  } else {
    struct user_fpregs_struct *fp = (struct user_fpregs_struct *)s->xstate;
    if (ptrace(PTRACE_GETFPREGS, tid, 0, fp) != 0) return -1;
    s->xstate_len = 0;
  }
  return 0;
}

static int restore_state(pid_t tid, thread_state *s) {
  int rc = ptrace(PTRACE_SETREGS, tid, 0, &s->regs);
  if (s->xstate_len) {
    struct iovec iov = {s->xstate, s->xstate_len};
    rc |= ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov);
  } else {
    rc |= ptrace(PTRACE_SETFPREGS, tid, 0, (struct user_fpregs_struct *)s->xstate);
  }
  return rc;
}

/* The stopped thread's memory, opened once it is stopped: the open file holds that address space, so
 * what is written through it can only reach the image the checks after the stop looked at. By pid,
 * each write looks the process up again: after another thread's exec (which kills the stopped one and
 * takes the main thread's id), a write could land in the new program, at the same addresses when
 * ASLR is off. -1: not open (before the stop, or a kernel that refused the open), by pid. */
static int thread_mem = -1;

/* Opened right after the stop and proven by a ptrace call after it (see the loop in main): only our
 * stopped tracee answers one, and a stopped thread keeps its address space, so the file is of the
 * thread that was stopped. Each stop's replaces the last one's (a thread let run has no more use for
 * it, and this program exits after the thread it calls into). -1 with errno when it cannot be
 * opened. */
static int open_thread_mem(pid_t target, pid_t tid) {
  if (thread_mem >= 0) close(thread_mem);
  char path[96];
  snprintf(path, sizeof path, "/proc/%d/task/%d/mem", target, tid);
  thread_mem = open(path, O_RDWR | O_CLOEXEC);
  return thread_mem >= 0 ? 0 : -1;
}

static int write_mem(pid_t pid, uintptr_t addr, const void *buf, size_t len) {
  if (thread_mem >= 0) return pwrite(thread_mem, buf, len, (off_t)addr) == (ssize_t)len ? 0 : -1;
  struct iovec local = {(void *)buf, len}, remote = {(void *)addr, len};
  if (process_vm_writev(pid, &local, 1, &remote, 1, 0) == (ssize_t)len) return 0;
  /* process_vm_writev honours page protection; stacks are writable, so this is for odd kernels. */
  for (size_t i = 0; i < len; i += sizeof(long)) {
    long word = 0;
    size_t n = len - i < sizeof word ? len - i : sizeof word;
    if (n < sizeof word) {
      errno = 0;
      word = ptrace(PTRACE_PEEKDATA, pid, (void *)(addr + i), 0);
      if (errno) return -1;
    }
    memcpy(&word, (const uint8_t *)buf + i, n);
    if (ptrace(PTRACE_POKEDATA, pid, (void *)(addr + i), (void *)word) != 0) return -1;
  }
  return 0;
}

static int read_mem(pid_t pid, uintptr_t addr, void *buf, size_t len) {
  if (thread_mem >= 0) return pread(thread_mem, buf, len, (off_t)addr) == (ssize_t)len ? 0 : -1;
  struct iovec local = {buf, len}, remote = {(void *)addr, len};
  return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len ? 0 : -1;
}

/* Sets the stopped thread up to run fn(a, b) with its return address at sp (written by the caller)
 * and resumes it with `how` (PTRACE_CONT or PTRACE_SYSCALL). */
static int start_call(pid_t tid, const struct user_regs_struct *base, uintptr_t sp, uintptr_t fn, uintptr_t a,
                      uintptr_t b, enum __ptrace_request how) {
  struct user_regs_struct regs = *base;
  regs.rsp = sp;
  regs.rip = fn;
  regs.rdi = a;
  regs.rsi = b;
  regs.rax = 0;
  regs.orig_rax = (unsigned long)-1; /* no system call restart on resume */
  if (ptrace(PTRACE_SETREGS, tid, 0, &regs) != 0) return -1;
  return ptrace(how, tid, 0, 0) != 0 ? -1 : 0;
}

/* The next stop of tid: its waitpid status, or -1 when the thread is gone. */
static int next_stop(pid_t tid) {
  for (;;) {
    int st;
    if (waitpid(tid, &st, __WALL) < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (WIFEXITED(st) || WIFSIGNALED(st)) return -1;
    if (WIFSTOPPED(st)) return st;
  }
}


/* Waits for the next stop of tid; passes on signals that are not ours. Returns the stop status, or
 * -1 when the thread is gone. `call`: a remote call is running (signals are delivered into it). */
static int wait_stop(pid_t tid, int call) {
  for (;;) {
    int st = next_stop(tid);
    if (st < 0) return -1;
    int sig = WSTOPSIG(st);
    int event = st >> 16;
    if (event == PTRACE_EVENT_STOP) {
      if (call) { /* only the fault at address 0 ends a call: a stop here is not its end */
        ptrace(PTRACE_CONT, tid, 0, 0);
        continue;
      }
      return st; /* our PTRACE_INTERRUPT (or a group stop: as good a place to stop) */
    }
    if (call && sig == SIGSEGV) {
      struct user_regs_struct regs;
      if (ptrace(PTRACE_GETREGS, tid, 0, &regs) == 0 && regs.rip == 0) return st; /* the call returned */
    }
    if (!call) return st; /* a signal-delivery stop before a call: the caller passes it on */
    ptrace(PTRACE_CONT, tid, 0, (void *)(long)sig); /* delivered where it would have been */
  }
}

/* Runs fn(a, b) on the stopped thread with the state `saved`; data already below its stack. */
static int remote_call(pid_t tid, const thread_state *saved, uintptr_t stack_top, uintptr_t fn, uintptr_t a,
                       uintptr_t b, uintptr_t *result) {
  uintptr_t sp = ((stack_top - 256) & ~(uintptr_t)15) - 8;
  uintptr_t zero = 0;
  if (write_mem(tid, sp, &zero, sizeof zero) != 0) return -1;
  if (start_call(tid, &saved->regs, sp, fn, a, b, PTRACE_CONT) != 0) return -1;
  if (wait_stop(tid, 1) < 0) return -2;
  struct user_regs_struct regs;
  if (ptrace(PTRACE_GETREGS, tid, 0, &regs) != 0) return -1;
  *result = regs.rax;
  return 0;
}

/*
 * A call that leaves the thread as it was even if this program dies in the middle of it. The call
 * returns into glibc's signal trampoline (__restore_rt: rt_sigreturn) on top of a signal frame built
 * here from the thread's saved state: its registers (with a system call it was stopped in set up to
 * restart, as the kernel does for a handler), its XSAVE area, its signal mask. The kernel restores
 * all of it, so the thread goes back to where it was stopped whether or not anyone is tracing it
 * then. The return value does not survive the trampoline: answers come through memory. The end of
 * the call is seen as the trampoline's rt_sigreturn from this frame (the thread runs under
 * PTRACE_SYSCALL): while this program lives, it skips that system call and restores the thread as
 * before (the registers it saved, a system call it was stopped in set up to restart); the frame
 * does it only when nobody is left to.
 *
 * The frame's alternate signal stack is an invalid one: the kernel ignores it (it squashes the
 * error) and the thread keeps its own, which cannot be read from here.
 */
#define RESTORER_LEN 9 /* mov $15,%rax; syscall */
static const uint8_t RESTORER_CODE[RESTORER_LEN] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
#ifndef FP_XSTATE_MAGIC2
#define FP_XSTATE_MAGIC2 0x46505845u
#endif
#define ERESTARTSYS_ 512
#define ERESTARTNOINTR_ 513
#define ERESTARTNOHAND_ 514
#define ERESTART_RESTARTBLOCK_ 516

static int test_die_in_call; /* LEAKWATCH_INJECT_TEST_DIE_IN_CALL=N: SIGKILL this program in call N */

/* The thread we held stopped is gone. Nothing but the whole process's end or another thread's exec
 * ends a thread held stopped: which one, for the message (after an exec, what was written went with
 * the old address space; see thread_mem). */
static void thread_lost(pid_t target, const char *action) __attribute__((noreturn));
static void thread_lost(pid_t target, const char *action) {
  /* A kill of the whole process ends the held thread first: its siblings may show as running a
   * moment longer. Gone within 100 ms, it was the end; alive after, the exec. */
  for (int i = 0; i < 20 && alive(target); i++) {
    struct timespec ms5 = {0, 5000000};
    nanosleep(&ms5, NULL);
  }
  if (alive(target)) die(REFUSED, "pid %d started another program (exec) during the %s: try again", target, action);
  die(GONE, "pid %d exited during the %s", target, action);
}

/* Whether the thread we stopped is still ours to ask (ESRCH: gone, or its id now another's). */
static int held(pid_t tid) {
  errno = 0;
  return !(ptrace(PTRACE_PEEKUSER, tid, 0, 0) == -1 && errno == ESRCH);
}

/* A stopped thread released untouched (its registers were never changed) and our signals
 * unblocked, before a refusal. */
static void let_go(pid_t tid, const sigset_t *old) {
  ptrace(PTRACE_DETACH, tid, 0, 0);
  sigprocmask(SIG_SETMASK, old, NULL);
}

/* A test hook's pause: the milliseconds its environment variable gives, if any. */
static void test_pause(const char *variable) {
  const char *ms = getenv(variable);
  if (!ms || atoi(ms) <= 0) return;
  struct timespec pause = {atoi(ms) / 1000, (long)(atoi(ms) % 1000) * 1000000L};
  nanosleep(&pause, NULL);
}
static int calls_made;

/*
 * The XSAVE size and features a signal frame may carry: the features this machine enables (XCR0)
 * but those enabled per process on request (XFD: AMX's tile data), whose space a process that never
 * asked for them does not have; ptrace's area includes them, and a frame that size would be taken
 * for a legacy one (the AVX upper halves reset). The standard-format size is the end of the last
 * such component. 0 when CPUID cannot say.
 */
static uint32_t sigframe_xstate_size(uint64_t *features) {
  uint32_t lo, hi, a, b, c, d;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  uint64_t xcr0 = ((uint64_t)hi << 32) | lo, keep = xcr0 & 3; /* x87 and SSE live in the legacy area */
  uint32_t end = 512 + 64;                                      /* legacy area and XSAVE header */
  if (__get_cpuid_max(0, NULL) < 0xd) return 0;
  for (int i = 2; i < 63; i++) {
    if (!(xcr0 & (1ull << i))) continue;
    __cpuid_count(0xd, i, a, b, c, d);
    (void)d;
    if (c & 4) continue; /* XFD: enabled per process */
    keep |= 1ull << i;
    if (b + a > end) end = b + a;
  }
  *features = keep;
  return end;
}

static int remote_call_restoring(pid_t tid, const thread_state *saved, uint64_t sigmask, uintptr_t stack_top,
                                 uintptr_t fn, uintptr_t a, uintptr_t b, uintptr_t restorer) {
  if (!saved->xstate_len) return -1; /* no XSAVE area to hand the kernel: the caller falls back */
  /* The XSAVE area (64-byte aligned) with its trailing magic, then the frame below it. */
  uintptr_t xs = (stack_top - saved->xstate_len - 4) & ~(uintptr_t)63;
  uint32_t magic2 = FP_XSTATE_MAGIC2;
  ucontext_t uc;
  memset(&uc, 0, sizeof uc);
  uintptr_t frame = ((xs - 8 - sizeof uc - 128) & ~(uintptr_t)15) - 8; /* the call's rsp: 8 mod 16 */
  const struct user_regs_struct *r = &saved->regs;
  uint64_t rip = r->rip, rax = r->rax;
  if ((long)r->orig_rax >= 0) { /* stopped in a system call: resume as the kernel would, by restarting */
    long err = -(long)r->rax;
    if (err == ERESTARTSYS_ || err == ERESTARTNOINTR_ || err == ERESTARTNOHAND_) {
      rax = r->orig_rax;
      rip -= 2;
    } else if (err == ERESTART_RESTARTBLOCK_) {
      rax = SYS_restart_syscall;
      rip -= 2;
    }
  }
  greg_t *g = uc.uc_mcontext.gregs;
  g[REG_R8] = (greg_t)r->r8, g[REG_R9] = (greg_t)r->r9, g[REG_R10] = (greg_t)r->r10, g[REG_R11] = (greg_t)r->r11;
  g[REG_R12] = (greg_t)r->r12, g[REG_R13] = (greg_t)r->r13, g[REG_R14] = (greg_t)r->r14, g[REG_R15] = (greg_t)r->r15;
  g[REG_RDI] = (greg_t)r->rdi, g[REG_RSI] = (greg_t)r->rsi, g[REG_RBP] = (greg_t)r->rbp, g[REG_RBX] = (greg_t)r->rbx;
  g[REG_RDX] = (greg_t)r->rdx, g[REG_RAX] = (greg_t)rax, g[REG_RCX] = (greg_t)r->rcx, g[REG_RSP] = (greg_t)r->rsp;
  g[REG_RIP] = (greg_t)rip, g[REG_EFL] = (greg_t)r->eflags;
  /* cs, gs, fs, ss as four u16 (gs and fs are not restored on x86-64) */
  g[REG_CSGSFS] = (greg_t)((r->cs & 0xffff) | ((r->ss & 0xffff) << 48));
  uc.uc_mcontext.fpregs = (fpregset_t)xs;
  uc.uc_flags = 1 | 2 | 4; /* UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS */
  uc.uc_stack.ss_flags = 3; /* invalid: the thread's own alternate stack stays */
  memcpy(&uc.uc_sigmask, &sigmask, sizeof sigmask);
  /* The XSAVE area as a signal frame carries it: ptrace leaves the software-reserved bytes (which
   * say an extended area follows, its size and features) unset, and without them the kernel would
   * restore only the SSE part and reset the rest (the upper halves of the AVX registers). */
  static uint8_t area[sizeof saved->xstate];
  memcpy(area, saved->xstate, saved->xstate_len);
  struct _fpx_sw_bytes sw;
  memset(&sw, 0, sizeof sw);
  uint64_t features;
  uint32_t size = sigframe_xstate_size(&features);
  if (!size || size > saved->xstate_len) return -1;
  sw.magic1 = FP_XSTATE_MAGIC1;
  sw.extended_size = size + 4;
  sw.xstate_bv = features;
  sw.xstate_size = size;
  memcpy(area + 464, &sw, sizeof sw);
  uint64_t ret = restorer;
  if (write_mem(tid, xs, area, saved->xstate_len) != 0 ||
      write_mem(tid, xs + size, &magic2, sizeof magic2) != 0 ||
      write_mem(tid, frame, &ret, sizeof ret) != 0 || write_mem(tid, frame + 8, &uc, sizeof uc) != 0)
    return -1;
  if (start_call(tid, r, frame, fn, a, b, PTRACE_SYSCALL) != 0) return -1;
  if (++calls_made == test_die_in_call) kill(getpid(), SIGKILL);
  if (calls_made <= 2) test_pause("LEAKWATCH_INJECT_TEST_PAUSE_IN_CALL_MS");
  for (;;) {
    int st = next_stop(tid);
    if (st < 0) return -2;
    int sig = WSTOPSIG(st), event = st >> 16;
    if (sig == (SIGTRAP | 0x80)) { /* a system call stop (PTRACE_O_TRACESYSGOOD) */
      struct user_regs_struct now;
      if (ptrace(PTRACE_GETREGS, tid, 0, &now) == 0 && now.orig_rax == SYS_rt_sigreturn &&
          now.rip == restorer + RESTORER_LEN && now.rsp == frame + 8) {
        /* The entry of the trampoline's rt_sigreturn from our frame (a handler's is elsewhere). We
         * are alive: skip it (orig_rax -1) and put the registers back ourselves, as a detach from
         * here leaves them; the frame was only for the case we are not. */
        struct user_regs_struct back = *r;
        back.rip = rip;
        back.rax = rax;
        back.orig_rax = (unsigned long)-1;
        struct iovec iov = {(void *)saved->xstate, saved->xstate_len};
        /* The vector state first: until SETREGS skips the rt_sigreturn, a death here still leaves
         * the frame to restore everything. */
        if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov) != 0 ||
            ptrace(PTRACE_SETREGS, tid, 0, &back) != 0)
          return -1;
        return 0;
      }
      if (ptrace(PTRACE_SYSCALL, tid, 0, 0) != 0) return -1;
      continue;
    }
    if (event == PTRACE_EVENT_STOP) {
      if (ptrace(PTRACE_SYSCALL, tid, 0, 0) != 0) return -1;
      continue;
    }
    if (ptrace(PTRACE_SYSCALL, tid, 0, (void *)(long)sig) != 0) return -1; /* delivered where it was due */
  }
}

/* Lets a seized thread run for a millisecond. Being traced, it stops at every signal it is sent:
 * each is passed on at once, so a program under a storm of signals runs its handlers and gets back
 * to its own code instead of waiting in a signal stop for the next attempt (which would find it at
 * the next handler's entry, with the allocator interrupted under it, again and again). */
static void let_run(pid_t tid) {
  uint64_t until = mono_us() + 1000;
  while (mono_us() < until) {
    int st;
    pid_t w = waitpid(tid, &st, __WALL | WNOHANG);
    if (w < 0) return;
    if (w == tid && WIFSTOPPED(st)) {
      int sig = (st >> 16) == PTRACE_EVENT_STOP ? 0 : WSTOPSIG(st);
      ptrace(PTRACE_CONT, tid, 0, (void *)(long)sig);
      continue;
    }
    if (w == tid) return; /* exited: the next attempt finds out */
    struct timespec pause = {0, 50000};
    nanosleep(&pause, NULL);
  }
}

/* Lets go of a thread that may be running: PTRACE_DETACH needs it stopped, and a thread left
 * traced would stop at its next signal with nobody to resume it. */
static void release_running(pid_t tid) {
  if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) != 0) return;
  for (;;) {
    int st;
    if (waitpid(tid, &st, __WALL) < 0 || !WIFSTOPPED(st)) return;
    int sig = (st >> 16) == PTRACE_EVENT_STOP ? 0 : WSTOPSIG(st); /* a signal stop: deliver it */
    if (ptrace(PTRACE_DETACH, tid, 0, (void *)(long)sig) == 0) return;
  }
}

/* Room below rsp in the mapping that holds it: dlopen and the shim's start need some tens of KiB.
 * The main thread's [stack] grows on demand. */
static int stack_room_ok(pid_t pid, uintptr_t rsp) {
  char path[96], line[512];
  proc_file(path, sizeof path, pid, "maps");
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int ok = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx", &lo, &hi) != 2 || rsp < lo || rsp >= hi) continue;
    ok = strstr(line, "[stack]") != NULL || rsp - lo >= 128 * 1024;
    break;
  }
  fclose(f);
  return ok;
}

static const uint16_t MALLOC_SYSCALLS[] = {SYS_brk, SYS_mmap, SYS_munmap, SYS_mremap, SYS_mprotect, SYS_madvise};

/* glibc's signal trampoline (__restore_rt, not exported): the return address the kernel gives every
 * handler installed through glibc's sigaction. Read back from a handler installed here for a moment;
 * the target's libc is the same file, so the offset is the same there. 0 when it cannot be had. */
static void ignore_signal(int sig) { (void)sig; }
static uintptr_t our_restorer_offset(const map_info *self) {
  struct sigaction mine, now, before;
  memset(&mine, 0, sizeof mine);
  mine.sa_handler = ignore_signal;
  if (sigaction(SIGWINCH, &mine, &before) != 0) return 0;
  int ok = sigaction(SIGWINCH, NULL, &now) == 0;
  sigaction(SIGWINCH, &before, NULL);
  uintptr_t r = ok ? (uintptr_t)now.sa_restorer : 0;
  return r > self->libc_base ? r - self->libc_base : 0;
}

/* Is this thread running a signal handler that interrupted libc, the loader or libgcc_s (found by
 * the handler frames' return address, the trampoline, on its stack)? The handler is the program's
 * own code and looks safe, but the interrupted code may be inside malloc: the calls would re-enter
 * the allocator under its feet ("corrupted double-linked list" under a signal storm, seen). A stale
 * trampoline address on the stack reads a garbage "interrupted pc" that is almost never in libc: at
 * worst a retry a millisecond later. */
static int handler_interrupted_code(pid_t tid, const map_info *m, uintptr_t rsp, uintptr_t restorer) {
  static uint64_t words[64 * 1024 / 8];
  if (!restorer) return 0;
  struct iovec local = {words, sizeof words}, remote = {(void *)rsp, sizeof words};
  ssize_t got = process_vm_readv(tid, &local, 1, &remote, 1, 0); /* up to the end of its stack */
  if (got <= 0) return 0;
  size_t n = (size_t)got / 8;
  /* The frame: the trampoline's address, then the ucontext whose saved rip is the interrupted pc. */
  size_t rip_at = (8 + offsetof(ucontext_t, uc_mcontext.gregs) + REG_RIP * sizeof(greg_t)) / 8;
  for (size_t i = 0; i + rip_at < n; i++)
    if (words[i] == restorer && in_code(m, words[i + rip_at])) return 1;
  return 0;
}

static int safe_point(pid_t tid, const map_info *m, const struct user_regs_struct *r, uintptr_t restorer) {
  long nr = (long)r->orig_rax;
  if (r->cs == 0x23) return 0; /* running 32-bit code (__USER32_CS): no 64-bit call from there */
  if (r->fs_base == 0) return 0; /* no thread pointer yet: the loader has not set up TLS */
  /* In the loader, even in a system call (its openat, read, mmap, close): a library is being
   * loaded, its lock held by this very thread (a recursive lock: our dlopen would take it again and
   * run inside the half-done load), or at start-up libc not yet relocated. */
  if (in_loader(m, r->rip)) return 0;
  if (nr < 0 && in_code(m, r->rip)) return 0; /* in libc or the loader: may hold their locks */
  for (size_t i = 0; nr >= 0 && i < sizeof MALLOC_SYSCALLS / sizeof MALLOC_SYSCALLS[0]; i++)
    if (nr == MALLOC_SYSCALLS[i]) return 0;
  return !handler_interrupted_code(tid, m, r->rsp, restorer);
}

/* A live thread: not a zombie, and not on its way to being one (PF_EXITING, in the kernel's exit,
 * which empties its maps and drops its root while it still shows as running). */
static int thread_live(pid_t pid, pid_t tid) {
  char buf[512];
  const char *fields = stat_fields(pid, tid, buf, sizeof buf);
  char state;
  unsigned flags;
  if (!fields || sscanf(fields, " %c %*d %*d %*d %*d %*d %u", &state, &flags) != 2) return 0;
  return state != 'Z' && state != 'X' && !(flags & 0x4 /* PF_EXITING */);
}

static int live(pid_t pid, pid_t tid, const void *unused) {
  (void)unused;
  return thread_live(pid, tid);
}

/* A live thread of the process, the main one first; 0 when it has none. The main thread may have
 * ended (pthread_exit in main) while the others run: a zombie until the last one ends. */
static pid_t live_thread(pid_t pid) {
  return thread_live(pid, pid) ? pid : find_thread(pid, pid, live, NULL);
}

/* Alive: one of its threads is. */
static int alive(pid_t pid) { return live_thread(pid) != 0; }

/* The path of one of the process's /proc files, through a live thread's directory when its main
 * thread has ended: the main thread's own files then show no maps, no program and no root. */
static void proc_file(char *out, size_t n, pid_t pid, const char *file) {
  pid_t t = live_thread(pid);
  if (t == 0 || t == pid) snprintf(out, n, "/proc/%d/%s", pid, file);
  else snprintf(out, n, "/proc/%d/task/%d/%s", pid, t, file);
}

/* Whether its program asks for a dynamic loader (PT_INTERP): then a missing libc means it is
 * still starting, not that it has none. */
static int dynamically_linked(pid_t pid) {
  char path[96];
  proc_file(path, sizeof path, pid, "exe");
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  Elf64_Ehdr eh;
  int interp = 0;
  if (fread(&eh, sizeof eh, 1, f) == 1 && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
      eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum < 256) {
    for (int i = 0; i < eh.e_phnum && !interp; i++) {
      Elf64_Phdr ph;
      if (fseek(f, (long)(eh.e_phoff + (uint64_t)i * sizeof ph), SEEK_SET) != 0 || fread(&ph, sizeof ph, 1, f) != 1) break;
      interp = ph.p_type == PT_INTERP;
    }
  }
  fclose(f);
  return interp;
}

/* The value of a /proc/PID/status line ("Name:\tvalue"), into out; 0 when there is none. */
static int status_file_field(const char *path, const char *name, char *out, size_t n) {
  char line[512];
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t len = strlen(name);
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    if (strncmp(line, name, len) != 0 || line[len] != ':') continue;
    snprintf(out, n, "%s", line + len + 1);
    found = 1;
  }
  fclose(f);
  return found;
}

static int status_field(pid_t pid, const char *name, char *out, size_t n) {
  char path[96];
  proc_file(path, sizeof path, pid, "status");
  return status_file_field(path, name, out, n);
}

/* Runs with user shadow stacks (Linux 6.6+ CET): a call whose return the shadow stack does not
 * hold faults there, and a signal frame without its token is refused. */
static int shadow_stack_on(pid_t pid) {
  char v[256];
  return status_field(pid, "x86_Thread_features", v, sizeof v) && strstr(v, "shstk") != NULL;
}

/* Seccomp mode 2 (a filter): a system call outside its list may be refused or kill the process. */
static int seccomp_filtered(pid_t pid) {
  char v[64];
  return status_field(pid, "Seccomp", v, sizeof v) && atoi(v) == 2;
}

/* The same for one thread (/proc/PID/task/TID/status). */
static int thread_seccomp_filtered(pid_t pid, pid_t tid) {
  char path[96], v[64];
  snprintf(path, sizeof path, "/proc/%d/task/%d/status", pid, tid);
  return status_file_field(path, "Seccomp", v, sizeof v) && atoi(v) == 2;
}

static void no_permission(void) __attribute__((noreturn));
static void no_permission(void) {
  FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "r");
  int scope = -1;
  if (f) {
    if (fscanf(f, "%d", &scope) != 1) scope = -1;
    fclose(f);
  }
  die(NO_PERMISSION, "not allowed to trace pid %d (%s): run as root or as its user%s", target,
      geteuid() == 0 ? "even as root: a seccomp or LSM policy, or it is being traced already"
                     : "another user's process, or one that is not dumpable",
      scope >= 1 ? "; kernel.yama.ptrace_scope is 1 or more, so only root (CAP_SYS_PTRACE) may" : "");
}

static uintptr_t our_libc_offset(const map_info *self, const char *sym) {
  void *p = dlsym(RTLD_DEFAULT, sym);
  if (!p) die(REFUSED, "this program's libc has no %s (glibc older than 2.34?)", sym);
  return (uintptr_t)p - self->libc_base;
}

static void same_file_or_die(const char *shim) {
  struct stat ours, theirs;
  char path[4200];
  if (stat(shim, &ours) != 0) die(REFUSED, "no shim at %s: %s", shim, strerror(errno));
  char root[96];
  proc_file(root, sizeof root, target, "root");
  snprintf(path, sizeof path, "%s%s", root, shim);
  if (stat(path, &theirs) != 0 || ours.st_dev != theirs.st_dev || ours.st_ino != theirs.st_ino)
    die(REFUSED,
        "pid %d sees no %s of its own at that path (another mount namespace, a container?): "
        "install leakwatch at the same path inside it",
        target, shim);
}

int main(int argc, char **argv) {
  if (argc < 4 || (strcmp(argv[1], "attach") != 0 && strcmp(argv[1], "detach") != 0) ||
      (strcmp(argv[1], "attach") == 0 && argc < 5)) {
    fprintf(stderr, "usage: leakwatch-inject attach PID SHIM SETTINGS | detach PID SHIM\n");
    return USAGE;
  }
  int attach = strcmp(argv[1], "attach") == 0;
  action = argv[1];
  char *end;
  long pidl = strtol(argv[2], &end, 10);
  if (*end || pidl <= 0) die(USAGE, "not a pid: %s", argv[2]);
  target = (pid_t)pidl;
  /* The target resolves the path against its own root and working directory: give it ours, whole. */
  static char shim[4096];
  if (!realpath(argv[3], shim)) die(REFUSED, "no shim at %s: %s", argv[3], strerror(errno));
  const char *settings = attach ? argv[4] : "";
  if (kill(target, 0) != 0 && errno == ESRCH) die(GONE, "no process %d", target);

  map_info theirs, ours;
  if (read_maps(target, shim, &theirs) != 0) {
    if (errno == EACCES || errno == EPERM) no_permission();
    die(GONE, "no process %d (cannot read /proc/%d/maps: %s)", target, target, strerror(errno));
  }
  if (read_maps(getpid(), NULL, &ours) != 0 || !ours.libc_base) die(FAILED, "cannot read this program's own maps");
  if (!theirs.libc_base) {
    if (!alive(target)) die(GONE, "pid %d exited during the attach", target);
    if (dynamically_linked(target))
      die(REFUSED, "pid %d has not loaded its C library yet (it is starting): try again", target);
    die(REFUSED, "pid %d has no glibc loaded (statically linked, or another C library): nothing to load the shim with", target);
  }
  if (theirs.libc_inode != ours.libc_inode || theirs.libc_dev_major != ours.libc_dev_major ||
      theirs.libc_dev_minor != ours.libc_dev_minor)
    die(REFUSED, "pid %d runs with another C library (%s) than leakwatch's (%s): a different libc or a container",
        target, theirs.libc_path, ours.libc_path);
  if (!attach && !theirs.has_shim)
    die(REFUSED, "pid %d has no leakwatch in it (never attached, or it exec'd since: the recording ended then)", target);
  same_file_or_die(shim);
  if (shadow_stack_on(target))
    die(REFUSED, "pid %d runs with shadow stacks (CET): a call made into it would fault", target);
  int under_seccomp = seccomp_filtered(target);
  if (attach && under_seccomp && !getenv("LEAKWATCH_ATTACH_SECCOMP"))
    die(REFUSED,
        "pid %d runs under a seccomp filter: loading the shim (openat, mmap, mkdir, fallocate) could be "
        "refused or kill it. LEAKWATCH_ATTACH_SECCOMP=allow attaches anyway",
        target);

  /* The shim's entry points by their offsets in a copy loaded here (it stays a bystander: not
   * preloaded, nothing recorded); detach then needs no dlopen in the target, and attach no dlsym. */
  void *own_shim = dlopen(shim, RTLD_LAZY | RTLD_LOCAL);
  uintptr_t attach_offset = 0, detach_offset = 0;
  {
    Dl_info info;
    void *fa = own_shim ? dlsym(own_shim, "leakwatch_attach") : NULL;
    void *fd = own_shim ? dlsym(own_shim, "leakwatch_detach") : NULL;
    if (!fa || !fd || !dladdr(fa, &info))
      die(FAILED, "cannot find leakwatch_attach/leakwatch_detach in %s: %s", shim,
          own_shim ? "no such symbol" : dlerror());
    attach_offset = (uintptr_t)fa - (uintptr_t)info.dli_fbase;
    detach_offset = (uintptr_t)fd - (uintptr_t)info.dli_fbase;
  }
  /* The file those offsets are in, as maps name it (the target's maps are then compared with these,
   * not with a stat: overlay file systems give maps and stat different devices). */
  map_info our_shim;
  if (read_maps(getpid(), shim, &our_shim) != 0 || !our_shim.shim_base)
    die(FAILED, "cannot find the shim in this program's own maps");
  if (!attach && !same_shim(&theirs, &our_shim))
    die(REFUSED, "pid %d has another build of the shim loaded than %s (upgraded since its attach?): "
        "detach with the leakwatch that attached it", target, shim);
  uintptr_t r_detach = 0;
  if (!attach) {
    if (!theirs.shim_base) die(FAILED, "cannot find where the shim is mapped in pid %d", target);
    r_detach = theirs.shim_base + detach_offset;
  }
  const char *die_in = getenv("LEAKWATCH_INJECT_TEST_DIE_IN_CALL");
  test_die_in_call = die_in ? atoi(die_in) : 0;
  uintptr_t r_dlopen = theirs.libc_base + our_libc_offset(&ours, "dlopen");
  uintptr_t r_dlerror = theirs.libc_base + our_libc_offset(&ours, "dlerror");
  uintptr_t restorer_offset = our_restorer_offset(&ours);
  uintptr_t r_restorer = restorer_offset ? theirs.libc_base + restorer_offset : 0;
  /* Calls that survive our death need the trampoline to be what it is in this glibc, and no seccomp
   * filter (it would see the skipped rt_sigreturn as system call -1, and one that answers with an
   * error would overwrite the restored rax). */
  int restoring = !under_seccomp && r_restorer && memcmp((const void *)(ours.libc_base + restorer_offset), RESTORER_CODE, RESTORER_LEN) == 0;
  /* LEAKWATCH_INJECT_TEST_PAUSE_MS=N: wait N ms between reading its maps and stopping it, so a test
   * can make it exec in between (a race that is otherwise a few microseconds wide). */
  test_pause("LEAKWATCH_INJECT_TEST_PAUSE_MS");

  sigset_t fatal, old;
  sigemptyset(&fatal);
  int blocked[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGUSR1, SIGUSR2, SIGALRM};
  for (size_t i = 0; i < sizeof blocked / sizeof blocked[0]; i++) sigaddset(&fatal, blocked[i]);
  sigprocmask(SIG_BLOCK, &fatal, &old);

  /* Threads to try: the main one first. */
  pid_t tids[256];
  int ntids = 0;
  tids[ntids++] = target;
  char taskdir[64];
  snprintf(taskdir, sizeof taskdir, "/proc/%d/task", target);
  DIR *d = opendir(taskdir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) && ntids < 256) {
      long t = strtol(e->d_name, &end, 10);
      if (*end || t <= 0 || t == target) continue;
      tids[ntids++] = (pid_t)t;
    }
    closedir(d);
  }

  uint64_t paused_us = 0;
  int stops = 0, refused_seizes = 0;
  for (int ti = 0; ti < ntids; ti++) {
    pid_t tid = tids[ti];
    if (ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD) != 0) {
      /* The main thread's EPERM is about us, unless it has ended (pthread_exit in main: a zombie
       * the others outlive); another's may be its exit or another tracer's hold */
      if (errno == EPERM && tid == target && thread_live(target, target)) no_permission();
      if (errno == EPERM) refused_seizes++;
      continue; /* a thread that ended meanwhile */
    }
    for (int attempt = 0; attempt < 200; attempt++) {
      if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) != 0) break;
      int st = wait_stop(tid, 0);
      if (st < 0) break;
      uint64_t t0 = mono_us();
      stops++;
      if ((st >> 16) != PTRACE_EVENT_STOP) {
        /* A signal on its way stopped it first: let it through, let its handler run, and interrupt
         * again. An interrupt left over may stop it during a call later: wait_stop resumes it there. */
        ptrace(PTRACE_CONT, tid, 0, (void *)(long)WSTOPSIG(st));
        let_run(tid);
        continue;
      }
      /* Its memory, opened before anything else is read of it. Until this stop it could exec, or
       * (the main thread) be killed by another thread's exec that hands its id to the new program:
       * the registers read after the open come only from our stopped tracee, so once they are read
       * the file is of the address space it stopped in. Refused by an LSM (EACCES, EPERM): by pid,
       * as before. Gone (ENOENT, ESRCH): the next thread. */
      if (stops == 1) test_pause("LEAKWATCH_INJECT_TEST_PAUSE_AFTER_STOP_MS");
      if (open_thread_mem(target, tid) != 0 && errno != EACCES && errno != EPERM) {
        ptrace(PTRACE_CONT, tid, 0, 0);
        break;
      }
      thread_state saved;
      if (save_state(tid, &saved) != 0) {
        /* A thread held stopped leaves only by the whole process's end or another thread's exec */
        int lost = !held(tid);
        ptrace(PTRACE_CONT, tid, 0, 0);
        if (lost) {
          sigprocmask(SIG_SETMASK, &old, NULL);
          thread_lost(target, action);
        }
        break;
      }
      if (!stack_room_ok(target, saved.regs.rsp)) { /* a small stack (or a sigaltstack): the next thread */
        paused_us += mono_us() - t0;
        ptrace(PTRACE_CONT, tid, 0, 0);
        break;
      }
      if (!safe_point(tid, &theirs, &saved.regs, r_restorer)) {
        paused_us += mono_us() - t0;
        ptrace(PTRACE_CONT, tid, 0, 0);
        let_run(tid);
        continue;
      }
      /* Until this stop it could exec (a shell's forked child a moment before it runs its program):
       * the maps read before would then put dlopen in an address space it has left, and the call
       * would crash it. Stopped, it can exec no more (another thread's exec kills this one first):
       * what is checked here holds for the calls. */
      /* Still the target's thread (a listed thread that ended may have had its id reused by
       * another process's before the seize) */
      char task_path[96];
      snprintf(task_path, sizeof task_path, "/proc/%d/task/%d", target, tid);
      if (access(task_path, F_OK) != 0) {
        ptrace(PTRACE_DETACH, tid, 0, 0);
        break;
      }
      map_info fresh = {0};
      if (read_maps(target, shim, &fresh) != 0 || !same_image(&theirs, &fresh) ||
          (!attach && fresh.shim_base != theirs.shim_base)) {
        let_go(tid, &old);
        if (!fresh.libc_base)
          die(REFUSED, "pid %d has not loaded its C library yet (it is starting): try again", target);
        die(REFUSED, "pid %d started another program (exec) during the %s: try again", target, action);
      }
      if (shares_parents_memory(target)) {
        let_go(tid, &old);
        die(REFUSED, "pid %d runs in its parent's memory (a vfork child about to start a program): try again", target);
      }
      pid_t loading = attach ? thread_waiting_in_loader(target, tid, &fresh) : 0;
      if (loading) {
        let_go(tid, &old);
        die(REFUSED, "thread %d of pid %d is loading a library (waiting in the loader): try again", loading, target);
      }
      /* Seccomp filters are per thread: the one stopped may have one the main thread has not. */
      int thread_filtered = !under_seccomp && thread_seccomp_filtered(target, tid);
      if (thread_filtered && attach && !getenv("LEAKWATCH_ATTACH_SECCOMP")) {
        let_go(tid, &old);
        die(REFUSED,
            "thread %d of pid %d runs under a seccomp filter: loading the shim (openat, mmap, mkdir, "
            "fallocate) could be refused or kill it. LEAKWATCH_ATTACH_SECCOMP=allow attaches anyway",
            tid, target);
      }
      test_pause("LEAKWATCH_INJECT_TEST_PAUSE_BEFORE_WRITES_MS");
      /* The answer slot and the strings below the red zone of its stack; the calls' frames below. */
      size_t slen = strlen(shim) + 1, tlen = strlen(settings) + 1;
      uintptr_t data = (saved.regs.rsp - 128 - 16 - slen - tlen) & ~(uintptr_t)15;
      uintptr_t r_result = data, r_shim = data + 16, r_settings = r_shim + slen;
      uintptr_t top = data - 64;
      uintptr_t result = 0, handle = 0;
      int32_t unanswered = -1;
      int rc = write_mem(tid, r_result, &unanswered, sizeof unanswered) | write_mem(tid, r_shim, shim, slen) |
               write_mem(tid, r_settings, settings, tlen);
      const char *failure = NULL;
      char err[512] = "";
      uint64_t sigmask = 0;
      /* With the trampoline, each call restores the thread itself; else (an unknown glibc, no XSAVE)
       * each returns to address 0 and this program restores it, as long as it lives. */
      int safe = restoring && !thread_filtered && saved.xstate_len &&
                 ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof sigmask, &sigmask) == 0;
      if (rc != 0) failure = "cannot write to its stack";
      if (!failure) {
        uintptr_t fn = attach ? r_dlopen : r_detach, arg0 = attach ? r_shim : r_result, arg1 = attach ? RTLD_NOW : 0;
        int c = safe ? remote_call_restoring(tid, &saved, sigmask, top, fn, arg0, arg1, r_restorer)
                     : remote_call(tid, &saved, top, fn, arg0, arg1, &handle);
        if (c == -2) thread_lost(target, action);
        if (c != 0) failure = attach ? "the call to dlopen could not run" : "the call into the shim could not run";
      }
      uintptr_t r_attach = 0;
      if (!failure && attach) {
        map_info after;
        int other_build = 0;
        if (read_maps(target, shim, &after) == 0 && after.has_shim && after.shim_base) {
          if (same_shim(&after, &our_shim)) r_attach = after.shim_base + attach_offset;
          else other_build = 1;
        }
        if (!safe && !handle) r_attach = 0;
        if (other_build) {
          failure = "the target mapped another build of the shim than this program's (upgraded meanwhile?)";
        } else if (!r_attach) {
          /* dlerror's answer, by the old kind of call (microseconds): from the registers it has now */
          thread_state now = saved;
          uintptr_t msg = 0;
          if (ptrace(PTRACE_GETREGS, tid, 0, &now.regs) == 0 &&
              remote_call(tid, &now, top, r_dlerror, 0, 0, &msg) == 0 && msg)
            read_mem(tid, msg, err, sizeof err - 1);
          if (safe) restore_state(tid, &now); /* the thread's own registers, as the trampoline left them */
          failure = "dlopen failed in the target";
        }
      }
      if (!failure && attach) {
        int c = safe ? remote_call_restoring(tid, &saved, sigmask, top, r_attach, r_settings, r_result, r_restorer)
                     : remote_call(tid, &saved, top, r_attach, r_settings, r_result, &result);
        if (c == -2) thread_lost(target, action);
        if (c != 0) failure = "the call into the shim could not run";
      }
      if (!failure && safe) {
        int32_t answer = -1;
        if (read_mem(tid, r_result, &answer, sizeof answer) != 0 || answer < 0) failure = "the shim did not answer";
        result = (uintptr_t)(uint32_t)answer;
      }
      if (!failure && (int)result == 5 && attempt + 1 < 200) {
        /* BUSY: it was stopped inside the shim's own patching; let it finish and stop it again */
        if (!safe) restore_state(tid, &saved);
        paused_us += mono_us() - t0;
        ptrace(PTRACE_CONT, tid, 0, 0);
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        continue;
      }
      /* A restoring call has put every register back already (and set up the restart of a system
       * call it was stopped in, which restoring `saved` now would undo). */
      int restored = safe ? 1 : restore_state(tid, &saved) == 0;
      /* Gone while the process lives: only another thread's exec kills a thread we hold stopped
       * (the writes went nowhere: its address space went with it). */
      int thread_gone = (failure || !restored) && !held(tid);
      paused_us += mono_us() - t0;
      ptrace(PTRACE_DETACH, tid, 0, 0);
      sigprocmask(SIG_SETMASK, &old, NULL);
      if (thread_gone) thread_lost(target, action);
      if (!restored) die(FAILED, "could not restore thread %d's registers", tid);
      if (failure) die(FAILED, "%s%s%s", failure, *err ? ": " : "", err);
      switch ((int)result) {
        case 0: break;
        case 1: die(REFUSED, "pid %d was started with the shim preloaded: it is tracked already", target);
        case 2: die(REFUSED, "pid %d is attached already (leakwatch detach --pid %d first)", target, target);
        case 3: die(FAILED, "the shim in pid %d could not make its ring (the run directory: permissions, space?)", target);
        case 4: die(REFUSED, "pid %d is not attached", target);
        case 5: die(FAILED, "pid %d was busy attaching or detaching; try again", target);
        default: die(FAILED, "unexpected answer %ld from the shim", (long)result);
      }
      printf("ok tid=%d paused_us=%llu stops=%d\n", tid, (unsigned long long)paused_us, stops);
      return OK;
    }
    release_running(tid);
    /* A zombie still answers kill(pid, 0) until its parent reaps it, and none of its threads stop. */
    if (!alive(target)) die(GONE, "pid %d exited during the attach", target);
  }
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (!alive(target)) die(GONE, "pid %d exited during the attach", target);
  /* Not one thread let us trace it: the main thread's EPERM alone says so, but it may have ended
   * (pthread_exit in main) and been passed over */
  if (!stops && refused_seizes) no_permission();
  die(NO_SAFE_POINT, "no thread of pid %d could be stopped outside the allocator and the loader (%d stops); try again", target, stops);
}
