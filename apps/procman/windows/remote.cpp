// procman on Windows: --connect and `replay` are not available yet (remote/
// does not build there, docs/windows.md); `procman web` with HTTPS needs no
// second program, the Windows CLI links its server with TLS.

#include "procman/apps/procman/remote.hpp"

#include <iostream>

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

int replay_file(const std::string&) {
  std::cerr << "procman: replay is not available on Windows yet "
               "(docs/windows.md)\n";
  return 2;
}

} // namespace procman::cli
