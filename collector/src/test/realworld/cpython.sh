#!/usr/bin/env bash
# CPython's own regression tests (Debian's libpython3.11-testsuite) under `python3 -m test`.
# Outcome: the regrtest main process's status, then one token per test module: MODULE=pass|fail|
# skip|envchanged|crash|timeout|notrun (a module that the run never reported, e.g. after a hang).
# A module whose tests failed is run again (regrtest -w: only its failed cases, in the main process);
# one that passes then counts as passed, and the note names its cases (rerun:MODULE(CASE+...)). Bare
# and tracked get the same second chance: CPython's timing tests (test_signal's itimers and delivery
# stress) fail now and then on a loaded 2-core machine, bare as well (CI, stop 36). Only a plain
# failure gets it: a crash or a timeout (which regrtest also re-runs) keeps its first result, since a
# race the shim causes may pass a second time; and only when the run reached its closing summary.
# Not in one process (RW_CPYTHON_INPROCESS=1, bench realworld): there the time is the measure.
# usage: cpython.sh MODE [--quick]      (RW_CPYTHON_TESTS="test_a test_b" overrides the module list;
#        RW_CPYTHON_INPROCESS=1 runs them all in one process, as heaptrack mode needs)
set -uo pipefail
. "$(dirname "$0")/lib.sh"
rw_init cpython "${1:-}"
PY=/usr/bin/python3.11
rw_need "$PY" python3.11
rw_need /usr/lib/python3.11/test/test_ctypes.py libpython3.11-testsuite

QUICK="test_ctypes test_mmap test_signal test_threading test_subprocess"
# Modules that exercise threads, fork/exec, signals, mmap, polling, C extensions and the allocator
# hard, and finish quickly bare (test_multiprocessing_fork: 1.5 min). Not test_socket: without a
# network it sits in name lookups for minutes; not test_io, test_concurrent_futures, test_decimal:
# slow.
FULL="test_ctypes test_mmap test_signal test_threading test_subprocess test_os test_multiprocessing_fork
  test_json test_re test_dict test_list test_set test_tuple test_bytes test_unicode test_struct test_array
  test_select test_selectors test_poll test_tempfile test_fileio test_shutil test_glob
  test_zlib test_bz2 test_lzma test_gzip test_hashlib test_hmac test_pickle test_copy test_weakref test_gc
  test_sys test_faulthandler test_fork1 test_wait4 test_pty test_fcntl test_posix test_csv test_sqlite3
  test_thread test_threading_local test_queue test_logging test_uuid test_datetime
  test_tarfile test_zipfile test_mailbox"
if [ "${2:-}" = --quick ]; then TESTS="$QUICK"; LIMIT=480; else TESTS="$FULL"; LIMIT=2400; fi
TESTS="${RW_CPYTHON_TESTS:-$TESTS}"
LIMIT="${RW_TIMEOUT:-$LIMIT}"
# test_siginterrupt_off waits 30 s by design (it checks that a read is NOT interrupted); quick runs
# also leave out the other tests that mostly sleep.
IGNORE=(-i test_siginterrupt_off)
[ "${2:-}" = --quick ] && IGNORE+=(-i '*SiginterruptTest*' -i '*test_subprocess*timeout*' -i '*test_threading*timeout*')

