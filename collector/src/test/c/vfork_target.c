/*
 * vfork_target: a parent whose vfork child waits a second before it execs `sleep 1`, for
 * AttachRefusalsTest. Until its exec the child runs in the parent's memory (as posix_spawn's and
 * system()'s children do, for microseconds), so an attach to the child must not load the shim there.
 * The parent then churns malloc/free for a second and exits 0.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void) {
  pid_t child = vfork();
  if (child == 0) {
    /* only system calls in a vfork child: it shares the parent's stack frames and libc state */
    struct timespec wait = {1, 0};
    syscall(SYS_nanosleep, &wait, NULL);
    execl("/bin/sleep", "sleep", "1", (char *)NULL);
    _exit(127);
  }
  if (child < 0) return 2;
  time_t end = time(NULL) + 1;
  for (long n = 0; time(NULL) < end; n++) free(malloc(64 + (size_t)(n & 255)));
  int status;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 3;
  return 0;
}
