#!/usr/bin/env bash
# Records the golden message logs in tests/data/ from real runs of each
# lifecycle path: real runners, real executors, real stores. Rerun it after
# a deliberate change of the engine's behaviour (then review the diff):
#   bash tests/data/record-golden-logs.sh [BUILD_DIR [OUT_DIR]]
# OUT_DIR (default: tests/data) is where the logs go; the test
# replay.golden_rerecord records into a temporary one and compares the two
# (docs/testing.md). The scenarios wait for states, not for times, so that
# two recordings differ only in what legitimately varies.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
out=$(cd "${2:-$here}" && pwd)
bin=$(cd "$build/bin" && pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

pm() { "$bin/procman" --store "$store" "$@"; }
runner() { "$bin/procman-runner" --store "$store" --log-level error "$@"; }
# In the background, so that $! is the runner itself (not a subshell).
runner_bg() { "$bin/procman-runner" --store "$store" --log-level error "$@" & }
fresh() { store="$work/$1"; }
export_to() { pm log export > "$out/$1.jsonl"; echo "recorded $1.jsonl ($(wc -l < "$out/$1.jsonl") lines)"; }
wait_info() {  # pid pattern: until `procman status` shows it (60 s at most)
  for _ in $(seq 1 3000); do
    pm status "$1" | grep -q "$2" && return 0
    sleep 0.02
  done
  echo "process $1 never showed $2" >&2; return 1
}
wait_status() { wait_info "$1" "\"status\":\"$2\""; }  # pid status
wait_step() { wait_info "$1" "\"$2\":\"running\""; }  # pid step: it runs
sh_spec() {  # script [timeout]
  printf '{"steps": {"sh": {"class": "procman.exec", "args": {"command": ["sh", "-c", "%s"]}}}%s}' \
    "$1" "${2:+, \"timeout\": $2}"
}

# ONLY=name records just that log.
only() { [ -z "${ONLY:-}" ] || [ "$ONLY" = "$1" ]; }

if [ -z "${ONLY:-}" ]; then
# finished: three steps, one command.
fresh finished
pm start "$here/../../examples/hello.json" >/dev/null
runner
export_to finished

# error: a failing step, an unknown class, an oversized output, an executor crash.
fresh error
pm start "$here/../../examples/failing.json" >/dev/null
pm start '{"steps": {"x": {"class": "no.such.step"}}}' >/dev/null
pm start "$(sh_spec 'head -c 17000000 /dev/zero | tr \\\\0 x')" >/dev/null
runner
cat > "$work/segv.sh" <<'SH'
#!/bin/sh
[ "$1" = --check ] && { echo ok; exit 0; }
cat >/dev/null; echo 'executor about to crash' >&2; kill -SEGV $$
SH
chmod +x "$work/segv.sh"
pm start '{"steps": {"s": {"class": "procman.set", "args": {"a": 1}}}}' >/dev/null
runner --exec "$work/segv.sh"
export_to error

# interrupted, then proceeded to the end.
fresh interrupted-proceeded
pid=$(pm start "$here/../../examples/approval.json")
runner
pm proceed "$pid" --data '{"approved_by": "golden", "status": "approved"}' >/dev/null
runner
export_to interrupted-proceeded

# timeout: the executor and its command are killed after 1 s.
fresh timeout
pm start "$(sh_spec 'sleep 60' 1)" >/dev/null
runner
export_to timeout

fi

# cancel: queued, interrupted and running (its step shows cancelled).
if only cancel; then
fresh cancel
q=$(pm start '{"steps": {"s": {"class": "procman.set", "args": {}}}}')
pm cancel "$q" >/dev/null
p=$(pm start "$here/../../examples/approval.json")
runner
pm cancel "$p" >/dev/null
runner_bg --wait
r=$!
run=$(pm start "$(sh_spec 'sleep 60' 120)")
wait_step "$run" sh
pm cancel "$run" >/dev/null
kill -TERM $r; wait $r
export_to cancel
fi

if [ -z "${ONLY:-}" ]; then

# runner lost: SIGKILL of a runner mid-process, then a runner recovers it;
# and SIGTERM with a grace period that runs out.
fresh runner-lost
runner_bg --wait
r=$!
lost=$(pm start '{"steps": {"first": {"class": "procman.set", "args": {"a": 1}},
  "long": {"class": "procman.exec", "args": {"command": ["sleep", "60"]}}}, "timeout": 600}')
