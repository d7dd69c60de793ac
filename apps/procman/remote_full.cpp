// procman-remote: --connect carried out here (apps/procman/remote.hpp);
// `replay` is replay_file.cpp's.

#include <iostream>

#include "procman/apps/procman/remote.hpp"
#include "procman/door/remote_backend.hpp"
#include "procman/messages/error.hpp"

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

} // namespace procman::cli
