#include "procman/apps/procman/run_tree.hpp"

#include <windows.h>

namespace procman::cli {

namespace {

/// The run's Job Object: never closed by hand, so that it ends everything
/// in it when the CLI ends, however it ends (Ctrl+C's default handler
/// included).
HANDLE run_job = nullptr;

} // namespace

void hold_run_tree() {
  run_job = CreateJobObjectW(nullptr, nullptr);
  if (run_job == nullptr)
    return;
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
  limits.BasicLimitInformation.LimitFlags
    = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
      | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
  if (!SetInformationJobObject(run_job, JobObjectExtendedLimitInformation,
                               &limits, sizeof(limits))
      || !AssignProcessToJobObject(run_job, GetCurrentProcess())) {
    CloseHandle(run_job);
    run_job = nullptr;
  }
}

void end_run_tree() {
  // The job ends what is left when the CLI exits (kill-on-close); the
  // output is printed before that.
}

} // namespace procman::cli
