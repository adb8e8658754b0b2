#!/bin/bash
# Interleaved A/B of the shim on churn: bare, then each variant, N rounds; ratios of medians and of
# minimums against bare (noise only ever adds time on a shared VM, so minimums are steadier).
# Kinder than `./leakwatch bench run`: no JVM, no collector; a deep ring pre-faulted so the run never
# wraps or drops. Each variant is LABEL='ENV=VALUE ...' added to the shim's preload environment;
# SHIM=path selects the library (default: this tree's build).
#
#   collector/src/test/bench/churn-ab.sh default= fp='LEAKWATCH_UNWIND=fp' \
#       old='SHIM=/tmp/oldnat/libleakwatch.so'
#   N=7 ARGS='-t 2 -p 2000000' collector/src/test/bench/churn-ab.sh default=
set -euo pipefail
here=$(cd "$(dirname "$0")/../../.." && pwd)
N=${N:-7}
ARGS=${ARGS:--t 1 -p 20000000}
churn=$here/target/native/churn
ring=$(mktemp -d /dev/shm/lw-churn-ab.XXXXXX)
trap 'rm -rf "$ring"' EXIT
declare -A env
labels=(bare)
for v in "$@"; do labels+=("${v%%=*}"); env[${v%%=*}]=${v#*=}; done
for _ in $(seq "$N"); do
  for l in "${labels[@]}"; do
    rm -rf "${ring:?}"/*
    if [ "$l" = bare ]; then
      out=$($churn $ARGS 2>&1)
    else
      shim=$here/target/native/libleakwatch.so
      extra=()
      for kv in ${env[$l]}; do
        if [ "${kv%%=*}" = SHIM ]; then shim=${kv#*=}; else extra+=("$kv"); fi
      done
      out=$(env LD_PRELOAD="$shim" LEAKWATCH_RUN_DIR="$ring" LEAKWATCH_RING_BYTES=$((256 << 20)) \
        LEAKWATCH_RING_POPULATE=1 "${extra[@]}" $churn $ARGS 2>&1)
    fi
    echo "$l $(grep -o 'seconds=[0-9.]*' <<<"$out" | cut -d= -f2)"
  done
done | python3 -c '
import statistics, sys
runs = {}
for line in sys.stdin:
    label, seconds = line.split()
    runs.setdefault(label, []).append(float(seconds))
bare, bare_min = statistics.median(runs["bare"]), min(runs["bare"])
for label, t in runs.items():
    m = statistics.median(t)
    print(f"{label:10s} median {m:.4f} s  min {min(t):.4f} s  {m / bare:.3f}x ({min(t) / bare_min:.3f}x)")
'
