#include "procman/steps/throw_trace.hpp"

#include <cstdint>
#include <vector>

#include <boost/core/demangle.hpp>
#include <boost/stacktrace.hpp>

#include "procman/messages/defaults.hpp"
#include "procman/platform/library.hpp"

// libbacktrace (GCC's, /usr/lib/gcc/<triple>/<version>/libbacktrace.a)
// resolves frames to function, file and line from the debug information,
// inlined frames and functions in anonymous namespaces included; without
// debug information (a Release build) it still names every function from
// the symbol table (.symtab), local ones included. Weak: programs that
// link it (procman-exec does) get those names, the others fall back to
// boost::stacktrace's dladdr names (exported symbols only).
extern "C" {
struct backtrace_state;
using backtrace_error_callback = void (*)(void* data, const char* msg,
                                          int errnum);
using backtrace_full_callback = int (*)(void* data, uintptr_t pc,
                                        const char* filename, int lineno,
                                        const char* function);
__attribute__((weak)) backtrace_state*
backtrace_create_state(const char* filename, int threaded,
                       backtrace_error_callback error_callback, void* data);
using backtrace_syminfo_callback
  = void (*)(void* data, uintptr_t pc, const char* symname, uintptr_t symval,
             uintptr_t symsize);
__attribute__((weak)) int
backtrace_pcinfo(backtrace_state* state, uintptr_t pc,
                 backtrace_full_callback callback,
                 backtrace_error_callback error_callback, void* data);
__attribute__((weak)) int
backtrace_syminfo(backtrace_state* state, uintptr_t addr,
                  backtrace_syminfo_callback callback,
                  backtrace_error_callback error_callback, void* data);
}

namespace procman::detail {

namespace {

struct source_frame {
  std::string function;
  std::string file;
  int line = 0;
};

// The demangled name of the function around `pc` from the symbol tables
// (.symtab, else .dynsym, of the program or the library); empty if none.
std::string symbol_at(backtrace_state* state, uintptr_t pc) {
  std::string symbol;
  if (backtrace_syminfo == nullptr)
    return symbol;
  backtrace_syminfo(
    state, pc,
    [](void* data, uintptr_t, const char* name, uintptr_t, uintptr_t) {
      if (name != nullptr)
        *static_cast<std::string*>(data) = boost::core::demangle(name);
    },
    [](void*, const char*, int) {}, &symbol);
  return symbol;
}

// Function, file and line for a return address (several entries when
// functions were inlined there, innermost first); without debug
// information, the function alone (no file, line 0). Empty without
// libbacktrace, or where no symbol covers the address.
std::vector<source_frame> source_frames(const void* addr) {
  std::vector<source_frame> result;
  if (backtrace_create_state == nullptr || backtrace_pcinfo == nullptr)
    return result;
  static backtrace_state* state = backtrace_create_state(
    nullptr, 1, [](void*, const char*, int) {}, nullptr);
  if (state == nullptr || addr == nullptr)
    return result;
  // A return address points after the call; look up the call itself. (A
  // call of a function that does not return, such as __cxa_throw, may be
  // the last instruction of its caller: the return address is then the
  // next function's.)
  auto pc = reinterpret_cast<uintptr_t>(addr) - 1;
  backtrace_pcinfo(
    state, pc,
    [](void* data, uintptr_t, const char* file, int line,
       const char* function) {
      if (function == nullptr)
        return 0;
      auto& out = *static_cast<std::vector<source_frame>*>(data);
      out.push_back({boost::core::demangle(function), file ? file : "", line});
      return 0;
    },
    [](void*, const char*, int) {}, &result);
  // The debug information names functions without their scope
  // ("execute"); the symbol table has the full name of the outermost one,
  // and is all there is without debug information.
  auto symbol = symbol_at(state, pc);
  if (symbol.empty())
    return result;
  if (result.empty())
    result.push_back({std::move(symbol), "", 0});
  else
    result.back().function = std::move(symbol);
  return result;
}

constexpr size_t max_frames = defaults::max_stack_frames;

struct noted_stack {
  // A zero-terminated array of frame addresses (boost::stacktrace dump).
  void* frames[max_frames + 1];
  const void* object = nullptr;
  bool valid = false;
  bool busy = false;
};

thread_local noted_stack noted;

// Renders a stack, dropping the frames of the unwinder and of the hook above
// `__cxa_throw` so that the first line is the function that threw.
std::string render(const boost::stacktrace::stacktrace& st) {
  size_t first = 0;
  auto n = st.size();
  for (size_t i = 0; i < n && i < 8; ++i) {
    auto name = st[i].name();
    if (name == "__cxa_throw" || name == "__cxa_rethrow"
        || name == "_Unwind_Resume_or_Rethrow") {
      first = i + 1;
      break;
    }
  }
  std::string out;
  size_t index = 0;
  auto line = [&](const std::string& text) {
    out += std::to_string(index++);
    out += "# ";
    out += text;
    out += '\n';
  };
  for (size_t i = first; i < n; ++i) {
    auto frames = source_frames(st[i].address());
    if (frames.empty()) {
      line(boost::stacktrace::to_string(st[i]));
      continue;
    }
    for (auto& f : frames)
      line(f.function
           + (f.file.empty()
                ? " in " + platform::module_path_of(st[i].address())
                : " at " + f.file + ":" + std::to_string(f.line)));
  }
  return out;
}

} // namespace

void note_exception_stack(const void* object) noexcept {
  if (noted.busy)
    return;
  noted.busy = true;
  auto bytes = boost::stacktrace::safe_dump_to(0, noted.frames,
                                               sizeof(noted.frames));
  noted.valid = bytes > 0;
  noted.object = object;
  noted.busy = false;
}

std::string take_exception_stack(const void* object) {
  if (noted.valid
      && (object == nullptr || noted.object == nullptr
          || noted.object == object)) {
    noted.valid = false;
    auto st = boost::stacktrace::stacktrace::from_dump(noted.frames,
                                                       sizeof(noted.frames));
    return render(st);
  }
  noted.valid = false;
  return render(boost::stacktrace::stacktrace());
}

} // namespace procman::detail
