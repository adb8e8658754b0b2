#!/usr/bin/env bash
# gcc (driver, cc1, as, collect2/ld) compiling and linking a large generated C file at -O2.
# Outcome: gcc's status, a digest of the object code (.text etc. of the linked program, which gcc
# makes byte-identical for identical input), and what the compiled program prints (run bare).
# usage: gcc.sh MODE [--quick]
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rw_init gcc "${1:-}"
rw_not_for_heaptrack "the driver execs cc1, as and ld"
rw_need gcc gcc
LIMIT="${RW_TIMEOUT:-600}"
N=1500; [ "${2:-}" = --quick ] && N=300

# N functions of loops, switches, structs, inlining candidates and string tables, and a main that
# folds all their results into one checksum.
awk -v n="$N" 'BEGIN {
  print "#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>";
  print "struct pt { long x, y; double w; char tag[16]; };";
  for (i = 0; i < n; i++) {
    printf "static const char *names_%d[] = {", i;
    for (j = 0; j < 8; j++) printf "\"n%d_%d\",", i, j;
    print "};";
    printf "static inline long mix_%d(long a, long b) { return (a * %d) ^ (b >> %d) ^ %dL; }\n", i, 2 * i + 3, i % 13 + 1, i * 7919;
    printf "long f_%d(long seed) {\n  struct pt p[%d]; long acc = seed;\n", i, i % 31 + 2;
    printf "  for (int k = 0; k < %d; k++) { p[k].x = mix_%d(acc, k); p[k].y = k * %d; p[k].w = k / 3.0;\n", i % 31 + 2, i, i % 17 + 1;
    printf "    snprintf(p[k].tag, sizeof p[k].tag, \"%%s%%d\", names_%d[k %% 8], k); }\n", i;
    printf "  for (int k = 0; k < %d; k++) {\n    switch ((p[k].x + k) %% 6) {\n", i % 31 + 2;
    for (c = 0; c < 6; c++) printf "    case %d: acc += p[k].y * %d + (long)strlen(p[k].tag); break;\n", c, c + i % 5;
    print "    default: acc -= (long)p[k].w; }\n    acc = mix_" i "(acc, p[k].x);\n  }";
    if (i > 0) printf "  if (seed %% %d == 0) acc ^= f_%d(seed / 2 + 1);\n", i % 7 + 2, i - 1;
    print "  return acc;\n}";
  }
  print "int main(void) { long s = 0;";
  for (i = 0; i < n; i++) printf "  s ^= f_%d(%d);\n", i, i;
  print "  printf(\"%ld\\n\", s); return 0; }";
}' >"$RW_WORK/big.c"

cd "$RW_WORK"
rw_run "$LIMIT" gcc -O2 -frandom-seed=leakwatch -o "$RW_WORK/big" "$RW_WORK/big.c" >"$RW_WORK/gcc.log" 2>&1
text="-"; ran="-"
if [ -x "$RW_WORK/big" ]; then
  objcopy -O binary --only-section=.text --only-section=.rodata --only-section=.data "$RW_WORK/big" "$RW_WORK/code.bin" \
    && text=$(sha256sum <"$RW_WORK/code.bin" | cut -c1-16)
  ran=$(timeout 60 "$RW_WORK/big" 2>&1 | head -c 100 | tr -d '\n' | tr -c '0-9-' '_')
fi
rw_result "status=$(rw_status_word "$RW_STATUS") diagnostics=$(grep -c -E 'error|warning|internal compiler' "$RW_WORK/gcc.log") code=$text prints=$ran"
