/*
 * registers_target: a thread that holds known values in sixteen AVX registers and five
 * general-purpose ones while it spins in its own code (where `leakwatch attach` stops and borrows a
 * thread), then checks them. Any register an attach, a detach, or an injector killed in the middle
 * of a call failed to give back shows as a difference.
 *
 * Prints "ready", then each second "rounds N"; on a difference "CORRUPT ..." and exit status 3.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void spin_round(const uint64_t *ymm_in, uint64_t *ymm_out, const uint64_t *gp_in, uint64_t *gp_out,
                       long iters) {
  __asm__ volatile(
      "vmovdqu 0(%[yi]), %%ymm0\n\tvmovdqu 32(%[yi]), %%ymm1\n\tvmovdqu 64(%[yi]), %%ymm2\n\t"
      "vmovdqu 96(%[yi]), %%ymm3\n\tvmovdqu 128(%[yi]), %%ymm4\n\tvmovdqu 160(%[yi]), %%ymm5\n\t"
      "vmovdqu 192(%[yi]), %%ymm6\n\tvmovdqu 224(%[yi]), %%ymm7\n\tvmovdqu 256(%[yi]), %%ymm8\n\t"
      "vmovdqu 288(%[yi]), %%ymm9\n\tvmovdqu 320(%[yi]), %%ymm10\n\tvmovdqu 352(%[yi]), %%ymm11\n\t"
      "vmovdqu 384(%[yi]), %%ymm12\n\tvmovdqu 416(%[yi]), %%ymm13\n\tvmovdqu 448(%[yi]), %%ymm14\n\t"
      "vmovdqu 480(%[yi]), %%ymm15\n\t"
      "mov 0(%[gi]), %%r12\n\tmov 8(%[gi]), %%r13\n\tmov 16(%[gi]), %%r14\n\tmov 24(%[gi]), %%r15\n\t"
      "mov 32(%[gi]), %%rbx\n\t"
      "mov %[n], %%rcx\n"
      "1:\n\tpause\n\tdec %%rcx\n\tjnz 1b\n\t"
      "vmovdqu %%ymm0, 0(%[yo])\n\tvmovdqu %%ymm1, 32(%[yo])\n\tvmovdqu %%ymm2, 64(%[yo])\n\t"
      "vmovdqu %%ymm3, 96(%[yo])\n\tvmovdqu %%ymm4, 128(%[yo])\n\tvmovdqu %%ymm5, 160(%[yo])\n\t"
      "vmovdqu %%ymm6, 192(%[yo])\n\tvmovdqu %%ymm7, 224(%[yo])\n\tvmovdqu %%ymm8, 256(%[yo])\n\t"
      "vmovdqu %%ymm9, 288(%[yo])\n\tvmovdqu %%ymm10, 320(%[yo])\n\tvmovdqu %%ymm11, 352(%[yo])\n\t"
      "vmovdqu %%ymm12, 384(%[yo])\n\tvmovdqu %%ymm13, 416(%[yo])\n\tvmovdqu %%ymm14, 448(%[yo])\n\t"
      "vmovdqu %%ymm15, 480(%[yo])\n\t"
      "mov %%r12, 0(%[go])\n\tmov %%r13, 8(%[go])\n\tmov %%r14, 16(%[go])\n\tmov %%r15, 24(%[go])\n\t"
      "mov %%rbx, 32(%[go])\n\t"
      "vzeroupper\n\t"
      :
      : [yi] "r"(ymm_in), [yo] "r"(ymm_out), [gi] "r"(gp_in), [go] "r"(gp_out), [n] "r"(iters)
      : "rcx", "rbx", "r12", "r13", "r14", "r15", "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",
        "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
}

static uint64_t next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int main(void) {
  if (!__builtin_cpu_supports("avx")) {
    fprintf(stderr, "registers_target: this CPU has no AVX\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("ready\n");
  static uint64_t yi[64], yo[64], gi[5], go[5];
  uint64_t seed = (uint64_t)time(NULL), rounds = 0;
  time_t last = time(NULL);
  for (;;) {
    for (int i = 0; i < 64; i++) yi[i] = next(&seed);
    for (int i = 0; i < 5; i++) gi[i] = next(&seed);
    spin_round(yi, yo, gi, go, 2000000);
    for (int i = 0; i < 64; i++)
      if (yo[i] != yi[i]) {
        printf("CORRUPT ymm%d lane %d: %016llx, was %016llx\n", i / 4, i % 4, (unsigned long long)yo[i],
               (unsigned long long)yi[i]);
        return 3;
      }
    for (int i = 0; i < 5; i++)
      if (go[i] != gi[i]) {
        printf("CORRUPT general register %d: %016llx, was %016llx\n", i, (unsigned long long)go[i],
               (unsigned long long)gi[i]);
        return 3;
      }
    rounds++;
    if (time(NULL) != last) {
      last = time(NULL);
      printf("rounds %llu\n", (unsigned long long)rounds);
    }
  }
}
