#!/usr/bin/env bash
# The real-software matrix: every program in every mode (bare first), one run at a time; each tracked
# outcome must equal the bare one. Prints a table, writes it to --table FILE, the raw outcome lines
# (with wall times, for benchmarking) to --results FILE, and exits 1 on any difference.
#
# usage: matrix.sh [--quick] [--table FILE] [--results FILE] [--work DIR]
#                  [--programs "cpython postgres ..."] [--modes "default sample4k exact"]
#        matrix.sh --render RESULTS [--table FILE]   (the table of an earlier run's outcome lines,
#                  e.g. a partial one, or to compare timings later)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
QUICK=""; TABLE=""; RESULTS=""; WORK=""; PROGRAMS=""; MODES=""; RENDER=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=--quick ;;
    --table) TABLE="$2"; shift ;;
    --results) RESULTS="$2"; shift ;;
    --work) WORK="$2"; shift ;;
    --programs) PROGRAMS="$2"; shift ;;
    --modes) MODES="$2"; shift ;;
    --render) RENDER="$2"; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "matrix.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
# --quick leaves out sample4k: the same shim path as default at a higher rate (CI time, ~100 s).
if [ -z "$MODES" ]; then
  if [ -n "$QUICK" ]; then MODES="default exact"; else MODES="default sample4k exact"; fi
fi
if [ -z "$PROGRAMS" ]; then
  if [ -n "$QUICK" ]; then PROGRAMS="cpython postgres nginx pipeline perl"
  else PROGRAMS="postgres nginx jvm perl gcc pipeline cpython"; fi
fi
if [ -n "$RENDER" ]; then
  RESULTS="$RENDER"; WORK="$(dirname "$RENDER")"; TABLE="${TABLE:-/dev/null}"
else
  WORK="${WORK:-$(mktemp -d /tmp/rw-matrix-XXXXXX)}"
  mkdir -p "$WORK"
  # The servers run as nobody (postgres, nginx's workers): they must reach their cells (mktemp's 0700
  # failed every postgres and nginx cell, bare ones too, when run outside RealSoftwareTest).
  chmod 755 "$WORK"
  TABLE="${TABLE:-$WORK/table.txt}"
  RESULTS="${RESULTS:-$WORK/results.tsv}"
  : >"$RESULTS"
fi

field() { # field LINE NAME
  printf '%s\n' "$1" | tr '\t' '\n' | sed -n "s/^$2=//p" | head -1
}

# The outcome tokens that differ, as "key:bare>tracked", or "=" when none do.
diff_outcome() {
  python3 - "$1" "$2" <<'PY'
import sys
def toks(s):
    d = {}
    for t in s.split():
        k, _, v = t.partition("=")
        d[k] = v
    return d
b, t = toks(sys.argv[1]), toks(sys.argv[2])
out = ["%s:%s>%s" % (k, b.get(k, "?"), t.get(k, "?")) for k in list(b) + [k for k in t if k not in b] if b.get(k) != t.get(k)]
print(" ".join(out) if out else "=")
PY
}

# A short form of an outcome for the table: counts when there are many tokens (CPython's modules).
summary() {
  python3 - "$1" <<'PY'
import sys, collections
toks = sys.argv[1].split()
if len(toks) <= 8:
    print(" ".join(toks))
else:
    c = collections.Counter(t.partition("=")[2] for t in toks[1:])
    print(toks[0] + " modules " + ",".join("%s:%d" % kv for kv in sorted(c.items())))
PY
}

start=$(date +%s)
if [ -z "$RENDER" ]; then
  for prog in $PROGRAMS; do
    for mode in bare $MODES; do
      cell="$WORK/$prog-$mode"
      rm -rf "$cell"; mkdir -p "$cell"
      echo "matrix: $prog $mode ..." >&2
      line=$(RW_WORK="$cell" "$HERE/$prog.sh" "$mode" $QUICK 2>"$cell/stderr.log" | grep -a $'^RW\t' | tail -1)
      if [ -z "$line" ]; then
        line=$(printf 'RW\tprogram=%s\tmode=%s\tseconds=-\tlost=-\trings=-\ttop_bytes=-\ttop=-\tmetric=-\tnote=script-failed\toutcome=no-outcome-line' "$prog" "$mode")
      fi
      printf '%s\n' "$line" >>"$RESULTS"
    done
  done
fi

