#!/usr/bin/env bash
# procman as a package, from the outside (tests/package/CMakeLists.txt runs
# one CTest entry per case):
#
#   package.sh CASE SOURCE_DIR BUILD_DIR CMAKE CPACK GENERATOR CXX [LAUNCHER]
#
# It works in BUILD_DIR/tests/package/CASE (kept when a case fails), and
# builds with the main build's compiler launcher (ccache), so that a rerun
# does not compile procman again.
#
#   install_find_package  `cmake --install` into a temporary prefix; the
#                         public headers are installed, internal ones (the
#                         actors, the store, the life cycle) are not, and
#                         every installed header's procman/ includes are
#                         installed too; examples/host, a CMake project of its own, is
#                         configured with find_package(procman) against the
#                         prefix, built, and runs its process to the end with
#                         the installed procman-exec, without PROCMAN_EXEC;
#                         so does a program that links procman only through
#                         a static library (tests/package/static_host).
#   add_subdirectory      a host project that builds procman with
#                         add_subdirectory() (tests/package/subdir_host)
#                         builds only its program and runs it with the
#                         procman-exec of that build.
#   deb                   `cpack -G DEB` makes procman_<version>_<arch>.deb
#                         holding the programs, the headers, the libraries and
#                         the CMake package, depending on the shared libraries
#                         they load; its programs run from the unpacked tree.
set -euo pipefail

case_name=$1 source_dir=$2 build_dir=$3 cmake=$4 cpack=$5 generator=$6 cxx=$7
launcher=${8:-}

work=$build_dir/tests/package/$case_name
rm -rf "$work"
mkdir -p "$work"
# Stores live in a short path: the doorbell is a Unix socket in the store.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/procman-package.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
  echo "FAIL: $*" >&2
  echo "(the work is in $work)" >&2
  exit 1
}

# Configures and builds a CMake project; its output goes to a log that is
# shown when it fails.
build_project() {
  local src=$1 bin=$2 log=$3
  shift 3
  if ! { "$cmake" -S "$src" -B "$bin" -G "$generator" \
           -DCMAKE_CXX_COMPILER="$cxx" \
           ${launcher:+-DCMAKE_CXX_COMPILER_LAUNCHER="$launcher"} "$@" \
         && "$cmake" --build "$bin" -j1 --target "$target"; } >"$log" 2>&1; then
    cat "$log" >&2
    fail "building $src against procman failed"
  fi
}

# Runs the example host program on a fresh store and checks that it used
# the executor in $1 and that its process finished.
run_host() {
  local program=$1 expected_exec=$2
  local out=$work/host.out err=$work/host.err
  local rc=0
  env -u PROCMAN_EXEC "$program" "$tmp/store" >"$out" 2>"$err" || rc=$?
  if ((rc != 0)); then
    cat "$err" >&2
    fail "$program exited with code $rc"
  fi
  grep -qx "executor $expected_exec" "$err" \
    || { cat "$err" >&2; fail "the engine did not choose $expected_exec"; }
  grep -q '"status":"finished"' "$out" \
    || { cat "$out" >&2; fail "the example process did not finish"; }
  grep -q '"approved_by":"example-host"' "$out" \
    || { cat "$out" >&2; fail "the example process was not approved"; }
  echo "$program: $(cat "$out")"
}

expect_files() {
  local root=$1
  shift
  for f in "$@"; do
    [[ -e "$root/$f" ]] || fail "$f is missing under $root"
  done
}

