# Shared by the real-software scripts: mode handling, tracked runs, the outcome line.
# Sourced, not run. Every script calls rw_init PROGRAM MODE first.
#
# Environment (all optional):
#   LEAKWATCH_HOME  repository root with a built cli/target and collector/target/native (default: this checkout)
#   LEAKWATCH       command that runs the CLI (default: java on the built jar; not ./leakwatch, which may rebuild)
#   RW_WORK         directory for this run's files (default: a new temp dir, kept)
#   RW_TIMEOUT      seconds before the program under test is killed (each script has its own default)

RW_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LEAKWATCH_HOME="${LEAKWATCH_HOME:-$(cd "$RW_DIR/../../../.." && pwd)}"
if [ -z "${LEAKWATCH:-}" ]; then
  # The class-data archive the launcher makes, as users' `run` starts with it. `./leakwatch bench
  # realworld` makes it again when it is stale before any script runs; a JVM given a stale one (a
  # script run by hand after a rebuild) ignores it and only starts slower.
  RW_CDS=""
  [ -f "$LEAKWATCH_HOME/cli/target/leakwatch-classes.jsa" ] \
    && RW_CDS="-XX:SharedArchiveFile=$LEAKWATCH_HOME/cli/target/leakwatch-classes.jsa -Xlog:cds*=off"
  LEAKWATCH="java -Xmx1g $RW_CDS -Dleakwatch.home=$LEAKWATCH_HOME -cp $LEAKWATCH_HOME/cli/target/leakwatch-cli-0.1.0-SNAPSHOT.jar:$LEAKWATCH_HOME/cli/target/lib/* io.leakwatch.cli.Main"
fi
RW_AGENT="$LEAKWATCH_HOME/collector/target/native/libleakwatch.so"
# RW_RUN_DIR (set by `leakwatch bench realworld`): a run directory that a real, long-running collector
# already serves (it holds collector.lock and drains the rings into Kafka, as on a fleet's host);
# then no stand-in is started. Otherwise each run has its own, under RW_WORK.

# rw_init PROGRAM MODE: checks the mode, makes RW_WORK, starts the clock.
rw_init() {
  RW_PROGRAM="$1"
  RW_MODE="${2:-}"
  case "$RW_MODE" in
    bare|default|sample4k|exact|heaptrack) ;;
    *) echo "usage: $(basename "$0") bare|default|sample4k|exact|heaptrack" >&2; exit 2 ;;
  esac
  if [ "$RW_MODE" != bare ] && [ "$RW_MODE" != heaptrack ] && [ ! -f "$RW_AGENT" ]; then
    echo "$RW_PROGRAM: the shim is not built at $RW_AGENT (run ./leakwatch once, or mvn package)" >&2
    exit 2
  fi
  RW_WORK="${RW_WORK:-$(mktemp -d "/tmp/rw-$RW_PROGRAM-$RW_MODE-XXXXXX")}"
  mkdir -p "$RW_WORK"
  RW_REPORT="$RW_WORK/report.json"
  RW_RUN="${RW_RUN_DIR:-$RW_WORK/run}"
  rm -f "$RW_REPORT"
  RW_LOST=-; RW_TOP=-; RW_TOP_BYTES=-; RW_RINGS=-; RW_METRIC=-; RW_TRACKED_SECONDS=-
  RW_T0=$(date +%s.%N)
  [ "$RW_MODE" = heaptrack ] && rw_need heaptrack heaptrack
  return 0
}

# rw_not_for_heaptrack REASON: in heaptrack mode, says that this program cannot be measured under
# heaptrack (outcome unsupported:REASON, status 4) and exits. heaptrack tracks the process it starts
# and nothing else: a forked child stops recording, an exec'd one never starts (checked with heaptrack
# 1.4: a perl whose child made 100,000 allocations recorded 1,195, gcc's cc1 none of its own). Where
# forked workers or exec'd tools do the work (servers, gcc, perl's children, a shell pipeline), its
# number would be of a process that does little, kinder than it is.
rw_not_for_heaptrack() {
  [ "$RW_MODE" = heaptrack ] || return 0
  echo -e "RW\tprogram=$RW_PROGRAM\tmode=$RW_MODE\tseconds=0\tlost=-\trings=-\ttop_bytes=-\ttop=-\tmetric=-\tnote=unsupported\toutcome=unsupported:$1"
  exit 4
}

