// remote/accept_guard.hpp on Windows: no node is served from Windows yet
// (can_publish says why), so there are no listeners to guard. A Windows
// node joins a store node (--join) and reaches one (--connect), over
// connections it opens itself.

#include "procman/remote/accept_guard.hpp"

#include "procman/messages/error.hpp"
#include "procman/remote/remote.hpp"

namespace procman {

caf::error can_publish() {
  return make_error(
    errc::invalid_argument,
    "serving other nodes is not available on Windows yet: CAF names a "
    "connection by its socket, and Winsock may give a closed connection's "
    "socket to the next one before CAF has forgotten the old one, which "
    "loses answers (docs/windows.md); serve from a Linux node, which a "
    "Windows node can join with --join or reach with --connect");
}

} // namespace procman

namespace procman::detail {

expected_listener::expected_listener(const std::string&, uint16_t, peer_rule) {
  // nop: can_publish refuses every publish first
}

expected_listener::~expected_listener() {
  // nop
}

caf::error expected_listener::confirm(uint16_t) {
  return can_publish();
}

void accept_guard_linked() {
  // nop
}

} // namespace procman::detail
