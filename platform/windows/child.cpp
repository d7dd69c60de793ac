#include "procman/platform/child.hpp"

#include <algorithm>
#include <memory>

#include "procman/platform/command.hpp"
#include "procman/platform/paths.hpp"
#include "procman/platform/termination.hpp"

#include "win.hpp"

namespace procman::platform {

namespace {

HANDLE as_handle(intptr_t h) {
  return reinterpret_cast<HANDLE>(h);
}

} // namespace

// -- pipe_end
// -------------------------------------------------------------------------

std::ptrdiff_t pipe_end::read(void* buf, size_t size) {
  DWORD got = 0;
  auto chunk = static_cast<DWORD>(std::min<size_t>(size, 1u << 30));
  if (ReadFile(as_handle(handle_), buf, chunk, &got, nullptr))
    return static_cast<std::ptrdiff_t>(got);
  return GetLastError() == ERROR_BROKEN_PIPE ? 0 : -1;
}

bool pipe_end::write(const void* buf, size_t size) {
  auto p = static_cast<const char*>(buf);
  while (size > 0) {
    DWORD put = 0;
    auto chunk = static_cast<DWORD>(std::min<size_t>(size, 1u << 30));
    if (!WriteFile(as_handle(handle_), p, chunk, &put, nullptr))
      return false;
    p += put;
    size -= put;
  }
  return true;
}

void pipe_end::close() {
  if (handle_ != -1)
    CloseHandle(as_handle(handle_));
  handle_ = -1;
}

// -- contained_child
// ---------------------------------------------------------------

struct contained_child::impl {
  win::handle job;
  win::handle process;
  DWORD pid = 0;
  pipe_end in;
  pipe_end out;
  pipe_end err;
  bool killed = false;
};

outcome<contained_child> contained_child::start(const child_options& opts) {
  if (opts.argv.empty() || opts.argv[0].empty())
    return failure{errc::spawn_failure, "no program to start"};
  auto& prog = opts.argv[0];
  auto spawn_failed = [&](const std::string& why) {
    return failure{errc::spawn_failure, "cannot start " + prog + ": " + why};
  };
  auto p = std::make_unique<impl>();
  // The job: every process the child starts joins it, none may leave it,
  // and closing its last handle ends them all.
  p->job = win::kill_on_close_job();
  if (!p->job)
    return failure{errc::containment_failure,
                   "cannot create a job object: " + win::last_error_text()};
  // The child's standard handles: pipes, the null device, or ours.
  win::handle child_in, child_out, child_err, parent_in, parent_out, parent_err;
  // A pipe into `child` and `parent` (the child reads when `child_reads`).
  auto pipe_into = [&](win::handle& child, win::handle& parent,
                       bool child_reads) -> failure {
    auto pipe = win::make_pipe(child_reads);
    if (!pipe)
      return spawn_failed(pipe.error().context);
    child = std::move(pipe->child);
    parent = std::move(pipe->parent);
    return {};
  };
  if (!opts.stdin_pipe)
    child_in = win::null_input();
  else if (auto refused = pipe_into(child_in, parent_in, true))
    return refused;
  if (!opts.stdout_pipe)
    child_out = win::inheritable_std(STD_OUTPUT_HANDLE);
  else if (auto refused = pipe_into(child_out, parent_out, false))
    return refused;
  if (!opts.stderr_pipe)
    child_err = win::inheritable_std(STD_ERROR_HANDLE);
  else if (auto refused = pipe_into(child_err, parent_err, false))
    return refused;
  auto env = this_environment();
  env.insert(env.end(), opts.env.begin(), opts.env.end());
  win::process_start start;
  start.command_line = win::command_line(opts.argv);
  start.environment = win::environment_block(env);
  start.cwd = win::widen(opts.cwd);
  start.in = child_in.get();
  start.out = child_out.get();
  start.err = child_err.get();
  // Suspended until it is in the job; a console process group of its own
  // (Ctrl+Break reaches it alone).
  start.flags = CREATE_SUSPENDED | CREATE_NEW_PROCESS_GROUP;
  auto pi = win::create_process(start);
  if (!pi)
    return spawn_failed(pi.error().context);
  win::handle thread{pi->hThread};
  p->process.reset(pi->hProcess);
  p->pid = pi->dwProcessId;
  if (!AssignProcessToJobObject(p->job.get(), p->process.get())) {
    auto why = win::last_error_text();
    TerminateProcess(p->process.get(), 1);
    WaitForSingleObject(p->process.get(), INFINITE);
    return failure{errc::containment_failure,
                   "cannot put " + prog + " into a job object: " + why};
  }
  ResumeThread(thread.get());
  p->in = pipe_end{reinterpret_cast<intptr_t>(parent_in.release())};
  p->out = pipe_end{reinterpret_cast<intptr_t>(parent_out.release())};
  p->err = pipe_end{reinterpret_cast<intptr_t>(parent_err.release())};
  return contained_child{p.release()};
}

contained_child::~contained_child() {
  if (impl_ == nullptr)
    return;
  // Closing the job's last handle would end the tree as well; terminating
  // first lets the wait below see the child end.
  TerminateJobObject(impl_->job.get(), 1);
  WaitForSingleObject(impl_->process.get(), INFINITE);
  delete impl_;
  impl_ = nullptr;
}

int contained_child::pid() const {
  return static_cast<int>(impl_->pid);
}

pipe_end& contained_child::in() {
  return impl_->in;
}

pipe_end& contained_child::out() {
  return impl_->out;
}

pipe_end& contained_child::err() {
  return impl_->err;
}

void contained_child::kill_tree() {
  if (WaitForSingleObject(impl_->process.get(), 0) == WAIT_TIMEOUT)
    impl_->killed = true;
  TerminateJobObject(impl_->job.get(), 1);
}

void contained_child::request_stop() {
  platform::request_stop(static_cast<int>(impl_->pid));
}

std::optional<child_exit>
contained_child::wait_for(std::chrono::milliseconds timeout) {
  auto ms = timeout.count() < 0 ? 0 : static_cast<DWORD>(timeout.count());
  if (WaitForSingleObject(impl_->process.get(), ms) != WAIT_OBJECT_0)
    return std::nullopt;
  DWORD code = 0;
  GetExitCodeProcess(impl_->process.get(), &code);
  child_exit result;
  result.code = static_cast<int>(code);
  result.signal = impl_->killed ? 9 : 0;
  return result;
}

bool contained_child::tree_alive() const {
  JOBOBJECT_BASIC_ACCOUNTING_INFORMATION info{};
  if (!QueryInformationJobObject(impl_->job.get(),
                                 JobObjectBasicAccountingInformation, &info,
                                 sizeof(info), nullptr))
    return WaitForSingleObject(impl_->process.get(), 0) == WAIT_TIMEOUT;
  return info.ActiveProcesses > 0;
}

bool tree_ends_with_owner() {
  return true;
}

bool process_alive(int pid) {
  win::handle h{OpenProcess(SYNCHRONIZE, FALSE, static_cast<DWORD>(pid))};
  if (!h)
    return GetLastError() == ERROR_ACCESS_DENIED;
  return WaitForSingleObject(h.get(), 0) == WAIT_TIMEOUT;
}

bool kill_process(int pid) {
  win::handle h{OpenProcess(PROCESS_TERMINATE, FALSE, static_cast<DWORD>(pid))};
  return h && TerminateProcess(h.get(), 1);
}

} // namespace procman::platform
