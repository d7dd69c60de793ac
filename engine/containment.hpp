// What the engine asks of the system about its executors, implemented per
// system and chosen by the build: cgroups and a child subreaper on Linux
// (engine/containment.cpp), a Job Object per executor on Windows
// (engine/windows/containment.cpp, which children/windows/child_service
// makes).

#pragma once

#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "procman/children/child_service.hpp"
#include "procman/engine/engine.hpp"

namespace procman {

/// Sets up how executors are contained (`opts.containment`,
/// `opts.reap_orphans`), logs it once ("containment: ..."), and returns
/// the child service that starts them.
caf::expected<std::shared_ptr<child_service>>
start_child_service(const engine_options& opts);

/// The containment asked for: `opts.containment`, else
/// $PROCMAN_CONTAINMENT, else "auto"; an error unless it is auto, cgroup or
/// subreaper (engine/engine.cpp).
caf::expected<std::string> containment_mode(const engine_options& opts);

/// The directory of procman-exec compiled into the program that embeds
/// procman (cmake/procman_exec_dir.cpp.in), or nullptr when it has none.
const char* embedded_exec_dir();

} // namespace procman
