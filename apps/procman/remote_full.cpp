// procman-remote: --connect and `replay` carried out here
// (apps/procman/remote.hpp).

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>

#include "procman/apps/procman/remote.hpp"
#include "procman/door/remote_backend.hpp"
#include "procman/logging/logger.hpp"
#include "procman/messages/error.hpp"
#include "procman/replay/replay.hpp"

namespace procman::cli {

void remember_arguments(int, char**) {
  // nop: nothing is run again
}

outcome<door> connect_remote(const remote_target& target) {
  auto hp = parse_host_port(target.where, target.what);
  if (!hp)
    return make_failure(errc::invalid_argument, render(hp.error()));
  remote_door_options o;
  std::tie(o.host, o.port) = *hp;
  o.tls = {target.cert, target.key, target.ca};
  o.on_retry = [](const std::string& what) {
    std::cerr << "procman: warning: " << what << "\n";
  };
  return to_outcome(connect_door(o));
}

std::optional<failure> run_with_libssl() {
  return std::nullopt;
}

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