# rw_need TOOL DEBIAN_PACKAGE: exits 3 with a message naming the package when TOOL is missing.
rw_need() {
  if [ "${1#/}" != "$1" ]; then [ -e "$1" ] && return 0; else command -v "$1" >/dev/null 2>&1 && return 0; fi
  echo "MISSING $1 (apt-get install -y $2)" >&2
  echo -e "RW\tprogram=$RW_PROGRAM\tmode=$RW_MODE\tseconds=0\tlost=-\trings=-\ttop_bytes=-\ttop=-\tmetric=-\tnote=missing\toutcome=missing:$2"
  exit 3
}

# The `leakwatch run` flags of a mode.
rw_mode_flags() {
  case "$RW_MODE" in
    default) echo "" ;;
    sample4k) echo "--sample-bytes 4096" ;;
    exact) echo "--exact" ;;
  esac
}

# The LEAKWATCH_SAMPLE_BYTES of a mode, for direct preloading (empty = unset = the shim's default).
rw_mode_sample_bytes() {
  case "$RW_MODE" in
    sample4k) echo 4096 ;;
    exact) echo 0 ;;
    *) echo "" ;;
  esac
}

# rw_run SECONDS CMD ARGS...: runs CMD bare or through `leakwatch run` for the mode, under a timeout.
# Bare: `timeout` kills CMD's process group. Tracked: a watchdog kills CMD and its descendants after
# SECONDS (the CLI then still writes the report of the killed process), and a hard `timeout` caps the
# CLI itself. Sets RW_STATUS (124 = timed out). The CLI's own chatter goes to $RW_WORK/leakwatch.log.
rw_run() {
  local secs="$1"; shift
  rm -f "$RW_WORK/timed-out"
  if [ "$RW_MODE" = bare ]; then
    timeout -k 10 "$secs" "$@"
    RW_STATUS=$?
    [ "$RW_STATUS" -eq 137 ] && RW_STATUS=124
    return 0
  fi
  if [ "$RW_MODE" = heaptrack ]; then
    # heaptrack's script prints its own lines on stdout around the program's: they are taken out, so
    # the program's output stays comparable. Its data file is written (compressed) as the program
    # runs; the time includes heaptrack finishing it, as its users wait for that too.
    timeout -k 10 "$secs" heaptrack -o "$RW_WORK/heaptrack.%p" "$@" | rw_strip_heaptrack
    RW_STATUS=${PIPESTATUS[0]}
    [ "$RW_STATUS" -eq 137 ] && RW_STATUS=124
    return 0
  fi
  RW_CLI_RAN=1
  # shellcheck disable=SC2046,SC2086
  timeout -k 10 "$((secs + 200))" $LEAKWATCH run --timeout 120 --report json --report-file "$RW_REPORT" \
    $(rw_mode_flags) -- "$@" 2>"$RW_WORK/leakwatch.log" &
  local cli=$!
  ( # $cli is `timeout`, its child the CLI's JVM, whose child is CMD: the clock starts when CMD does
    # (after the CLI has started its broker), and stops mattering once CMD has exited.
    cmd=""
    while [ -z "$cmd" ] && kill -0 "$cli" 2>/dev/null; do
      for j in $(ps -o pid= --ppid "$cli"); do cmd=$(ps -o pid= --ppid "$j" | head -1); done
      [ -z "$cmd" ] && sleep 0.2
    done
    [ -n "$cmd" ] || exit 0
    sleep "$secs"
    kill -0 "$cmd" 2>/dev/null || exit 0
    touch "$RW_WORK/timed-out"
    rw_kill_tree TERM "$cmd"
    sleep 10
    rw_kill_tree KILL "$cmd" ) &
  local dog=$!
  wait "$cli"
  RW_STATUS=$?
  rw_kill_tree TERM "$dog" 2>/dev/null
  wait "$dog" 2>/dev/null
  if [ -e "$RW_WORK/timed-out" ] || [ "$RW_STATUS" -eq 124 ] || [ "$RW_STATUS" -eq 137 ]; then
    RW_STATUS=124
  fi
  grep -i '^leakwatch: no report' "$RW_WORK/leakwatch.log" >&2 || true
  return 0
}

