#!/usr/bin/env bash
# PostgreSQL 15 (Debian's postgresql): initdb into a temp dir, start the server on 127.0.0.1 as user
# nobody (postgres refuses root), `pgbench -i`, `pgbench -T SECS -c 4`, stop. The shim is preloaded
# into initdb, pg_ctl and the server (postmaster, backends, background workers); clients run bare.
# Outcome: each step's result, pgbench's failed-transaction count, and how many server processes the
# log says crashed. metric = pgbench's tps (a benchmark number, not compared). A stand-in collector
# holds the run dir's collector.lock (see rw_standin_start), so that backends get rings.
# usage: postgres.sh MODE [--quick]
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rw_init postgres "${1:-}"
rw_not_for_heaptrack "backends are forked from the postmaster"
BIN=/usr/lib/postgresql/15/bin
rw_need "$BIN/postgres" postgresql
rw_need "$BIN/pgbench" postgresql
rw_need runuser util-linux
SECS=10; [ "${2:-}" = --quick ] && SECS=5
USER_NAME="${RW_PG_USER:-nobody}"

chmod 755 "$RW_WORK"
mkdir -p "$RW_WORK/pg" "$RW_WORK/sock"
chown "$USER_NAME" "$RW_WORK/pg" "$RW_WORK/sock"
PRELOAD=""
if [ "$RW_MODE" != bare ]; then PRELOAD="$(rw_preload_env)"; rw_standin_start; fi
PORT=$(rw_free_port)
DATA="$RW_WORK/pg/data"

AS_USER=(runuser -u "$USER_NAME" -- env -u LD_PRELOAD HOME="$RW_WORK/pg")
# shellcheck disable=SC2206
TRACKED=("${AS_USER[@]}" $PRELOAD)
step() { # step NAME SECONDS CMD...: runs a step, prints NAME=ok|exitN|timeout
  local name="$1" secs="$2"; shift 2
  timeout -k 10 "$secs" "$@" >>"$RW_WORK/steps.log" 2>&1
  echo "$name=$(rw_status_word $?)"
}

out=()
out+=("$(step initdb 180 "${TRACKED[@]}" "$BIN/initdb" -D "$DATA" -A trust -U "$USER_NAME" --no-sync)")
out+=("$(step start 120 "${TRACKED[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$RW_WORK/pg/server.log" -w -t 90 \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $RW_WORK/sock -c fsync=off" start)")
PGB=("${AS_USER[@]}" "$BIN/pgbench" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME")
out+=("$(step pgbench_init 180 "${PGB[@]}" -i -s 2 postgres)")
timeout -k 10 $((SECS + 120)) "${PGB[@]}" -T "$SECS" -c 4 -j 2 postgres >"$RW_WORK/pgbench.log" 2>&1 &
bench=$!
# In every mode, bare too: as a benchmark (bench realworld), each mode pays the same for the check.
sleep $((SECS / 2))
pm=$(head -1 "$DATA/postmaster.pid" 2>/dev/null)
[ -n "$pm" ] && rw_ring_coverage "$pm" $(rw_descendants "$pm")
wait "$bench"
out+=("pgbench=$(rw_status_word $?)")
out+=("failed_tx=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$RW_WORK/pgbench.log" | head -1)")
RW_METRIC="tps:$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$RW_WORK/pgbench.log" | head -1 | cut -d. -f1)"
out+=("$(step stop 120 "${TRACKED[@]}" "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 90 stop)")
if [ -f "$DATA/postmaster.pid" ]; then # still up after a failed stop: take it down
  kill -KILL "$(head -1 "$DATA/postmaster.pid")" 2>/dev/null
  out+=("left_running=yes")
fi
out+=("crashes=$(grep -c -E 'terminated by signal|was terminated|PANIC|server process .* exited with exit code [^0]' "$RW_WORK/pg/server.log" 2>/dev/null)")
[ "$RW_MODE" != bare ] && { rw_standin_stop; rw_count_rings; }
rw_result "${out[*]}"
