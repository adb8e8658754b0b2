/* hazard_fork_hang: threads walk the loaded objects (dl_iterate_phdr) and make sampled allocations
 * (which unwind) while the main thread forks; each child allocates (sampled, unwinding) and exits.
 * glibc does not reset dl_load_write_lock at fork and an unwinder cache lock may be held by another
 * parent thread: a child that takes either hangs. Every child must exit within the alarm. */
#define _GNU_SOURCE
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "check.h"

static _Atomic int stop;

static int count_object(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)info, (void)size;
  ++*(long *)arg;
  return 0;
}

static void *walker(void *arg) {
  (void)arg;
  long n = 0;
  while (!atomic_load(&stop)) dl_iterate_phdr(count_object, &n);
  return NULL;
}

static void *allocator(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    void *volatile p = malloc(64 + (size_t)(rand() % 4096));
    free(p);
  }
  return NULL;
}

int main(void) {
  /* Act as the collector of the run directory (its POSIX lock), so every child makes a ring. */
  char lock[1024];
  snprintf(lock, sizeof lock, "%s/collector.lock", getenv("LEAKWATCH_RUN_DIR"));
  int lfd = open(lock, O_RDWR | O_CREAT, 0600);
  struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  CHECK(lfd >= 0 && fcntl(lfd, F_SETLK, &lk) == 0);
  pthread_t t[4];
  pthread_create(&t[0], NULL, walker, NULL);
  pthread_create(&t[1], NULL, walker, NULL);
  pthread_create(&t[2], NULL, allocator, NULL);
  pthread_create(&t[3], NULL, allocator, NULL);
  for (int i = 0; i < 300; i++) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      alarm(10); /* a hang becomes SIGALRM, which the parent sees */
      for (int k = 0; k < 200; k++) {
        void *volatile p = malloc(100 + (size_t)k); /* volatile: the pair is not optimised away */
        free(p);
      }
      _exit(0);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "hazard_fork_hang: child %d of 300 did not exit cleanly (status %#x)\n", i, status);
      return 1;
    }
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  puts("hazard_fork_hang: 300 forks under threads in dl_iterate_phdr and the unwinder, every child exited: ok");
  return 0;
}
