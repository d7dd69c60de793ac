// --ready-fd on Windows: not yet. A descriptor number means nothing to a
// Windows parent; its twin would be an inherited handle or a named event
// (docs/windows.md). The option is refused by name with exit code 2.

#include "../ready.hpp"

#include "procman/messages/error.hpp"

namespace procman {

ready_signal::ready_signal(ready_signal&& other) noexcept
  : fd_(other.fd_.exchange(-1)) {}

ready_signal& ready_signal::operator=(ready_signal&& other) noexcept {
  fd_ = other.fd_.exchange(-1);
  return *this;
}

ready_signal::~ready_signal() = default;

caf::expected<ready_signal> ready_signal::open(const std::string&) {
  return make_error(errc::invalid_argument,
                    "option --ready-fd is not available on Windows yet "
                    "(docs/windows.md)");
}

void ready_signal::send(const std::string&) {
  // Never opened: nobody waits for the line.
}

} // namespace procman
