#include "procman/platform/termination.hpp"

#include <memory>
#include <mutex>
#include <thread>

#include "win.hpp"

namespace procman::platform {

struct termination_watch::impl {
  std::function<void(const std::string&)> on_request;
  std::mutex calls; // one call at a time
  /// Set when the watch ends: the stop-event thread ends, and a console
  /// handler that holds the process open for the drain returns.
  win::handle finished{CreateEventW(nullptr, TRUE, FALSE, nullptr)};
  /// This process's stop event (request_stop).
  win::handle stop;
  std::thread stop_waiter;

  void call(const std::string& what) {
    std::lock_guard<std::mutex> guard{calls};
    on_request(what);
  }
};

namespace {

// "Local\procman-stop-<pid>": a process's stop event.
std::wstring stop_event_name(DWORD pid) {
  return L"Local\\procman-stop-" + std::to_wstring(pid);
}

// The watch of this process. The console handler runs on a thread Windows
// creates for each event: it keeps its own reference, so that a watch
// destroyed meanwhile stays alive until the handler is done with it.
std::mutex current_mutex;
std::shared_ptr<termination_watch::impl> current;

const char* event_text(DWORD type) {
  switch (type) {
    case CTRL_C_EVENT:
      return "Ctrl+C";
    case CTRL_BREAK_EVENT:
      return "Ctrl+Break";
    case CTRL_CLOSE_EVENT:
      return "console closed";
    case CTRL_LOGOFF_EVENT:
      return "logoff";
    case CTRL_SHUTDOWN_EVENT:
      return "shutdown";
    default:
      return "console event";
  }
}

BOOL WINAPI on_console_event(DWORD type) {
  std::shared_ptr<termination_watch::impl> watch;
  {
    std::lock_guard<std::mutex> guard{current_mutex};
    watch = current;
  }
  if (!watch)
    return FALSE; // the default: end the process
  watch->call(event_text(type));
  // Windows ends the process when this returns for these three: give the
  // program its drain (Windows' own limit still applies).
  if (type == CTRL_CLOSE_EVENT || type == CTRL_LOGOFF_EVENT
      || type == CTRL_SHUTDOWN_EVENT)
    WaitForSingleObject(watch->finished.get(), INFINITE);
  return TRUE;
}

} // namespace

bool request_stop(int pid) {
  auto id = static_cast<DWORD>(pid);
  win::handle stop{
    OpenEventW(EVENT_MODIFY_STATE, FALSE, stop_event_name(id).c_str())};
  if (stop)
    return SetEvent(stop.get()) != FALSE;
  // No watch there (yet): its console process group, as Ctrl+Break would.
  return GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, id) != FALSE;
}

void hold_termination_requests() {
  // nop: console events reach the handler whatever the threads do, and
  // the stop event is only created by a watch.
}

void ignore_broken_pipes() {
  // nop: Windows raises no signal for a write to a closed pipe or socket.
}

termination_watch::termination_watch(
  std::function<void(const std::string&)> on_request)
  : impl_(nullptr) {
  auto watch = std::make_shared<impl>();
  watch->on_request = std::move(on_request);
  // Auto-reset: each request_stop is one request. The default security of
  // this process's token: this user may set it.
  watch->stop.reset(CreateEventW(
    nullptr, FALSE, FALSE, stop_event_name(GetCurrentProcessId()).c_str()));
  if (watch->stop) {
    watch->stop_waiter = std::thread([w = watch.get()] {
      HANDLE events[] = {w->finished.get(), w->stop.get()};
      while (WaitForMultipleObjects(2, events, FALSE, INFINITE)
             == WAIT_OBJECT_0 + 1)
        w->call("stop request");
    });
  }
  {
    std::lock_guard<std::mutex> guard{current_mutex};
    current = watch;
  }
  impl_ = watch.get();
  // A process started in a new console process group ignores Ctrl+C until
  // it asks for it again; the watch wants it.
  SetConsoleCtrlHandler(nullptr, FALSE);
  SetConsoleCtrlHandler(on_console_event, TRUE);
}

termination_watch::~termination_watch() {
  SetConsoleCtrlHandler(on_console_event, FALSE);
  std::shared_ptr<impl> watch;
  {
    std::lock_guard<std::mutex> guard{current_mutex};
    if (current.get() == impl_)
      watch.swap(current);
  }
  if (!watch)
    return;
  SetEvent(watch->finished.get());
  if (watch->stop_waiter.joinable())
    watch->stop_waiter.join();
}

} // namespace procman::platform