# heaptrack's own stdout lines (1.4's script): where its file goes, its library, "starting
# application", and the three closing lines; everything else passes through unchanged.
rw_strip_heaptrack() {
  sed -u -e '/^heaptrack output will be written to "/d' -e '/\/libheaptrack_preload\.so$/d' \
    -e '/^starting application, this might take some time\.\.\.$/d' \
    -e '/^Heaptrack finished! Now run the following to investigate the data:$/{N;N;d;}'
}

# rw_descendants PID: PID's descendants, parents before children. One ps for the whole tree: it runs
# beside a server under load, and a ps per process (each reading all of /proc) took about 3% of
# PostgreSQL's two cores for a second (perf, 2026-12-06).
rw_descendants() {
  ps -e -o pid=,ppid= 2>/dev/null | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END {
      n = split(kids[root], queue, " ")
      for (i = 1; i <= n; i++) {
        print queue[i]
        m = split(kids[queue[i]], more, " ")
        for (j = 1; j <= m; j++) queue[++n] = more[j]
      }
    }'
}

# rw_kill_tree SIGNAL PID [keep]: signals PID's descendants (all found before any is signalled) and,
# without "keep", PID itself.
rw_kill_tree() {
  local sig="$1" pid="$2" keep="${3:-}" p
  local all; all="$(rw_descendants "$pid")"
  [ -z "$keep" ] && all="$pid $all"
  for p in $all; do kill -"$sig" "$p" 2>/dev/null; done
  return 0
}

# rw_preload_env: the environment (as `env` arguments) that preloads the shim directly for the mode,
# with its rings in $RW_WORK/run (made world-writable: servers drop privileges in their children).
rw_preload_env() {
  mkdir -p "$RW_RUN"
  chmod 1777 "$RW_RUN"
  local sb; sb="$(rw_mode_sample_bytes)"
  echo "LD_PRELOAD=$RW_AGENT LEAKWATCH_RUN_DIR=$RW_RUN${sb:+ LEAKWATCH_SAMPLE_BYTES=$sb}"
}

# rw_standin_start: holds the POSIX lock on collector.lock in $RW_WORK/run, as a collector does, so
# that the shim keeps rings and forked children (server workers) make their own. Nothing reads the
# rings: a ring that fills up counts lost events, like under a stalled collector. RW_STANDIN=0: off
# (then forked children are not tracked at all, and rings are removed at exit).
rw_standin_start() {
  RW_STANDIN_PID=""
  [ "${RW_STANDIN:-1}" = 1 ] || return 0
  [ -n "${RW_RUN_DIR:-}" ] && return 0 # a real collector serves it
  mkdir -p "$RW_WORK/run"
  python3 -c '
import fcntl, os, sys, time
f = open(sys.argv[1], "a+")
fcntl.lockf(f, fcntl.LOCK_EX)
os.chmod(sys.argv[1], 0o644)  # servers that dropped root test the lock read-only
print("locked", flush=True)
time.sleep(100000)' "$RW_WORK/run/collector.lock" >"$RW_WORK/standin.log" 2>&1 &
  RW_STANDIN_PID=$!
  for _ in $(seq 1 50); do grep -q locked "$RW_WORK/standin.log" 2>/dev/null && return 0; sleep 0.1; done
  echo "stand-in collector did not take the lock" >&2
}

rw_standin_stop() {
  [ -n "${RW_STANDIN_PID:-}" ] && kill "$RW_STANDIN_PID" 2>/dev/null && wait "$RW_STANDIN_PID" 2>/dev/null
  RW_STANDIN_PID=""
  return 0
}

