#!/bin/bash
# Interleaved A/B of what short-lived processes pay for the shim at start and exit: 1,000 x
# /bin/true from one shell, and 100 x `gcc -c` of a one-line file (a gcc, a cc1 and an as each).
# Kinder than `./leakwatch run`: preloaded, rings in /dev/shm, no collector. Variants are
# LABEL=PATH-TO-libleakwatch.so; the tree's build is always measured as "shim".
#
#   collector/src/test/bench/short-lived-ab.sh old=/tmp/oldnative/libleakwatch.so
#   N=3 collector/src/test/bench/short-lived-ab.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/../../.." && pwd)
N=${N:-5}
work=$(mktemp -d)
ring=$(mktemp -d /dev/shm/lw-short-ab.XXXXXX)
trap 'rm -rf "$work" "$ring"' EXIT
for i in $(seq 100); do echo "int f$i(int x) { return x * $i; }" >"$work/t$i.c"; done
declare -A lib=([bare]="" [shim]="$here/target/native/libleakwatch.so")
labels=(bare shim)
for v in "$@"; do labels+=("${v%%=*}"); lib[${v%%=*}]=${v#*=}; done
now() { date +%s.%N; }
for _ in $(seq "$N"); do
  for l in "${labels[@]}"; do
    s=$(now)
    LEAKWATCH_RUN_DIR=$ring LD_PRELOAD=${lib[$l]} sh -c 'for i in $(seq 1000); do /bin/true; done'
    m=$(now)
    for i in $(seq 100); do LEAKWATCH_RUN_DIR=$ring LD_PRELOAD=${lib[$l]} gcc -c "$work/t$i.c" -o "$work/t$i.o"; done
    e=$(now)
    rm -rf "${ring:?}"/*
    echo "$l $(echo "$m - $s" | bc) $(echo "$e - $m" | bc)"
  done
done | python3 -c '
import statistics, sys
runs = {}
for line in sys.stdin:
    l, t, g = line.split()
    runs.setdefault(l, ([], []))
    runs[l][0].append(float(t)); runs[l][1].append(float(g))
bt, bg = (statistics.median(x) for x in runs["bare"])
for l, (t, g) in runs.items():
    mt, mg = statistics.median(t), statistics.median(g)
    print(f"{l:10s} 1000 x /bin/true {mt:6.3f} s ({(mt - bt):+.3f} ms a process)   "
          f"100 x gcc -c {mg:6.3f} s ({mg / bg:.2f}x)")
'
