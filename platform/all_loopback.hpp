// Internal to platform/: whether every address of a getaddrinfo answer is
// a loopback one, for is_loopback_host (system.hpp). A template over the
// answer's type (addrinfo on POSIX, addrinfoW on Windows), included after
// the system's socket headers.

#pragma once

namespace procman::platform::detail {

/// Whether every address in the list `res` is in 127.0.0.0/8 or ::1.
template <class AddrInfo>
bool all_loopback(const AddrInfo* res) {
  for (auto* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_family == AF_INET) {
      auto addr = ntohl(
        reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr.s_addr);
      if ((addr >> 24) != 127)
        return false;
    } else if (ai->ai_family == AF_INET6) {
      auto& a6 = reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr;
      if (!IN6_IS_ADDR_LOOPBACK(&a6))
        return false;
    } else {
      return false;
    }
  }
  return true;
}

} // namespace procman::platform::detail
