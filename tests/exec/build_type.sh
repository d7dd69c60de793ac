#!/usr/bin/env bash
# Builds procman-exec alone in another CMake build type, in a build
# directory of its own beside the tests' build, so that the executor tests
# can run against it (tests/CMakeLists.txt, exec.*.<type>):
#
#   tests/exec/build_type.sh TYPE SOURCE_DIR BUILD_DIR [CXX_COMPILER]
#
# A small build: procman-exec needs the step and protocol sources, not
# the CAF-based library.
set -euo pipefail
type=$1 src=$2 dir=$3 cxx=${4:-}
args=(-DCMAKE_BUILD_TYPE="$type" -DBUILD_TESTING=OFF -DPROCMAN_INSTALL=OFF)
[[ -n $cxx ]] && args+=(-DCMAKE_CXX_COMPILER="$cxx")
cmake -S "$src" -B "$dir" "${args[@]}" >/dev/null
cmake --build "$dir" --target procman-exec -j"$(nproc 2>/dev/null || echo 2)"
exe=$dir/bin/procman-exec
# What a Release build is about: no debug information to name frames with.
if [[ $type == Release ]] && readelf -S "$exe" | grep -q '\.debug_info'; then
  echo "build_type.sh: $exe has debug information in a Release build" >&2
  exit 1
fi
echo "build_type.sh: $type procman-exec at $exe"
