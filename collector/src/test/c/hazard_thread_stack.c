/* hazard_thread_stack: threads whose first act is pthread_getattr_np on themselves (a JVM does this
 * for every thread it starts). glibc takes the thread's own lock and allocates under it; an unwinder
 * that asked pthread_getattr_np for the stack bounds from inside that allocation waited on the lock
 * its own thread held, forever. Also: a signal handler on an alternate stack that allocates (the
 * walk must stay within the stack it is on), and a thread on a stack of its own (pthread_attr_setstack).
 * Run under the fp unwinder and the default one, exact mode, with a timeout. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>

#include "check.h"

static void *asks_for_its_stack(void *arg) {
  (void)arg;
  pthread_attr_t attr;
  CHECK(pthread_getattr_np(pthread_self(), &attr) == 0);
  void *addr;
  size_t size;
  CHECK(pthread_attr_getstack(&attr, &addr, &size) == 0 && size > 0);
  pthread_attr_destroy(&attr);
  void *volatile p = malloc(100);
  free(p);
  return NULL;
}

static void allocating_handler(int sig) {
  (void)sig;
  void *volatile p = malloc(48); /* not async-signal-safe, and done anyway by real programs */
  free(p);
}

static void *on_a_stack_of_its_own(void *arg) {
  (void)arg;
  for (int i = 0; i < 1000; i++) {
    void *volatile p = malloc(32 + (size_t)i);
    free(p);
  }
  return NULL;
}

int main(void) {
  for (int round = 0; round < 200; round++) {
    pthread_t t;
    CHECK(pthread_create(&t, NULL, asks_for_its_stack, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
  }
  /* the main thread too, on a fresh process's first allocation after it */
  asks_for_its_stack(NULL);

  static char alt[1 << 16];
  stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
  CHECK(sigaltstack(&ss, NULL) == 0);
  struct sigaction sa = {.sa_handler = allocating_handler, .sa_flags = SA_ONSTACK};
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
  for (int i = 0; i < 1000; i++) raise(SIGUSR1);

  size_t stack_size = 1 << 20;
  void *stack = malloc(stack_size);
  CHECK(stack != NULL);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  CHECK(pthread_attr_setstack(&attr, stack, stack_size) == 0);
  pthread_t t;
  CHECK(pthread_create(&t, &attr, on_a_stack_of_its_own, NULL) == 0);
  CHECK(pthread_join(t, NULL) == 0);
  pthread_attr_destroy(&attr);
  free(stack);
  printf("hazard_thread_stack: ok\n");
  return 0;
}
