#!/bin/bash
# The shim's instructions in real servers, for a fixed amount of work: callgrind (deterministic, so
# this VM's noise does not enter; it may run niced beside anything) over every server process, the
# clients bare. A stand-in collector holds collector.lock so forked workers keep rings; nothing
# drains them (a full ring would drop, cheaper than a write: each run prints the rings' sizes).
#
#   collector/src/test/bench/callgrind-servers.sh postgres|nginx bare|default|off
#
# postgres: initdb, `pgbench -i -s 2`, then `pgbench -t 300 -c 4 -j 2` (1,200 transactions); prints
#   each server process's instructions in pid order (the 4 client backends are the 4 after the
#   one that loaded the data, the only ones whose work is the same in every run: CREATE INDEX's
#   parallel worker takes a share that varies).
# nginx: 2 workers, 20 keep-alive connections x 150 requests (2 of 3 the 24 KiB page gzipped, 1 of 3
#   a `return 200`); prints each process's instructions and the total (connections land on either
#   worker, so only the total is the same work).
# off: the shim loaded with sampling effectively off (1 TiB): its entry points alone.
set -u
PROGRAM=$1 MODE=$2
here=$(cd "$(dirname "$0")/../../.." && pwd)
AGENT=$here/target/native/libleakwatch.so
W=${TMPDIR:-/tmp}/leakwatch-cg/$PROGRAM-$MODE
rm -rf "$W"; mkdir -p "$W/run" "$W/out"; chmod 755 "$(dirname "$W")" "$W"; chmod 1777 "$W/run" "$W/out"
python3 -c '
import fcntl, os, sys, time
f = open(sys.argv[1], "a+"); fcntl.lockf(f, fcntl.LOCK_EX); os.chmod(sys.argv[1], 0o644)
print("locked", flush=True); time.sleep(100000)' "$W/run/collector.lock" >"$W/standin.log" 2>&1 &
LOCK=$!
for _ in $(seq 1 50); do grep -q locked "$W/standin.log" 2>/dev/null && break; sleep 0.1; done
PRE=()
case $MODE in
  bare) ;;
  default) PRE=(LD_PRELOAD="$AGENT" LEAKWATCH_RUN_DIR="$W/run") ;;
  off) PRE=(LD_PRELOAD="$AGENT" LEAKWATCH_RUN_DIR="$W/run" LEAKWATCH_SAMPLE_BYTES=1099511627776) ;;
  *) echo "mode: bare, default or off" >&2; exit 2 ;;
esac
CG=(valgrind --tool=callgrind "--callgrind-out-file=$W/out/cg.%p")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

case $PROGRAM in
postgres)
  BIN=/usr/lib/postgresql/15/bin
  mkdir -p "$W/pg" "$W/sock"; chown nobody "$W/pg" "$W/sock"
  AS=(runuser -u nobody -- env -u LD_PRELOAD HOME="$W/pg")
  "${AS[@]}" $BIN/initdb -D "$W/pg/data" -A trust -U nobody --no-sync >"$W/initdb.log" 2>&1 || { echo "initdb failed"; exit 1; }
  "${AS[@]}" "${PRE[@]}" "${CG[@]}" $BIN/postgres -D "$W/pg/data" -c listen_addresses=127.0.0.1 \
    -p "$PORT" -k "$W/sock" -c fsync=off -c autovacuum=off >"$W/server.log" 2>&1 &
  for _ in $(seq 1 240); do $BIN/pg_isready -h 127.0.0.1 -p "$PORT" -q && break; sleep 0.5; done
  PGB=("${AS[@]}" $BIN/pgbench -h 127.0.0.1 -p "$PORT" -U nobody)
  "${PGB[@]}" -i -s 2 postgres >"$W/init.log" 2>&1 || echo "pgbench -i failed"
  "${PGB[@]}" -t 300 -c 4 -j 2 postgres >"$W/pgbench.log" 2>&1 || echo "pgbench failed"
  grep -E "transactions actually|failed transactions" "$W/pgbench.log"
  "${AS[@]}" $BIN/pg_ctl -D "$W/pg/data" -m fast -w -t 300 stop >"$W/stop.log" 2>&1
  ;;
nginx)
  mkdir -p "$W/www" "$W/tmp"; chmod 755 "$W/www"
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
  client_body_temp_path $W/tmp/body; proxy_temp_path $W/tmp/proxy; fastcgi_temp_path $W/tmp/fastcgi;
  uwsgi_temp_path $W/tmp/uwsgi; scgi_temp_path $W/tmp/scgi;
  types { text/html html; text/plain txt; }
  gzip on; gzip_min_length 100; gzip_types text/plain;
  server { listen 127.0.0.1:$PORT; root $W/www; location / { index index.html; }
    location /dyn { return 200 "hello \$request_uri \$args\n"; } }
}
CONF
  env "${PRE[@]}" "${CG[@]}" nginx -p "$W" -c "$W/nginx.conf" >"$W/stdout.log" 2>&1 &
  NG=$!
  for _ in $(seq 1 120); do curl -s -o /dev/null "http://127.0.0.1:$PORT/dyn" && break; sleep 0.5; done
  python3 - "$PORT" <<'PY'
import http.client, sys
ok = 0
for c in range(20):
    h = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
    for i in range(150):
        h.request("GET", "/dyn?n=%d" % i if i % 3 == 0 else "/index.html", headers={"Accept-Encoding": "gzip"})
        r = h.getresponse(); r.read(); ok += r.status == 200
    h.close()
print("requests answered 200:", ok, "of 3000")
PY
  kill -QUIT "$(cat "$W/nginx.pid")"; wait "$NG"
  ;;
*) echo "program: postgres or nginx" >&2; exit 2 ;;
esac
kill "$LOCK" 2>/dev/null
total=0
for f in $(ls "$W/out" | sort -t. -k2 -n); do
  n=$(grep -E '^(summary|totals):' "$W/out/$f" | awk '{print $2}' | sort -n | tail -1)
  echo "${f#cg.} $n"; total=$((total + n))
done
echo "total $total"
ls -l "$W/run" | awk '/\.ring$/ {n++} END {print "rings:", n + 0}'
