#include "procman/platform/system.hpp"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <netdb.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../all_loopback.hpp"

namespace procman::platform {

int this_process_id() {
  return static_cast<int>(getpid());
}

std::string this_program_path() {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/exe", ec).string();
}

std::string host_name() {
  char host[64] = "host";
  gethostname(host, sizeof(host) - 1);
  host[sizeof(host) - 1] = '\0';
  return host;
}

void random_bytes(unsigned char* buf, size_t size) {
  size_t got = 0;
  while (got < size) {
    auto n = getrandom(buf + got, size - got, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw std::system_error(errno, std::generic_category(), "getrandom");
    }
    got += static_cast<size_t>(n);
  }
}

std::string boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

bool is_loopback_host(const std::string& host) {
  if (host.empty())
    return false;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res)
    return false;
  bool all = detail::all_loopback(res);
  freeaddrinfo(res);
  return all;
}

} // namespace procman::platform
