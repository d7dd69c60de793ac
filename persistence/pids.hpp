// Process ids.

#pragma once

#include <string>

namespace procman {

/// Generates a fresh pid: 32 lowercase hex characters, the creation time
/// in unix milliseconds (48 bits) followed by 80 bits from getrandom():
/// unguessable, and ordered by creation so that the pid-keyed indexes
/// grow at their ends.
std::string make_pid();

} // namespace procman
