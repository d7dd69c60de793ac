#!/usr/bin/env bash
# scripts/demo on a store of its own: it ends with 0, the process it starts
# finishes, and the CLI does not warn (its first start comes after the
# runner said it serves, so no "no runner is listening"). The runner's own
# log lines may warn of what other programs left behind (cgroups of killed
# runners): they are not the demo's.
set -euo pipefail
src=$1
dir=$(mktemp -d "${TMPDIR:-/tmp}/procman-demo-test.XXXXXX")
trap 'rm -rf "$dir"' EXIT
rc=0
PROCMAN_STORE=$dir/store bash "$src/scripts/demo" >"$dir/out" 2>"$dir/err" || rc=$?
cat "$dir/out"
cat "$dir/err" >&2
if [[ $rc -ne 0 ]]; then
  echo "FAIL: scripts/demo exited $rc" >&2
  exit 1
fi
if grep -q "procman: warning" "$dir/err"; then
  echo "FAIL: the CLI warned during scripts/demo" >&2
  exit 1
fi
if ! tail -n 1 "$dir/out" | grep -q '"status":"finished"'; then
  echo "FAIL: the demo's process did not finish" >&2
  exit 1
fi
echo "scripts/demo: exit 0, no warning, its process finished"
