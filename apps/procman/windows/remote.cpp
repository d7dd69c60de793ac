// procman on Windows: --connect is not available yet (remote/ does not
// build there, docs/windows.md); `procman web` with HTTPS and `replay`
// (replay_file.cpp) need no second program: procman.exe links them.

#include "procman/apps/procman/remote.hpp"

namespace procman::cli {

void remember_arguments(int, char**) {}

outcome<door> connect_remote(const remote_target& target) {
  return make_failure(errc::invalid_argument,
                      target.what + " " + target.where
                        + ": store nodes cannot be reached from Windows yet "
                          "(remote nodes run on Linux only, docs/windows.md); "
                          "use a local store (--store)");
}

std::optional<failure> run_with_libssl() {
  return std::nullopt;
}

} // namespace procman::cli
