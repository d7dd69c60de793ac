// The executor's system layer on Windows (exec_system.hpp).
//
// The executor joins a Job Object of its own (kill-on-close) before any
// step runs; the commands its steps start (platform::run_command) and
// whatever they start join it too. Ending the tree is terminating that
// job; when the executor dies however it dies, its handle closes and the
// job ends the rest. The runner's own Job Object for the executor holds
// this one (jobs nest), so the runner's kill or death ends both.
//
// There is no fork server: `--serve` is refused.

#include <cstdio>
#include <memory>
#include <vector>

// windows.h (through win.hpp) before the headers that need its types.
// clang-format off
#include "procman/platform/windows/win.hpp"
#include <fcntl.h>
#include <io.h>
#include <tlhelp32.h>
// clang-format on

#include "procman/platform/termination.hpp"

#include "exec_system.hpp"
#include "executor.hpp"

namespace procman::exec {

const bool fork_server_available = false;

int serve_main(int, char**) {
  std::fprintf(stderr,
               "procman-exec: --serve (the fork server) is not available on "
               "Windows, which has no fork: the runner starts one "
               "procman-exec per process (--executor spawn)\n");
  return 2;
}

namespace sys {

namespace {

HANDLE own_job = nullptr; // the executor's Job Object; null: none
std::unique_ptr<platform::termination_watch> watch;

// A private, non-inheritable duplicate of the descriptor `fd`; -1 if none.
int private_copy(int fd) {
  int copy = _dup(fd);
  if (copy < 0)
    return -1;
  auto h = reinterpret_cast<HANDLE>(_get_osfhandle(copy));
  if (h != INVALID_HANDLE_VALUE)
    SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0);
  return copy;
}

// Replaces descriptor `fd` (and the standard handle `which`) by the null
// device, opened with `flags`.
void null_device_on(int fd, DWORD which, int flags) {
  int null_fd = _open("NUL", flags | _O_BINARY);
  if (null_fd < 0)
    return;
  _dup2(null_fd, fd);
  _close(null_fd);
  SetStdHandle(which, reinterpret_cast<HANDLE>(_get_osfhandle(fd)));
}

} // namespace

void prepare() {
  // Reports, the work and the acknowledgements are bytes: no CR added or
  // taken away.
  for (int fd : {0, 1, 2})
    _setmode(fd, _O_BINARY);
  // A job of its own: kill-on-close, and no error dialog that would keep a
  // crashed process (and the tree) alive. Without one (an old system that
  // cannot nest jobs) the runner's job still holds the tree.
  if (auto job = platform::win::kill_on_close_job();
      job && AssignProcessToJobObject(job.get(), GetCurrentProcess()))
    own_job = job.release();
  // Stop requests (the stop event, Ctrl+C, Ctrl+Break, the console
  // closing) end the tree, as SIGTERM does on POSIX.
  watch = std::make_unique<platform::termination_watch>([](const std::string&) {
    if (!ending.exchange(true))
      kill_all_and_exit(128 + 15);
  });
}

outcome<int> take_report_channel() {
  int report_fd = private_copy(1);
  if (report_fd < 0)
    return failure{errc::invalid_argument, "no standard output"};
  if (_dup2(2, 1) == 0)
    SetStdHandle(STD_OUTPUT_HANDLE, GetStdHandle(STD_ERROR_HANDLE));
  else
    null_device_on(1, STD_OUTPUT_HANDLE, _O_WRONLY);
  return report_fd;
}

bool parent_is(long parent) {
  // The runner's Job Object ends the executor with the runner; here only
  // whether the parent is still the one that started it, and alive.
  DWORD recorded = 0;
  HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (snap != INVALID_HANDLE_VALUE) {
    PROCESSENTRY32W entry{};
    entry.dwSize = sizeof(entry);
    auto self = GetCurrentProcessId();
    for (bool more = Process32FirstW(snap, &entry); more;
         more = Process32NextW(snap, &entry))
      if (entry.th32ProcessID == self) {
        recorded = entry.th32ParentProcessID;
        break;
      }
    CloseHandle(snap);
  }
  if (recorded != static_cast<DWORD>(parent))
    return false;
  HANDLE h = OpenProcess(SYNCHRONIZE, FALSE, recorded);
  if (h == nullptr)
    return GetLastError() == ERROR_ACCESS_DENIED;
  bool alive = WaitForSingleObject(h, 0) == WAIT_TIMEOUT;
  CloseHandle(h);
  return alive;
}

int take_ack_channel() {
  int ack_fd = private_copy(0);
  null_device_on(0, STD_INPUT_HANDLE, _O_RDONLY);
  return ack_fd;
}

void lead_own_group() {
  // nop: the executor's job holds its tree
}

void kill_all_and_exit(int code, bool) {
  if (own_job != nullptr)
    TerminateJobObject(own_job, static_cast<UINT>(code)); // includes us
  TerminateProcess(GetCurrentProcess(), static_cast<UINT>(code));
  for (;;)
    Sleep(INFINITE);
}

void end_descendants() {
  if (own_job == nullptr)
    return;
  // Every process of the job but the executor, terminated and waited for
  // (2 s at most, as on POSIX).
  std::vector<char> buf(sizeof(JOBOBJECT_BASIC_PROCESS_ID_LIST)
                        + 4096 * sizeof(ULONG_PTR));
  auto list = reinterpret_cast<JOBOBJECT_BASIC_PROCESS_ID_LIST*>(buf.data());
  if (!QueryInformationJobObject(own_job, JobObjectBasicProcessIdList, list,
                                 static_cast<DWORD>(buf.size()), nullptr)
      && GetLastError() != ERROR_MORE_DATA)
    return;
  auto self = GetCurrentProcessId();
  std::vector<HANDLE> ended;
  for (DWORD i = 0; i < list->NumberOfProcessIdsInList; ++i) {
    auto pid = static_cast<DWORD>(list->ProcessIdList[i]);
    if (pid == self)
      continue;
    HANDLE h = OpenProcess(PROCESS_TERMINATE | SYNCHRONIZE, FALSE, pid);
    if (h == nullptr)
      continue;
    TerminateProcess(h, 1);
    ended.push_back(h);
  }
  for (auto h : ended) {
    WaitForSingleObject(h, 2000);
    CloseHandle(h);
  }
}

void stderr_nonblocking() {
  // A pipe's writes return at once (what fits) rather than wait for a
  // reader; on anything else this fails and changes nothing.
  DWORD mode = PIPE_READMODE_BYTE | PIPE_NOWAIT;
  SetNamedPipeHandleState(GetStdHandle(STD_ERROR_HANDLE), &mode, nullptr,
                          nullptr);
}

} // namespace sys

} // namespace procman::exec
