#include "procman/apps/procman/run_tree.hpp"

#include "procman/platform/windows/win.hpp"

namespace procman::cli {

namespace {

/// The run's Job Object: never closed by hand, so that it ends everything
/// in it when the CLI ends, however it ends (Ctrl+C's default handler
/// included).
HANDLE run_job = nullptr;

} // namespace

void hold_run_tree() {
  if (auto job = platform::win::kill_on_close_job();
      job && AssignProcessToJobObject(job.get(), GetCurrentProcess()))
    run_job = job.release();
}

void end_run_tree() {
  // The job ends what is left when the CLI exits (kill-on-close); the
  // output is printed before that.
}

} // namespace procman::cli
