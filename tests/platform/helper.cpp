// The platform tests' helper program: this test executable, started with
// PROCMAN_PLATFORM_HELPER=<mode> in its environment, does the mode's job
// before Boost.Test's main runs, and exits. Modes (arguments after the
// program name):
//
//   exit CODE        exits with CODE
//   echo             copies stdin to stdout
//   args ARG...      prints each argument as "[ARG]" on a line
//   env NAME         prints $NAME and the working directory, a line each
//   sleep            sleeps (60 s at most)
//   tree [FILE]      starts a "sleep" grandchild the ordinary way, prints
//                    "tree <own pid> grandchild <its pid>" (and writes the
//                    grandchild's pid to FILE when given), sleeps
//   orphan-tree FILE starts a "tree" child contained, writes its line to
//                    FILE, then dies at once (as a kill -9 would end it)
//   lock PATH        takes an os_lock on PATH, prints "locked" or "busy",
//                    sleeps
//   ring STORE       rings STORE's wake-up
//   watch            prints "watching", then "stop: <what>" at the first
//                    termination request and exits 0 (3 after 60 s)
//   alive PID        exits 0 while the process PID lives, 1 once it is
//                    gone (for scripts: tests/windows/end_to_end.py)
//   stop PID         asks PID to stop (platform::request_stop): exits 0
//                    when it could be asked
//
// Helper code outside the platform layer differs between the systems
// here, in the test, as little as it can.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "procman/platform/child.hpp"
#include "procman/platform/os_lock.hpp"
#include "procman/platform/paths.hpp"
#include "procman/platform/termination.hpp"
#include "procman/platform/wake_event.hpp"

#include "platform_fixture.hpp"

#ifdef _WIN32
// windows.h first: the others need its types.
// clang-format off
#include <windows.h>
#include <aclapi.h>
#include <fcntl.h>
#include <io.h>
#include <shellapi.h>
// clang-format on
#else
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>
extern char** environ;
#endif

namespace fs = std::filesystem;

namespace procman::test {

namespace {

constexpr auto helper_variable = "PROCMAN_PLATFORM_HELPER";

void say(const std::string& line) {
  std::fputs((line + "\n").c_str(), stdout);
  std::fflush(stdout);
}

void sleep_a_while() {
  std::this_thread::sleep_for(std::chrono::seconds(60));
}

int own_pid() {
#ifdef _WIN32
  return static_cast<int>(GetCurrentProcessId());
#else
  return static_cast<int>(getpid());
#endif
}

// This process's arguments in UTF-8.
std::vector<std::string> own_args() {
  std::vector<std::string> args;
#ifdef _WIN32
  int n = 0;
  auto argv = CommandLineToArgvW(GetCommandLineW(), &n);
  for (int i = 0; i < n; ++i)
    args.push_back(platform::utf8_from_path(fs::path{argv[i]}));
  LocalFree(argv);
#else
  std::ifstream in{"/proc/self/cmdline", std::ios::binary};
  std::string arg;
  while (std::getline(in, arg, '\0'))
    args.push_back(arg);
#endif
  return args;
}

std::string env_value(const std::string& name) {
#ifdef _WIN32
  auto v = _wgetenv(platform::path_from_utf8(name).c_str());
  return v ? platform::utf8_from_path(fs::path{v}) : "(unset)";
#else
  auto v = std::getenv(name.c_str());
  return v ? v : "(unset)";
#endif
}

void set_env(const std::string& name, const std::string& value) {
#ifdef _WIN32
  SetEnvironmentVariableW(platform::path_from_utf8(name).c_str(),
                          platform::path_from_utf8(value).c_str());
#else
  setenv(name.c_str(), value.c_str(), 1);
#endif
}

// Writes `text` to `path` as a whole: a reader finds all of it or no file.
void write_whole(const std::string& path, const std::string& text) {
  {
    std::ofstream out{platform::path_from_utf8(path + ".part")};
    out << text;
  }
  fs::rename(platform::path_from_utf8(path + ".part"),
             platform::path_from_utf8(path));
}

int run_helper(const std::string& mode, const std::vector<std::string>& args) {
  auto arg = [&](size_t i) {
    return i < args.size() ? args[i] : std::string{};
  };
  if (mode == "exit")
    return std::atoi(arg(0).c_str());
  if (mode == "echo") {
#ifdef _WIN32
    _setmode(_fileno(stdin), _O_BINARY);
    _setmode(_fileno(stdout), _O_BINARY);
#endif
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), stdin)) > 0)
      std::fwrite(buf, 1, n, stdout);
    std::fflush(stdout);
    return 0;
  }
  if (mode == "args") {
    for (auto& a : args)
      say("[" + a + "]");
    return 0;
  }
  if (mode == "env") {
    say(env_value(arg(0)));
    say(platform::utf8_from_path(fs::current_path()));
    return 0;
  }
  if (mode == "sleep") {
    sleep_a_while();
    return 0;
  }
  if (mode == "tree") {
    auto grandchild = start_plain_helper("sleep", {});
    say("tree " + std::to_string(own_pid()) + " grandchild "
        + std::to_string(grandchild));
    if (!arg(0).empty())
      write_whole(arg(0), std::to_string(grandchild));
    sleep_a_while();
    return 0;
  }
  if (mode == "orphan-tree") {
    auto child = platform::contained_child::start([] {
      auto opts = helper("tree");
      opts.stdout_pipe = true;
      return opts;
    }());
    if (!child) {
      say("cannot start: " + child.error().context);
      return 1;
    }
    write_whole(arg(0), read_line(child->out()) + "\n");
    platform::kill_process(own_pid());
    return 2; // not reached
  }
  if (mode == "lock") {
    platform::os_lock lock;
    auto f = lock.try_lock(arg(0));
    say(f ? (f.code == errc::runner_busy ? "busy" : "error: " + f.context)
          : "locked");
    sleep_a_while();
    return 0;
  }
  if (mode == "ring") {
    platform::ring(arg(0));
    return 0;
  }
  if (mode == "watch") {
    platform::hold_termination_requests();
    std::atomic<bool> asked{false};
    platform::termination_watch watch{[&](const std::string& what) {
      say("stop: " + what);
      asked = true;
    }};
    say("watching");
    wait_until([&] { return asked.load(); }, std::chrono::seconds(60));
    return asked ? 0 : 3;
  }
  if (mode == "alive")
    return platform::process_alive(std::stoi(arg(0))) ? 0 : 1;
  if (mode == "stop")
    return platform::request_stop(std::stoi(arg(0))) ? 0 : 1;
  say("unknown helper mode " + mode);
  return 125;
}