# rw_ring_coverage PID...: while a server is under load, how many of its processes have the shim
# mapped and how many a ring (a process that is tracked writes its events into a mapped ring), and
# how many ring files the run dir holds. Sets RW_COVERAGE.
rw_ring_coverage() {
  local p procs=0 shim=0 ringed=0
  for p in "$@"; do
    [ -r "/proc/$p/maps" ] || continue
    procs=$((procs + 1))
    grep -q libleakwatch "/proc/$p/maps" 2>/dev/null && shim=$((shim + 1))
    grep -q '/leakwatch-[0-9-]*\.ring' "/proc/$p/maps" 2>/dev/null && ringed=$((ringed + 1))
  done
  RW_COVERAGE="procs:$procs,shim:$shim,ringed:$ringed,ringfiles:$(find "$RW_RUN" -maxdepth 1 -name '*.ring' 2>/dev/null | wc -l)"
}

# Sets RW_RINGS: the coverage under load (rw_ring_coverage) and the ring files left after the run.
rw_count_rings() {
  RW_RINGS="${RW_COVERAGE:-}${RW_COVERAGE:+,}left:$(find "$RW_RUN" -maxdepth 1 -name '*.ring' 2>/dev/null | wc -l)"
  [ "${RW_STANDIN:-1}" = 1 ] && [ -z "${RW_RUN_DIR:-}" ] && RW_RINGS="standin,$RW_RINGS"
  # ring files are 256 MiB each (sparse): do not keep them in the matrix's work dir (a real
  # collector removes the rings it has drained itself)
  [ -z "${RW_RUN_DIR:-}" ] && rm -f "$RW_WORK"/run/*.ring
  return 0
}

# Reads events lost and the top stack from the report (when the run went through `leakwatch run`).
rw_read_report() {
  [ "$RW_MODE" = bare ] && return 0
  [ -n "${RW_CLI_RAN:-}" ] || return 0 # the shim was preloaded directly: no report
  if [ ! -s "$RW_REPORT" ]; then RW_LOST=noreport; return 0; fi
  local line
  line=$(python3 - "$RW_REPORT" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
t = r.get("tracking", {})
s = (r.get("stacks") or [{}])[0]
top = (s.get("culprit") or "-").replace("\t", " ").replace("\n", " ")
print("%s\t%s\t%s\t%s" % (t.get("lostEvents", "-"), s.get("bytes", "-"), top, t.get("seconds", "-")))
PY
) || { RW_LOST=badreport; return 0; }
  IFS=$'\t' read -r RW_LOST RW_TOP_BYTES RW_TOP RW_TRACKED_SECONDS <<<"$line"
}

# rw_result OUTCOME: prints the machine-readable outcome line (tab-separated key=value fields; the
# outcome is space-separated tokens, compared as a whole against the bare run's).
rw_result() {
  local t1; t1=$(date +%s.%N)
  rw_read_report
  local secs; secs=$(awk -v a="$RW_T0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  printf 'RW\tprogram=%s\tmode=%s\tseconds=%s\tlost=%s\trings=%s\ttop_bytes=%s\ttop=%s\tmetric=%s\tnote=%s\toutcome=%s\n' \
    "$RW_PROGRAM" "$RW_MODE" "$secs" "$RW_LOST" "$RW_RINGS" "$RW_TOP_BYTES" "$RW_TOP" "$RW_METRIC" "$(rw_note)" "$*"
}

# What went wrong in the CLI itself, if anything (not part of the outcome, which is the program's).
rw_note() {
  local log="$RW_WORK/leakwatch.log" n=""
  if [ -f "$log" ]; then
    grep -q RecordTooLargeException "$log" && n="${n}cli:record-too-large,"
    grep -q "KafkaStreams is not running" "$log" && n="${n}cli:streams-died,"
    grep -q "^leakwatch: no report" "$log" && n="${n}cli:no-report,"
  fi
  [ -e "$RW_WORK/timed-out" ] && n="${n}killed-by-watchdog,"
  # what a program's script adds (cpython.sh: the modules that passed only when run again)
  [ -n "${RW_NOTE_EXTRA:-}" ] && [ "$RW_NOTE_EXTRA" != - ] && n="${n}${RW_NOTE_EXTRA},"
  n="${n%,}"
  echo "${n:--}"
}

# A free TCP port on 127.0.0.1.
rw_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

rw_status_word() {
  case "$1" in
    0) echo ok ;;
    124|137) echo timeout ;;
    *) if [ "$1" -gt 128 ]; then echo "signal$(($1 - 128))"; else echo "exit$1"; fi ;;
  esac
}
