/* fleet_target: a service of the multi-host test that knows what it leaked. Idle until SIGUSR1;
 * each SIGUSR1 runs one burst: PAIRS malloc/free pairs of mixed sizes (traffic that must cancel out)
 * and BLOCKS leaked blocks of SIZE bytes from fleet_leak(), then prints "leaked TOTAL_BYTES" and
 * goes idle again (so reports and metrics can be compared while nothing moves). SIGTERM: exit 0.
 * usage: fleet-target SIZE BLOCKS PAIRS */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t bursts_asked, stop;
static void *volatile sink;

static void on_usr1(int sig) {
  (void)sig;
  bursts_asked++;
}

static void on_term(int sig) {
  (void)sig;
  stop = 1;
}

__attribute__((noinline)) static void fleet_leak(size_t size) {
  sink = malloc(size);
  __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void churn(long pairs) {
  for (long i = 0; i < pairs; i++) {
    void *p = malloc(16 + (size_t)(i % 61) * 8);
    sink = p;
    free(p);
  }
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: fleet-target SIZE BLOCKS PAIRS\n");
    return 2;
  }
  size_t size = (size_t)atol(argv[1]);
  long blocks = atol(argv[2]), pairs = atol(argv[3]);
  struct sigaction sa = {.sa_handler = on_usr1};
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  /* SIGUSR1 and SIGTERM are delivered only inside sigsuspend: no wake-up is lost between the
   * check and the wait. */
  sigset_t blocked, waiting;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGUSR1);
  sigaddset(&blocked, SIGTERM);
  sigprocmask(SIG_BLOCK, &blocked, &waiting);
  sigdelset(&waiting, SIGUSR1);
  sigdelset(&waiting, SIGTERM);
  long done = 0, leaked = 0;
  printf("ready\n");
  fflush(stdout);
  while (!stop) {
    if (done == bursts_asked) {
      sigsuspend(&waiting);
      continue;
    }
    done++;
    churn(pairs);
    for (long i = 0; i < blocks; i++) fleet_leak(size);
    leaked += blocks * (long)size;
    printf("leaked %ld\n", leaked);
    fflush(stdout);
  }
  return 0;
}
