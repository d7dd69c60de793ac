// What a launcher without real children does (the replay harness, the
// actor tests): child_service (POSIX and Windows) overrides these.

#include "procman/children/executor_launcher.hpp"

namespace procman {

executor_launcher::~executor_launcher() = default;

void executor_launcher::write_input(int, std::string) {
  // nop: launchers without real children have no stdin to write
}

bool executor_launcher::has_timers() const {
  return false;
}

int64_t executor_launcher::lease_until() const {
  return 0;
}

void executor_launcher::call_after(int, std::chrono::milliseconds,
                                   std::function<void()>) {
  // nop: see has_timers
}

} // namespace procman
