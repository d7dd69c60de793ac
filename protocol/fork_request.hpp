// The fork server's wire format (`procman-exec --serve`,
// docs/protocol.md#fork-server), between the runner's child service and
// the server, on a Unix SOCK_SEQPACKET socket (one message each, no
// framing needed). Header-only, no CAF.
//
//   runner -> server   request: "<procman pid>\0<cgroup dir or empty>\0",
//                      with the child's stdin, stdout and stderr as
//                      SCM_RIGHTS (three descriptors)
//   server -> runner   fork_reply{reply, pid, 0} (the child runs, as the
//                      runner's child) or fork_reply{reply, 0, errno};
//                      fork_reply{hello, server pid, 0} once the server is
//                      ready (at start and after each restart, when a step
//                      library changed on disk: then `err` is 1)

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace procman {

struct fork_reply {
  enum kind_t : int32_t { hello = 1, reply = 2 };
  int32_t kind = reply;
  int32_t pid = 0; ///< the child's (reply) or the server's (hello)
  int32_t err = 0; ///< reply: errno when no child was started; hello: 1
                   ///< after a restart for a changed step library
};

struct fork_request {
  std::string pid;    ///< PROCMAN_PID of the child
  std::string cgroup; ///< its cgroup v2 directory, or ""

  std::string encode() const {
    std::string out = pid;
    out += '\0';
    out += cgroup;
    out += '\0';
    return out;
  }

  /// The request `encode` wrote, or nothing when `text` is not one.
  static std::optional<fork_request> decode(const char* text, size_t n) {
    std::string_view s(text, n);
    auto a = s.find('\0');
    if (a == std::string_view::npos)
      return std::nullopt;
    auto b = s.find('\0', a + 1);
    if (b == std::string_view::npos || b + 1 != s.size())
      return std::nullopt;
    return fork_request{std::string{s.substr(0, a)},
                        std::string{s.substr(a + 1, b - a - 1)}};
  }
};

} // namespace procman
