/*
 * leaky-service: the demo's bundled leaking program. It behaves like a small request-serving
 * service: each request parses a header block, builds a response, keeps a bounded session cache
 * and derives a key for the request. Everything is freed correctly except on one code path:
 * requests that carry a signature derive a key (toykey) and forget toy_destroy_key, a little
 * leak among many correct allocations and frees.
 *
 * usage: leaky-service [seconds] [requests-per-second]
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "toykey.h"

#define CACHE_SLOTS 512

static char *session_cache[CACHE_SLOTS]; /* bounded: a cache, not a leak */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile unsigned sink;
static _Atomic long leaked_keys; /* the truth the tests compare the report with */
/* SIGTERM or SIGINT: finish the requests in flight, then say how many keys leaked (the demo prints
 * it beside leakwatch's estimate). */
static volatile sig_atomic_t stopping;

static void on_stop(int sig) {
  (void)sig;
  stopping = 1;
}

static uint64_t xorshift(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

__attribute__((noinline)) static char **parse_headers(uint64_t *rng, int *count) {
  int n = 4 + (int)(xorshift(rng) % 12);
  char **h = malloc(sizeof(char *) * (size_t)n);
  for (int i = 0; i < n; i++) {
    size_t len = 16 + xorshift(rng) % 200;
    h[i] = malloc(len);
    memset(h[i], 'a' + i, len - 1);
    h[i][len - 1] = 0;
  }
  *count = n;
  return h;
}

__attribute__((noinline)) static char *build_response(uint64_t *rng) {
  size_t len = 256 + xorshift(rng) % 8192;
  char *body = malloc(len);
  memset(body, 'x', len);
  if (xorshift(rng) % 4 == 0) body = realloc(body, len * 2);
  return body;
}

__attribute__((noinline)) static void remember_session(uint64_t *rng) {
  char *s = strdup("session-token-0123456789abcdef");
  unsigned slot = (unsigned)(xorshift(rng) % CACHE_SLOTS);
  pthread_mutex_lock(&cache_lock);
  free(session_cache[slot]);
  session_cache[slot] = s;
  pthread_mutex_unlock(&cache_lock);
}

/* The bug: the signature path derives a key and never destroys it. */
__attribute__((noinline)) static void verify_signature(const char *payload) {
  toy_key *k = toy_derive_key(payload, strlen(payload));
  sink += toy_key_checksum(k);
  atomic_fetch_add(&leaked_keys, 1);
  /* missing: toy_destroy_key(k); */
}

__attribute__((noinline)) static void encrypt_body(const char *payload) {
  toy_key *k = toy_derive_key(payload, strlen(payload));
  sink += toy_key_checksum(k);
  toy_destroy_key(k);
}

__attribute__((noinline)) static void handle_request(uint64_t *rng) {
  int nh;
  char **headers = parse_headers(rng, &nh);
  char *body = build_response(rng);
  encrypt_body(headers[0]);
  if (xorshift(rng) % 10 == 0) verify_signature(headers[nh - 1]);
  remember_session(rng);
  for (int i = 0; i < nh; i++) free(headers[i]);
  free(headers);
  free(body);
}

struct worker_args {
  double seconds;
  double rate;
  unsigned seed;
};

static void *worker(void *arg) {
  struct worker_args *a = arg;
  uint64_t rng = 0x9E3779B97F4A7C15ull ^ a->seed;
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  long done = 0;
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    double elapsed = (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9;
    if (stopping || (a->seconds > 0 && elapsed >= a->seconds)) break;
    long due = (long)(elapsed * a->rate);
    if (done >= due) {
      usleep(1000);
      continue;
    }
    handle_request(&rng);
    done++;
  }
  return NULL;
}

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 0; /* 0 = run until killed */
  double rate = argc > 2 ? atof(argv[2]) : 2000;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  pthread_t t[2];
  struct worker_args args[2] = {{seconds, rate / 2, 1}, {seconds, rate / 2, 2}};
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, &args[i]);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < CACHE_SLOTS; i++) free(session_cache[i]);
  printf("leaky-service: leaked %ld keys of 422 bytes (checksum %u)\n", atomic_load(&leaked_keys), sink);
  fflush(stdout);
  return 0;
}
