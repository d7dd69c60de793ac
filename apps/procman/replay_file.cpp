// `procman replay`, carried out where the engine is linked: procman-remote
// on Linux (the lean CLI runs it, apps/procman/remote.hpp), procman.exe
// itself on Windows.

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "procman/apps/procman/remote.hpp"
#include "procman/logging/logger.hpp"
#include "procman/replay/replay.hpp"

namespace procman::cli {

int replay_file(const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path);
    if (!file) {
      std::cerr << "procman: cannot read log " << path << ": "
                << std::strerror(errno) << "\n";
      return 1;
    }
    in = &file;
  }
  auto read = read_log(*in);
  if (!read) {
    std::cerr << "procman: " << path << ": " << read.error().context << "\n";
    return 1;
  }
  // The engine's own log lines would drown the verdict; refusals stay.
  logger::set_level(log_level::error);
  auto report = replay_log(*read);
  if (report.ok()) {
    std::cout << describe(report) << "\n";
    return 0;
  }
  std::cerr << describe(report) << "\n";
  return 1;
}

} // namespace procman::cli