wait_step "$lost" long
kill -KILL $r; wait $r 2>/dev/null || true
runner
runner_bg --wait --grace 1
r=$!
stopped=$(pm start "$(sh_spec 'sleep 60' 600)")
wait_step "$stopped" sh
kill -TERM $r; wait $r
export_to runner-lost

# interleaved: twelve processes, two at a time, with progress, pauses,
# failures and a proceed while others run.
fresh interleaved
pids=()
for i in $(seq 1 4); do
  pids+=("$(pm start "$here/../../examples/progress.json")")
  pids+=("$(pm start "$here/../../examples/approval.json")")
  pm start "$here/../../examples/hello.json" >/dev/null
done
runner_bg --wait --parallel 2
r=$!
for p in "${pids[@]}"; do
  wait_status "$p" '\(finished\|interrupted\)' || true
done
for p in "${pids[@]}"; do
  if pm status "$p" | grep -q '"status":"interrupted"'; then
    pm proceed "$p" --data '{"approved_by": "golden"}' >/dev/null
  fi
done
for p in "${pids[@]}"; do wait_status "$p" finished; done
kill -TERM $r; wait $r
export_to interleaved
fi

# jobs: retries (resuming at the failed step, then the maximum reached),
# a retry by hand, priorities, a delayed start, a unique key, a schedule
# fired by a waiting runner and removed.
if only jobs; then
fresh jobs
flag="$work/jobs-ok"
pm start "{\"steps\": {\"a\": {\"class\": \"procman.set\", \"args\": {\"a\": 1}},
  \"b\": {\"class\": \"procman.exec\", \"args\": {\"command\": [\"test\", \"-f\", \"$flag\"]}},
  \"c\": {\"class\": \"procman.set\", \"args\": {\"c\": 1}}},
  \"retry\": {\"max\": 3, \"initial\": 0.2}}" >/dev/null
gives_up=$(pm start '{"steps": {"f": {"class": "procman.fail", "args": {"message": "no"}}},
  "retry": {"max": 1, "initial": 0.1, "backoff": "fixed"}}')
# Each of the next two runners claims both (and no more, however long a
# run takes): the first fails both, the second runs them once their
# backoffs (0.2 s, 0.1 s) are over.
runner --parallel 1 --max-processes 2
sleep 0.3
touch "$flag"
runner --parallel 1 --max-processes 2
pm retry "$gives_up" >/dev/null
runner
pm start '{"steps": {"low": {"class": "procman.set"}}, "priority": -1}' >/dev/null
pm start '{"steps": {"high": {"class": "procman.set"}}, "priority": 5}' >/dev/null
late=$(pm start '{"steps": {"late": {"class": "procman.set"}}}' --delay 0.5s)
pm start '{"steps": {"once": {"class": "procman.set"}}, "key": "k1"}' >/dev/null
pm start '{"steps": {"once": {"class": "procman.set"}}, "key": "k1"}' >/dev/null 2>&1
runner --parallel 1
pm schedule add tick '* * * * * *' '{"steps": {"tick": {"class": "procman.set"}}}' >/dev/null
runner_bg --wait --parallel 1
r=$!
ticks() { pm list --status finished | grep -c '"schedule":"tick"' || true; }
for _ in $(seq 1 3000); do [ "$(ticks)" -ge 2 ] && break; sleep 0.02; done
pm schedule remove tick >/dev/null
wait_status "$late" finished
# Whatever the schedule enqueued before its removal runs to its end.
for _ in $(seq 1 3000); do
  [ -z "$(pm list --status queued)$(pm list --status running)" ] && break
  sleep 0.02
done
kill -TERM $r; wait $r
export_to jobs
fi

# retention: live output that is kept but not logged, a running step
# cancelled, `procman purge --older-than` by hand (purge entries of source
# client), and work after it.
if only retention; then
fresh retention
pm config set output-limit 1K >/dev/null
pm start "$(sh_spec 'seq 1 500; echo done >&2')" >/dev/null
runner_bg --wait
r=$!
run=$(pm start "$(sh_spec 'echo started; sleep 60' 120)")
wait_step "$run" sh
pm cancel "$run" >/dev/null
kill -TERM $r; wait $r
sleep 0.05
pm purge --older-than 0s >/dev/null
pm start "$(sh_spec 'echo after the purge')" >/dev/null
runner
export_to retention
fi
