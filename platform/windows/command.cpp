#include "procman/platform/command.hpp"

#include <algorithm>

#include "procman/platform/paths.hpp"

#include "win.hpp"

namespace procman::platform {

namespace {

// One of the command's output pipes, read without blocking: PeekNamedPipe
// says how much is there.
struct output_pipe {
  win::handle read_end;
  output_stream stream;
  std::string* text;
  bool open = true;
};

// What the stdin thread writes, and where.
struct feeder_state {
  HANDLE pipe;
  const char* data;
  size_t size;
};

DWORD WINAPI feed_stdin(void* arg) {
  auto& feed = *static_cast<feeder_state*>(arg);
  size_t written = 0;
  while (written < feed.size) {
    DWORD put = 0;
    auto chunk
      = static_cast<DWORD>(std::min<size_t>(feed.size - written, 1u << 20));
    if (!WriteFile(feed.pipe, feed.data + written, chunk, &put, nullptr))
      break; // the command stopped reading
    written += put;
  }
  CloseHandle(feed.pipe); // the command sees the end of its input
  return 0;
}

} // namespace

outcome<command_result> run_command(
  const command_options& opts,
  const std::function<void(output_stream, std::string_view)>& on_output) {
  auto& prog = opts.argv.at(0);
  win::handle child_in, child_out, child_err, in_w, out_r, err_r;
  for (auto [child, parent] :
       {std::pair{&child_out, &out_r}, std::pair{&child_err, &err_r}}) {
    auto pipe = win::make_pipe(false);
    if (!pipe)
      return pipe.error();
    *child = std::move(pipe->child);
    *parent = std::move(pipe->parent);
  }
  if (opts.input) {
    auto pipe = win::make_pipe(true);
    if (!pipe)
      return pipe.error();
    child_in = std::move(pipe->child);
    in_w = std::move(pipe->parent);
  } else {
    child_in = win::null_input();
  }
  win::process_start start;
  start.command_line = win::command_line(opts.argv);
  start.environment = win::environment_block(opts.env);
  start.cwd = win::widen(opts.cwd);
  start.in = child_in.get();
  start.out = child_out.get();
  start.err = child_err.get();
  // No job and no process group of its own: the command stays in the
  // executor's job, so that whatever ends the executor ends it too.
  // Suspended until started, so that a failed start-up is tried again
  // (win::create_process).
  start.flags = CREATE_SUSPENDED;
  auto pi = win::create_process(start);
  if (!pi) {
    auto err = static_cast<DWORD>(os_errno(pi.error()));
    bool bare = prog.find_first_of("/\\") == std::string::npos;
    return failure{
      errc::spawn_failure,
      "cannot run: " + pi.error().context
        + (bare && (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND)
             ? " (not found in PATH)"
             : "")};
  }
  win::handle process{pi->hProcess};
  ResumeThread(pi->hThread);
  CloseHandle(pi->hThread);
  child_in.reset();
  child_out.reset();
  child_err.reset();
  command_result result;
  // stdin from a thread of its own: a command that does not read would
  // block the write, and the output must go on being read meanwhile. A
  // Windows thread, for its handle (CancelSynchronousIo).
  feeder_state feed{in_w.get(), opts.input ? opts.input->data() : nullptr,
                    opts.input ? opts.input->size() : 0};
  win::handle feeder;
  if (feed.size > 0)
    feeder.reset(CreateThread(nullptr, 0, feed_stdin, &feed, 0, nullptr));
  if (feeder)
    in_w.release(); // the thread closes it when it is done
  else
    in_w.reset();
  output_pipe pipes[] = {{std::move(out_r), output_stream::out, &result.out},
                         {std::move(err_r), output_stream::err, &result.err}};
  char buf[65536];
  // Reads what is there, at most 1 MiB so that one busy stream cannot
  // starve the other; returns whether it read anything.
  auto drain = [&](output_pipe& p) {
    bool got = false;
    for (int round = 0; p.open && round < 16; ++round) {
      DWORD avail = 0;
      if (!PeekNamedPipe(p.read_end.get(), nullptr, 0, nullptr, &avail,
                         nullptr)) {
        p.open = false; // the writers are gone (ERROR_BROKEN_PIPE)
        break;
      }
      if (avail == 0)
        break;
      DWORD n = 0;
      if (!ReadFile(p.read_end.get(), buf, std::min<DWORD>(avail, sizeof(buf)),
                    &n, nullptr)
          || n == 0) {
        p.open = false;
        break;
      }
      got = true;
      if (p.text->size() + n > opts.output_limit) {
        if (!result.overflow)
          result.overflow = p.stream;
        continue; // keep draining, drop the excess
      }
      p.text->append(buf, n);
      on_output(p.stream, std::string_view{buf, n});
    }
    return got;
  };
  bool exited = false;
  bool killed = false;
  while (pipes[0].open || pipes[1].open) {
    bool got = drain(pipes[0]);
    got = drain(pipes[1]) || got;
    if (result.overflow && !killed) {
      // Unbounded output: stop the command instead of buffering it.
      TerminateProcess(process.get(), 1);
      killed = true;
    }
    if (exited) {
      // Drained once more after the command ended: whatever it started
      // and left behind may keep the pipes open, and is not waited for.
      break;
    }
    // Nothing there: wait a little for the command to end (at once when
    // it does), then look again.
    if (!got)
      exited = WaitForSingleObject(process.get(), 10) == WAIT_OBJECT_0;
  }
  if (!exited)
    WaitForSingleObject(process.get(), INFINITE);
  if (feeder) {
    // A write still blocked on a pipe that something the command started
    // holds open: give up on it.
    if (WaitForSingleObject(feeder.get(), 0) == WAIT_TIMEOUT)
      CancelSynchronousIo(feeder.get());
    WaitForSingleObject(feeder.get(), INFINITE);
  }
  DWORD code = 0;
  if (!GetExitCodeProcess(process.get(), &code))
    return failure{errc::spawn_failure,
                   "lost track of the command: " + win::last_error_text()};
  result.code = static_cast<int>(code);
  return result;
}

std::vector<std::string> this_environment() {
  std::vector<std::string> env;
  if (auto block = GetEnvironmentStringsW()) {
    for (auto p = block; *p != L'\0'; p += wcslen(p) + 1)
      env.push_back(win::narrow(p));
    FreeEnvironmentStringsW(block);
  }
  return env;
}

} // namespace procman::platform
