#!/usr/bin/env bash
# The bash completion (completions/procman) on a real store: commands,
# each command's own options, the pids of `procman list` for commands that
# take one, and the runner's options and their values.
set -euo pipefail
src=$1
bin=$PROCMAN_BIN_DIR
dir=$(mktemp -d "${TMPDIR:-/tmp}/procman-completion.XXXXXX")
trap 'rm -rf "$dir"' EXIT
# shellcheck source=/dev/null
source "$src/completions/procman"
failures=0

# complete WORD... : the candidates for the last word of the line.
complete_line() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  case $(basename "${COMP_WORDS[0]}") in
    procman) _procman ;;
    procman-runner) _procman_runner ;;
  esac
  printf '%s\n' "${COMPREPLY[@]}" | sort
}

expect() { # expect "WHAT" "CANDIDATES (sorted, space-separated)" WORD...
  local what=$1 want=$2
  shift 2
  local got
  got=$(complete_line "$@" | tr '\n' ' ' | sed 's/ $//')
  if [[ $got != "$want" ]]; then
    echo "FAIL: $what: got [$got], want [$want]" >&2
    failures=$((failures + 1))
  else
    echo "ok: $what"
  fi
}

store=$dir/store
pid=$("$bin/procman" --store "$store" start \
  '{"steps": {"s": {"class": "procman.set"}}}' 2>/dev/null)

expect "commands starting with st" "start status" "$bin/procman" st
expect "start's own options" "--data --delay" "$bin/procman" start --d
expect "wait has --timeout only" "--timeout --tls-ca --tls-cert --tls-key" \
  "$bin/procman" wait --t
expect "pids of the store named on the line" "$pid" \
  "$bin/procman" --store "$store" status ""
expect "proceed takes a pid" "$pid" "$bin/procman" --store "$store" proceed ""
expect "list --status values" "cancelled" "$bin/procman" list --status c
expect "schedule subcommands" "add list remove" "$bin/procman" schedule ""
expect "config names" "output-limit retention" "$bin/procman" config set ""
expect "runner log formats" "json text" "$bin/procman-runner" --log-format ""
expect "runner --ready-fd and --retention" "--ready-fd --retention" \
  "$bin/procman-runner" --re
expect "a pid is completed once" "" "$bin/procman" --store "$store" status "$pid" ""
expect "hold and release take a pid" "$pid" "$bin/procman" --store "$store" hold ""
expect "commands starting with h" "help hold" "$bin/procman" h
expect "remove takes a pid" "$pid" "$bin/procman" --store "$store" remove ""
expect "help completes commands" "release remove replay retry run" \
  "$bin/procman" help r
expect "start does not take --step-lib" "--store" "$bin/procman" start --st
expect "token subcommands" "create list revoke" "$bin/procman" token ""
expect "token create's options" "--name --scope" "$bin/procman" token create ""
expect "log export's options" "--pid" "$bin/procman" log export --p
expect "run takes a file" "$store" "$bin/procman" run "$dir/s"

if ((failures > 0)); then
  echo "$failures completion checks failed" >&2
  exit 1
fi