# The outcome tokens of a run that did not work: a step that failed, timed out or was killed, refused
# requests, failed transactions, a benchmark that printed no result. Prints them; false when none.
unhealthy() {
  local t bad=()
  for t in $1; do
    case "$t" in
      *=exit[0-9]*|*=timeout|*=signal[0-9]*|non2xx=[1-9]*|failed_tx=[1-9]*|failed_tx=) bad+=("$t") ;;
    esac
  done
  [ ${#bad[@]} -gt 0 ] && echo "${bad[*]}"
}

# The test cases a test runner named as failed (CPython's regrtest: "FAIL: test_x (test.test_y.Z...)"),
# into the details: CI keeps only the table.
failed_cases() {
  [ -f "$1/regrtest.log" ] || return 0
  local l
  while IFS= read -r l; do details+=("    case: ${l:0:200}"); done \
    < <(grep -aE '^(FAIL|ERROR): ' "$1/regrtest.log" | head -10)
}

# The table: each tracked line against the bare line of its program before it.
rows=()
details=()
fail=0
bare_line=""; bare_secs=""
while IFS= read -r line; do
    [ "${line%%$'\t'*}" = RW ] || continue
    prog=$(field "$line" program); mode=$(field "$line" mode); cell="$WORK/$prog-$mode"
    outcome=$(field "$line" outcome); secs=$(field "$line" seconds); note=$(field "$line" note)
    lost=$(field "$line" lost); rings=$(field "$line" rings)
    top=$(field "$line" top); topb=$(field "$line" top_bytes); metric=$(field "$line" metric)
    [ "$rings" != "-" ] && lost="rings:$rings"
    topcol="-"; [ "$top" != "-" ] && topcol="$top ($topb B)"
    if [ "$mode" = bare ]; then
      bare_line="$outcome"; bare_secs="$secs"
      verdict="bare"; shown=$(summary "$outcome"); ratio="1.0"
      case "$outcome" in missing:*|no-outcome-line) verdict="MISSING"; fail=1; details+=("$prog: $outcome (see $cell/stderr.log)") ;; esac
      # The quick subset passes bare on a sound machine: a bare failure there (a server that did not
      # start, requests refused) would make "tracked = bare" prove nothing, so it fails the matrix.
      if [ -n "$QUICK" ] && [ "$verdict" = bare ] && unhealthy "$outcome"; then
        verdict="BARE-FAILED"; fail=1; details+=("$prog bare: $(unhealthy "$outcome")  [$cell]")
        failed_cases "$cell"
      fi
    else
      d=$(diff_outcome "$bare_line" "$outcome")
      if [ "$d" = "=" ]; then verdict="same"; shown="= bare"
      else
        verdict="DIFF"; fail=1; shown="$d"; details+=("$prog $mode: $d  [$cell]")
        # The evidence, here and not only in the cell's files (CI keeps nothing else): what the tracked
        # output has that the bare one has not, and the end of the CLI's own log.
        if [ -f "$cell/out.txt" ] && [ -f "$WORK/$prog-bare/out.txt" ]; then
          while IFS= read -r l; do details+=("    out: ${l:0:200}"); done \
            < <(diff "$WORK/$prog-bare/out.txt" "$cell/out.txt" 2>/dev/null | head -15)
        fi
        failed_cases "$cell"
        if [ -f "$cell/leakwatch.log" ]; then
          while IFS= read -r l; do details+=("    log: ${l:0:200}"); done < <(tail -n 8 "$cell/leakwatch.log")
        fi
      fi
      ratio=$(awk -v a="$secs" -v b="$bare_secs" 'BEGIN { if (b + 0 > 0 && a != "-") printf "%.1f", a / b; else print "-" }')
    fi
    [ "$note" != "-" ] && shown="$shown [$note]"
    [ "$metric" != "-" ] && ratio="$ratio $metric"
    rows+=("$prog"$'\t'"$mode"$'\t'"$verdict"$'\t'"$secs"$'\t'"$ratio"$'\t'"$lost"$'\t'"$topcol"$'\t'"$shown")
done <"$RESULTS"
elapsed=$(( $(date +%s) - start ))
# rendering an earlier run: its cells' own seconds, added up
[ -n "$RENDER" ] && elapsed=$(awk -F'\t' '{ for (i = 1; i <= NF; i++) if ($i ~ /^seconds=/) t += substr($i, 9) } END { printf "%d", t }' "$RESULTS")

{
  printf 'real-software matrix%s, shim %s, %s\n' "${QUICK:+ (quick)}" \
    "$(stat -c '%y' "$(cd "$HERE/../../../.." && pwd)/collector/target/native/libleakwatch.so" 2>/dev/null | cut -d. -f1)" "$(date -u '+%F %T UTC')"
  printf '%s\n' "program"$'\t'"mode"$'\t'"result"$'\t'"seconds"$'\t'"x bare"$'\t'"lost/rings"$'\t'"top stack"$'\t'"outcome" "${rows[@]}" \
    | awk -F'\t' '{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR; if (NF > nf) nf = NF }
        END { for (r = 1; r <= n; r++) { line = ""; for (i = 1; i <= nf; i++) line = line sprintf(i < nf ? "%-" w[i] "s  " : "%s", c[r, i]); print line } }'
  if [ ${#details[@]} -gt 0 ]; then
    echo
    echo "differences from bare (key:bare>tracked):"
    printf '  %s\n' "${details[@]}"
  fi
  echo
  echo "total ${elapsed}s; per-cell logs in $WORK; raw outcome lines in $RESULTS"
  if [ "$fail" -eq 0 ]; then echo "MATRIX OK"; else echo "MATRIX FAILED"; fi
} | tee "$TABLE"
exit "$fail"
