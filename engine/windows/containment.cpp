// Windows's containment of executors: children/windows/child_service
// starts each executor suspended in a Job Object of its own
// (kill-on-close), so a timeout, a cancel and the runner's death end its
// whole tree. There are no cgroups and no subreaper to set up, and no
// embedding directory compiled in (PE/COFF has no weak undefined symbols):
// the executor is found beside the running program or in PATH.

#include "procman/engine/containment.hpp"

#include "procman/logging/logger.hpp"
#include "procman/messages/error.hpp"

namespace procman {

caf::expected<std::shared_ptr<child_service>>
start_child_service(const engine_options& opts) {
  auto mode = containment_mode(opts);
  if (!mode)
    return mode.error();
  if (*mode != "auto")
    return make_error(errc::invalid_argument,
                      "containment " + *mode
                        + " is not possible here: Windows contains each "
                          "executor in a Job Object (use auto)");
  log_info("", "containment: a Job Object per executor");
  return std::make_shared<child_service>();
}

const char* embedded_exec_dir() {
  return nullptr;
}

} // namespace procman
