#!/usr/bin/env bash
# A shell pipeline of ordinary tools (find, xargs, cat, tr, grep, sed, sort, uniq, awk, gzip, gunzip,
# tee, wc, cut) run as one `bash -c`, so every tool inherits the shim.
# Outcome: the pipeline's status and a digest and size of its output, which must be byte-identical.
# usage: pipeline.sh MODE [--quick]
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rw_init pipeline "${1:-}"
rw_not_for_heaptrack "every tool is exec'd by the shell"
LIMIT="${RW_TIMEOUT:-300}"
SRC=/usr/include; [ "${2:-}" = --quick ] && SRC=/usr/include/linux

SCRIPT='set -o pipefail
find "$1" -type f -name "*.h" -print0 | sort -z | xargs -0 cat \
  | tr -cs "A-Za-z0-9_" "\n" | grep -v "^[0-9]*$" | sed "s/^_*//" \
  | sort | uniq -c | sort -k1,1nr -k2 | awk "{ print \$2, \$1, length(\$2) }" \
  | gzip -6 | gunzip -c | sed -n "1,20000p" | tee "$2" \
  | awk "NR % 7 == 0" | sort -r | cut -d" " -f1,3 | wc'
rw_run "$LIMIT" env LC_ALL=C bash -c "$SCRIPT" pipeline "$SRC" "$RW_WORK/middle.txt" >"$RW_WORK/out.txt"
# what passed through the middle of the pipeline is part of the output to compare
md5sum <"$RW_WORK/middle.txt" >>"$RW_WORK/out.txt"
rw_result "status=$(rw_status_word "$RW_STATUS") bytes=$(wc -c <"$RW_WORK/out.txt") sha=$(sha256sum <"$RW_WORK/out.txt" | cut -c1-16)"
