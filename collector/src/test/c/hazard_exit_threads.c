/* hazard_exit_threads: threads keep using glibc's caches (NSS, time zones, stdio) while main returns
 * and the destructors run. The shim's destructor must free none of them (__libc_freeres did: a use
 * after free in every such thread and in later destructors). */
#define _GNU_SOURCE
#include <pthread.h>
#include <pwd.h>
#include <time.h>

#include "check.h"

static void *user(void *arg) {
  (void)arg;
  for (;;) {
    struct passwd *pw = getpwnam("root");
    if (!pw || pw->pw_uid != 0) abort();
    time_t now = time(NULL);
    struct tm tm;
    if (!localtime_r(&now, &tm)) abort();
    char buf[64];
    strftime(buf, sizeof buf, "%c", &tm);
  }
  return NULL;
}

__attribute__((destructor)) static void late(void) {
  struct passwd *pw = getpwnam("root");
  if (!pw || strcmp(pw->pw_name, "root") != 0) abort();
  printf("hazard_exit_threads: NSS and stdio still work in a destructor at exit: ok\n");
}

int main(void) {
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, user, NULL);
  struct timespec pause = {0, 20 * 1000 * 1000};
  nanosleep(&pause, NULL);
  return 0;
}
