#!/usr/bin/env bash
# nginx (Debian's nginx) on 127.0.0.1 with a temp config: a master and 2 workers (as nobody), static
# files with gzip and a `return` location, loaded by wrk for SECS seconds, then a graceful quit.
# The shim is preloaded into nginx (master and forked workers); wrk runs bare. A stand-in collector
# holds the run dir's collector.lock (see rw_standin_start), so that the workers get rings.
# Outcome: start, wrk's status, non-2xx/3xx responses (must be 0), socket errors (connect, read,
# write; timeouts excluded), nginx's exit status after `-s quit`, and [alert]/[emerg]/crash lines in
# its error log. metric = wrk's requests per second (a benchmark number, not compared).
# usage: nginx.sh MODE [--quick]
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rw_init nginx "${1:-}"
rw_not_for_heaptrack "workers are forked from the master"
rw_need nginx nginx
rw_need wrk wrk
SECS=10; [ "${2:-}" = --quick ] && SECS=5
PORT=$(rw_free_port)
W="$RW_WORK/nginx"
mkdir -p "$W/www" "$W/tmp"
chmod 755 "$RW_WORK" "$W" "$W/www"
python3 -c 'import sys; sys.stdout.write("".join("<p>line %d of the leakwatch test page</p>\n" % i for i in range(600)))' >"$W/www/index.html"
cat >"$W/nginx.conf" <<CONF
worker_processes 2;
daemon off;
master_process on;
user nobody nogroup;
pid $W/nginx.pid;
error_log $W/error.log notice;
events { worker_connections 512; }
http {
  access_log $W/access.log combined buffer=64k;
  client_body_temp_path $W/tmp/body;
  proxy_temp_path $W/tmp/proxy;
  fastcgi_temp_path $W/tmp/fastcgi;
  uwsgi_temp_path $W/tmp/uwsgi;
  scgi_temp_path $W/tmp/scgi;
  types { text/html html; text/plain txt; }
  gzip on; gzip_min_length 100; gzip_types text/plain;
  server {
    listen 127.0.0.1:$PORT;
    root $W/www;
    location / { index index.html; }
    location /dyn { return 200 "hello \$request_uri \$args\n"; }
  }
}
CONF
cat >"$W/mix.lua" <<'LUA'
local n = 0
request = function()
  n = n + 1
  if n % 3 == 0 then return wrk.format("GET", "/dyn?n=" .. n) end
  return wrk.format("GET", "/index.html")
end
LUA

PRELOAD=""
if [ "$RW_MODE" != bare ]; then PRELOAD="$(rw_preload_env)"; rw_standin_start; fi
out=()
# shellcheck disable=SC2086
timeout -k 10 $((SECS + 120)) env $PRELOAD nginx -p "$W" -c "$W/nginx.conf" >"$W/stdout.log" 2>&1 &
master=$!
up=no
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then up=yes; break; fi
  kill -0 "$master" 2>/dev/null || break
  sleep 0.1
done
out+=("start=$up")
if [ "$up" = yes ]; then
  timeout -k 5 $((SECS + 60)) wrk -t 2 -c 16 -d "${SECS}s" -H "Accept-Encoding: gzip" -s "$W/mix.lua" \
    "http://127.0.0.1:$PORT/" >"$RW_WORK/wrk.log" 2>&1 &
  load=$!
  # In every mode, bare too: as a benchmark (bench realworld), each mode pays the same for the check.
  sleep $((SECS / 2))
  rw_ring_coverage $(rw_descendants "$master") # timeout's child is the master; then the workers
  wait "$load"
  out+=("wrk=$(rw_status_word $?)")
  out+=("non2xx=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$RW_WORK/wrk.log" | head -1 | grep . || echo 0)")
  out+=("sockerr=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 }' "$RW_WORK/wrk.log" | grep . || echo 0)")
  reqs=$(awk '/requests in/ { print $1 }' "$RW_WORK/wrk.log")
  [ "${reqs:-0}" -gt 0 ] && out+=("served=yes") || out+=("served=no")
  RW_METRIC="rps:$(awk '/^Requests\/sec:/ { printf "%d", $2 }' "$RW_WORK/wrk.log")"
  nginx -p "$W" -c "$W/nginx.conf" -s quit >>"$W/stdout.log" 2>&1
fi
# a graceful quit lets the workers finish; the timeout above is the hard stop
for _ in $(seq 1 300); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$master" 2>/dev/null; then out+=("quit=hung"); kill -KILL "$master" 2>/dev/null; fi
wait "$master"
out+=("exit=$(rw_status_word $?)")
out+=("alerts=$(grep -c -E '\[(alert|emerg|crit)\]|exited on signal|core dumped' "$W/error.log" 2>/dev/null)")
[ "$RW_MODE" != bare ] && { rw_standin_stop; rw_count_rings; }
rw_result "${out[*]}"
