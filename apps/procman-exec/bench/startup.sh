#!/usr/bin/env bash
# Start-up cost of procman-exec: a one-step procman.set process, against a
# bare program that reads and writes one JSON line (linked the same way) and
# against procman-exec linked dynamically. docs/protocol.md has the figures.
#
#   apps/procman-exec/bench/startup.sh [BUILD_DIR] [RUNS]
#
# The programs are spawned round-robin (procman-exec-spawn-times), so that
# other load on the machine affects all of them alike. A shell loop per
# program follows as a cross-check.
set -euo pipefail
build=${1:-build}
runs=${2:-500}
cmake --build "$build" --target procman-exec procman-exec-dynamic \
  procman-exec-baseline procman-exec-spawn-times >/dev/null
bin=$build/bin
input=$(mktemp)
trap 'rm -f "$input"' EXIT
cat >"$input" <<'JSON'
{"pid": "00000000000000000000000000000001",
 "steps": [{"name": "set", "class": "procman.set", "args": {"x": 1}}],
 "first_step": 0, "data": {"hello": "world"}, "script_args": ""}
JSON
programs=("$bin/procman-exec-baseline" "$bin/procman-exec" "$bin/procman-exec-dynamic")
echo "== output of each"
for p in "${programs[@]}"; do
  "$p" <"$input" | tail -1
done
echo "== sizes (bytes)"
for p in "${programs[@]}"; do
  echo "$(stat -c %s "$p") $p"
done
echo "== spawn to exit, interleaved"
"$bin/procman-exec-spawn-times" "$runs" "$input" "${programs[@]}"
echo "== shell loop, $runs runs each (µs per run)"
for p in "${programs[@]}"; do
  start=$(date +%s%N)
  for ((i = 0; i < runs; i++)); do
    "$p" <"$input" >/dev/null
  done
  end=$(date +%s%N)
  echo "$(((end - start) / runs / 1000)) $p"
done
