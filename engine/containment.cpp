// Linux's containment of executors: a cgroup v2 per executor where the
// runner may create them, else the process tree and group; the runner a
// child subreaper (docs/architecture.md, "Containment").

#include "procman/engine/containment.hpp"

#include <cerrno>
#include <cstring>

#include "procman/children/executor_cgroups.hpp"
#include "procman/children/process_tree.hpp"
#include "procman/logging/logger.hpp"
#include "procman/messages/error.hpp"

// The directory of procman-exec that CMake compiles into a program linking
// procman::procman (cmake/procman_exec_dir.cpp.in): the installed bin/ for
// find_package(procman), procman's build tree for add_subdirectory(). Weak:
// a program built otherwise has none, and the address is then null.
extern "C" const char* const procman_exec_dir __attribute__((weak));

namespace procman {

// Logs "containment: cgroup v2 at <dir>" or "containment: subreaper (<why>)".
caf::expected<std::shared_ptr<child_service>>
start_child_service(const engine_options& opts) {
  auto chosen = containment_mode(opts);
  if (!chosen)
    return chosen.error();
  auto& mode = *chosen;
  std::unique_ptr<executor_cgroups> cgroups;
  std::string why = "PROCMAN_CONTAINMENT=subreaper";
  if (mode != "subreaper") {
    auto created = executor_cgroups::create();
    if (created) {
      cgroups = std::move(*created);
      if (auto removed = cgroups->removed_at_start(); removed > 0)
        log_warn("", "removed the cgroups of " + std::to_string(removed)
                       + " dead runners, killing what was left in them");
    } else {
      why = render(created.error());
    }
  }
  if (!cgroups && mode == "cgroup")
    return make_error(errc::invalid_argument,
                      "containment cgroup is not possible here: " + why);
  if (opts.reap_orphans && !become_subreaper())
    log_warn("", std::string("cannot become a child subreaper: ")
                   + std::strerror(errno));
  if (cgroups)
    log_info("", "containment: cgroup v2 at " + cgroups->dir());
  else
    log_info("", "containment: subreaper (" + why + ")");
  return std::make_shared<child_service>(std::move(cgroups), opts.reap_orphans);
}

const char* embedded_exec_dir() {
  return &procman_exec_dir != nullptr ? procman_exec_dir : nullptr;
}

} // namespace procman
