#pragma once

namespace caf {
class actor_system_config;
} // namespace caf

namespace procman {

/// Gives the runner's actor system its scheduler: CAF's work stealing
/// with one worker per two cores (the store actor, the child service's I/O
/// thread and the executors want the others), and CAF's clock, except that
/// an actor that ends wakes the clock's thread only if it set a timeout
/// that the clock keeps (docs/architecture.md, "The pipeline").
void use_runner_scheduler(caf::actor_system_config& cfg);

} // namespace procman