// Runs before main when this executable is a helper.
const bool is_helper = [] {
  auto mode = std::getenv(helper_variable);
  if (mode == nullptr || *mode == '\0')
    return false;
  auto args = own_args();
  if (!args.empty())
    args.erase(args.begin());
  auto code = run_helper(mode, args);
  std::fflush(stdout);
  std::_Exit(code);
}();

} // namespace

platform_temp_dir::platform_temp_dir() {
  std::random_device rd;
  auto name = "procman-platform-" + std::to_string(rd()) + std::to_string(rd());
  path = fs::temp_directory_path() / name;
  fs::create_directories(path);
}

platform_temp_dir::~platform_temp_dir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

std::string platform_temp_dir::operator/(const std::string& name) const {
  return platform::utf8_from_path(path / platform::path_from_utf8(name));
}

std::string platform_temp_dir::str() const {
  return platform::utf8_from_path(path);
}

bool wait_until(const std::function<bool()>& done,
                std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (done())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string self_path() {
#ifdef _WIN32
  wchar_t buf[32768];
  auto n = GetModuleFileNameW(nullptr, buf, 32768);
  return platform::utf8_from_path(fs::path{std::wstring{buf, n}});
#else
  return fs::read_symlink("/proc/self/exe").string();
#endif
}

platform::child_options helper(const std::string& mode,
                               const std::vector<std::string>& args) {
  platform::child_options opts;
  opts.argv.push_back(self_path());
  opts.argv.insert(opts.argv.end(), args.begin(), args.end());
  opts.env.push_back(std::string{helper_variable} + "=" + mode);
  return opts;
}

int start_plain_helper(const std::string& mode,
                       const std::vector<std::string>& args) {
  auto previous = std::getenv(helper_variable);
  std::string saved = previous ? previous : "";
  set_env(helper_variable, mode);
  auto path = self_path();
  int pid = -1;
#ifdef _WIN32
  std::wstring line = L"\"" + platform::path_from_utf8(path).native() + L"\"";
  for (auto& a : args)
    line += L" \"" + platform::path_from_utf8(a).native() + L"\"";
  STARTUPINFOW si{};
  si.cb = sizeof(si);
  PROCESS_INFORMATION pi{};
  if (CreateProcessW(nullptr, line.data(), nullptr, nullptr, FALSE, 0, nullptr,
                     nullptr, &si, &pi)) {
    pid = static_cast<int>(pi.dwProcessId);
    CloseHandle(pi.hThread);
    CloseHandle(pi.hProcess);
  }
#else
  std::vector<char*> argv{path.data()};
  std::vector<std::string> copies{args};
  for (auto& a : copies)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t p = -1;
  if (posix_spawn(&p, path.c_str(), nullptr, nullptr, argv.data(), environ)
      == 0)
    pid = static_cast<int>(p);
#endif
  set_env(helper_variable, saved);
  return pid;
}

std::string read_line(platform::pipe_end& in) {
  std::string line;
  char c;
  while (in.read(&c, 1) == 1) {
    if (c == '\n')
      break;
    if (c != '\r')
      line += c;
  }
  return line;
}

std::string read_all(platform::pipe_end& in) {
  std::string text;
  char buf[4096];
  std::ptrdiff_t n;
  while ((n = in.read(buf, sizeof(buf))) > 0)
    text.append(buf, static_cast<size_t>(n));
  return text;
}

std::string library_suffix() {
#ifdef _WIN32
  return ".dll";
#else
  return ".so";
#endif
}

} // namespace procman::test