case $case_name in
install_find_package)
  prefix=$work/prefix
  "$cmake" --install "$build_dir" --prefix "$prefix" >"$work/install.log" 2>&1 \
    || { cat "$work/install.log" >&2; fail "cmake --install failed"; }
  expect_files "$prefix" bin/procman bin/procman-runner bin/procman-exec \
    libexec/procman/procman-remote \
    lib/libprocman.a lib/libprocman_local.a lib/libprocman_steps.a \
    lib/libprocman_base.a \
    include/procman/engine/engine.hpp include/procman/door/door.hpp \
    include/procman/messages/fwd.hpp include/procman/steps/step.hpp \
    lib/cmake/procman/procmanConfig.cmake \
    lib/cmake/procman/procmanConfigVersion.cmake \
    share/doc/procman/LICENSE share/doc/procman/README.md \
    share/doc/procman/embedding.md share/doc/procman/usage.md \
    share/man/man1/procman.1 share/man/man1/procman-runner.1 \
    share/bash-completion/completions/procman \
    share/bash-completion/completions/procman-runner
  # (roff writes a dash as \-)
  grep -qF -- '\-\-connect' "$prefix/share/man/man1/procman.1" \
    || fail "procman.1 does not describe --connect"
  grep -qF -- '\-\-ready\-fd' "$prefix/share/man/man1/procman-runner.1" \
    || fail "procman-runner.1 does not describe --ready-fd"
  [[ ! -e "$prefix/include/procman/apps" ]] || fail "apps/ headers installed"
  # A local command loads no CAF, OpenSSL or shared libstdc++: procman
  # leaves them to libexec/procman/procman-remote (docs/performance.md,
  # "A local command").
  needed=$(readelf -d "$prefix/bin/procman" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  for lib in libcaf libssl libcrypto libstdc++ libboost; do
    [[ "$needed" != *"$lib"* ]] || fail "bin/procman needs $lib: $needed"
  done
  [[ "$(readelf -d "$prefix/libexec/procman/procman-remote")" == *libcaf_io* ]] \
    || fail "procman-remote does not link CAF's io module"
  # Public headers only: the internals stay in the build.
  for internal in actors/supervisor.hpp persistence/store.hpp \
                  lifecycle/machine.hpp children/child_service.hpp \
                  messages/json.hpp protocol/executor_report.hpp; do
    [[ ! -e "$prefix/include/procman/$internal" ]] \
      || fail "the internal header $internal is installed"
  done
  # Every header a installed header includes is installed.
  missing=$(cd "$prefix/include" \
    && grep -ho '#include "procman/[^"]*"' -r procman \
    | sed 's/#include "\(.*\)"/\1/' | sort -u \
    | while read -r h; do [[ -f "$h" ]] || echo "$h"; done)
  [[ -z "$missing" ]] || fail "installed headers include what is not installed: $missing"

  target=procman-example-host
  build_project "$source_dir/examples/host" "$work/host" "$work/host.log" \
    -DCMAKE_PREFIX_PATH="$prefix"
  grep -q "procman_DIR:PATH=$prefix/lib/cmake/procman" "$work/host/CMakeCache.txt" \
    || fail "find_package(procman) did not find the installed package"
  run_host "$work/host/procman-example-host" "$prefix/bin/procman-exec"

  target=static-host
  build_project "$source_dir/tests/package/static_host" "$work/static" \
    "$work/static.log" -DCMAKE_PREFIX_PATH="$prefix"
  chosen=$(env -u PROCMAN_EXEC "$work/static/static-host")
  [[ "$chosen" == "$prefix/bin/procman-exec" ]] \
    || fail "a program linking procman through a static library chose $chosen"
  ;;

add_subdirectory)
  target=subdir-host
  build_project "$source_dir/tests/package/subdir_host" "$work/host" \
    "$work/host.log" -DPROCMAN_SOURCE="$source_dir"
  expect_files "$work/host" procman/bin/procman-exec
  [[ ! -e "$work/host/procman/tests" ]] || fail "procman's tests were configured"
  run_host "$work/host/subdir-host" "$work/host/procman/bin/procman-exec"
  ;;

deb)
  (cd "$work" && "$cpack" -G DEB --config "$build_dir/CPackConfig.cmake" \
     -B "$work/deb") >"$work/cpack.log" 2>&1 \
    || { cat "$work/cpack.log" >&2; fail "cpack -G DEB failed"; }
  debs=("$work"/deb/procman_*.deb)
  [[ -f "${debs[0]}" ]] || { cat "$work/cpack.log" >&2; fail "no .deb made"; }
  deb=${debs[0]}
  echo "made $(basename "$deb")"
  dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./||' >"$work/contents"
  for f in usr/bin/procman usr/bin/procman-runner usr/bin/procman-exec \
           usr/libexec/procman/procman-remote \
           usr/include/procman/engine/engine.hpp \
           usr/include/procman/messages/types.hpp \
           usr/lib/libprocman.a usr/lib/cmake/procman/procmanConfig.cmake \
           usr/lib/cmake/procman/procmanTargets.cmake \
           usr/share/doc/procman/LICENSE usr/share/man/man1/procman.1 \
           usr/share/man/man1/procman-runner.1 \
           usr/share/bash-completion/completions/procman; do
    grep -qx "$f" "$work/contents" || fail "$f is not in $(basename "$deb")"
  done
  [[ $(dpkg-deb -f "$deb" Package) == procman ]] || fail "package name"
  depends=$(dpkg-deb -f "$deb" Depends)
  for p in libcaf-core0.17 libcaf-io0.17 libcaf-openssl0.17 liblmdb0 \
           libboost-json1.81.0 libssl3; do
    [[ "$depends" == *"$p "* || "$depends" == *"$p," || "$depends" == *"$p" ]] \
      || fail "Depends does not name $p: $depends"
  done
  dpkg-deb -f "$deb" Description | grep -q "GPL-3.0-only" \
    || fail "the description does not name the license"
  # The packaged (stripped) programs work: a process started with the CLI
  # is run by the runner with the procman-exec beside it.
  dpkg-deb -x "$deb" "$work/root"
  bin=$work/root/usr/bin store=$tmp/store
  pid=$("$bin/procman" --store "$store" start "$source_dir/examples/hello.json") \
    || fail "the packaged procman start failed"
  env -u PROCMAN_EXEC "$bin/procman-runner" --store "$store" \
    >"$work/runner.log" 2>&1 \
    || { cat "$work/runner.log" >&2; fail "the packaged procman-runner failed"; }
  out=$("$bin/procman" --store "$store" status "$pid")
  [[ "$out" == *'"status":"finished"'* ]] || fail "the packaged run ended: $out"
  # procman runs the packaged libexec/procman/procman-remote for replay
  # (and --connect): the store's own log replays clean.
  "$bin/procman" --store "$store" log export >"$work/store.jsonl" \
    || fail "the packaged procman log export failed"
  "$bin/procman" replay "$work/store.jsonl" >"$work/replay.out" 2>&1 \
    || { cat "$work/replay.out" >&2; fail "the packaged procman replay failed"; }
  ;;

*)
  fail "unknown case $case_name"
  ;;
esac
rm -rf "$work"
echo "package.$case_name: ok"
