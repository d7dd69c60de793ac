// procman: --connect and `replay` by running procman-remote with the same
// arguments (apps/procman/remote.hpp).

#include "procman/apps/procman/remote.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <iostream>
#include <vector>

#include <unistd.h>

namespace procman::cli {

namespace {

std::vector<char*> arguments;

/// Runs procman-remote in place of this program: it lies in
/// ../libexec/procman/ from this program's folder, in the build tree as
/// once installed. Returns only when it cannot be run.
failure run_full_cli() {
  char self[PATH_MAX];
  auto n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0)
    return make_failure(
      errc::connect_failure,
      std::string("cannot find this program (/proc/self/exe): ")
        + std::strerror(errno));
  std::string exe(self, static_cast<size_t>(n));
  auto path = exe.substr(0, exe.rfind('/'))
              + "/../libexec/procman/procman-remote";
  std::cout.flush();
  std::vector<char*> argv = arguments;
  argv.push_back(nullptr);
  execv(path.c_str(), argv.data());
  return make_failure(errc::connect_failure, "cannot run " + path
                                               + " (it reaches store nodes and "
                                                 "replays logs): "
                                               + std::strerror(errno));
}

} // namespace

void remember_arguments(int argc, char** argv) {
  arguments.assign(argv, argv + argc);
}

outcome<door> connect_remote(const remote_target&) {
  return run_full_cli();
}

std::optional<failure> run_with_libssl() {
  return run_full_cli();
}

int replay_file(const std::string&) {
  auto f = run_full_cli();
  std::cerr << "procman: " << render(f) << "\n";
  return 1;
}

} // namespace procman::cli