mkdir -p "$RW_WORK/tmp"
cd "$RW_WORK"
# -j1: every module in its own worker process, one at a time, so a crash is that module's result.
# RW_CPYTHON_INPROCESS=1 (bench realworld): the modules run in the process started, the only one
# heaptrack records (it follows no child), and then in every mode alike.
JOBS=(-j1 -w)
[ "${RW_CPYTHON_INPROCESS:-0}" = 1 ] && JOBS=()
[ ${#JOBS[@]} -gt 0 ] && rw_not_for_heaptrack "each module runs in a worker process (RW_CPYTHON_INPROCESS=1 runs them in one)"
# Python is the command itself (TMPDIR set for the call, no `env` in between): see jvm.sh.
# shellcheck disable=SC2086
TMPDIR="$RW_WORK/tmp" rw_run "$LIMIT" "$PY" -m test "${JOBS[@]}" --timeout 300 "${IGNORE[@]}" $TESTS >"$RW_WORK/regrtest.log" 2>&1
status=$RW_STATUS

parsed=$("$PY" - "$RW_WORK/regrtest.log" $TESTS <<'PY'
import re, sys
log, tests = sys.argv[1], sys.argv[2:]
def result(rest):
    if rest.startswith("passed"): return "pass"
    if rest.startswith("failed (env changed)"): return "envchanged"
    if rest.startswith("failed"): return "fail"
    if rest.startswith("skipped") or rest.startswith("run no tests"): return "skip"
    if rest.startswith("crashed"): return "crash"
    if rest.startswith("timed out") or "timeout" in rest: return "timeout"
    if rest.startswith("interrupted"): return "interrupted"
    return "other"
# Progress lines. With -j1 each module's result follows its name: "[1/4] test_json passed". In one
# process (RW_CPYTHON_INPROCESS=1) a line names the module starting, and says how the one before
# ended only when that is worth saying (not passed, or slow): "[2/4] test_re -- test_json passed in
# 31.0 sec"; the rest is in the closing summary: "All 4 tests OK.", "1 test failed:" then indented
# names.
res, started, section, ok_rest = {}, [], None, False
rerun, again, after_rerun, finished, first_result = {}, set(), False, False, {}
summary = {"failed": "fail", "skipped": "skip", "altered the execution environment": "envchanged",
           "run no tests": "skip", "crashed": "crash", "timed out": "timeout", "interrupted": "interrupted"}
for line in open(log, errors="replace"):
    line = line.rstrip("\n")
    # -w: "Re-running test_signal in verbose mode (matching: test_a, test_b)", and at the end the
    # modules that failed the second time too ("1 test failed again:" then indented names).
    m = re.search(r"Re-running (test_\w+) in verbose mode(?: \(matching: (.*)\))?$", line)
    if m:
        if not after_rerun:
            first_result = dict(res)  # each module's line from its own run
        rerun[m.group(1)] = (m.group(2) or "").replace(" ", "")
        after_rerun = True
        continue
    if after_rerun and line.startswith("== Tests result:"):
        finished = True  # the re-run ended and regrtest summed it up
    if after_rerun and re.match(r"^\d+ tests? failed again:$", line):
        section = "again"
        continue
    if section == "again" and line.startswith("    "):
        again.update(line.split())
        continue
    m = re.search(r"\[\s*\d+/\d+(?:/\d+)?\] (test_\w+)(.*)$", line)
    if m:
        name, rest = m.group(1), m.group(2).strip()
        started.append(name)
        before = re.match(r"-- (test_\w+) (.*)$", rest)
        if before:
            res[before.group(1)] = result(before.group(2))
        elif rest:
            res[name] = result(rest)
        continue
    m = re.match(r"^\d+ tests? (failed|skipped|altered the execution environment|run no tests|crashed|timed out|interrupted)", line)
    if m:
        section = summary[m.group(1)]
        continue
    if re.match(r"^(All )?\d+ tests? OK\.$", line):
        ok_rest, section = True, None
        continue
    if section and line.startswith("    "):
        for name in line.split():
            res.setdefault(name, section)
    elif line.strip():
        section = None
if ok_rest:
    for name in started:
        res.setdefault(name, "pass")
# first_result: the module's own line before the re-run ("fail" only; a crash or timeout stays)
passed_again = [t for t in rerun if finished and t not in again and first_result.get(t) == "fail"]
for t in passed_again:
    res[t] = "pass"
print(" ".join("%s=%s" % (t, res.get(t, "notrun")) for t in tests))
print(",".join("rerun:%s(%s)" % (t, rerun[t].replace(",", "+")) for t in passed_again) or "-")
PY
)
outcome=$(sed -n 1p <<<"$parsed")
RW_NOTE_EXTRA=$(sed -n 2p <<<"$parsed")
rw_result "main=$(rw_status_word "$status") $outcome"
