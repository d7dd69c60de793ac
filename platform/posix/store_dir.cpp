// The store directory on POSIX: persistence/store_directory's checks
// behind the platform interface (built into procman_local with them).

#include "procman/platform/store_dir.hpp"

#include <cerrno>
#include <cstdlib>

#include <sys/stat.h>

#include "procman/persistence/store_directory.hpp"
#include "procman/platform/paths.hpp"

namespace procman::platform {

std::string default_store_dir() {
  if (auto v = std::getenv("XDG_STATE_HOME"); v && *v)
    return std::string(v) + "/procman";
  if (auto v = std::getenv("HOME"); v && *v)
    return std::string(v) + "/.local/state/procman";
  return {};
}

failure create_private_dir(const std::string& dir) {
  return create_store_dir(dir);
}

failure check_private_dir(const std::string& dir) {
  struct stat sb;
  if (::stat(dir.c_str(), &sb) != 0)
    return make_failure(errc::store_access,
                        "cannot read store " + dir + ": " + error_text(errno));
  return check_store_dir(dir, sb);
}

} // namespace procman::platform
