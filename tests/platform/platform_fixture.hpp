// What the platform layer's tests share: a temporary directory of their
// own, bounded waits, and the helper program (this test executable run in
// a helper mode; helper.cpp).

#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "procman/messages/failure.hpp"
#include "procman/platform/child.hpp"

#include "fixtures/open_to_all.hpp"

namespace procman::test {

/// The failure's text of an outcome, empty when it holds a value: for a
/// check's message (which is evaluated either way).
template <class T>
std::string why(const outcome<T>& x) {
  return x ? std::string{} : x.error().context;
}

/// A fresh directory under the system's temporary directory, removed with
/// everything in it at the end of the test.
struct platform_temp_dir {
  std::filesystem::path path;
  platform_temp_dir();
  ~platform_temp_dir();
  platform_temp_dir(const platform_temp_dir&) = delete;
  platform_temp_dir& operator=(const platform_temp_dir&) = delete;
  /// `path / name` as UTF-8 text.
  std::string operator/(const std::string& name) const;
  std::string str() const;
};

/// Checks `done` every 10 ms until it holds or `limit` passed; returns its
/// last answer.
bool wait_until(const std::function<bool()>& done,
                std::chrono::milliseconds limit = std::chrono::seconds(30));

/// The options to start this executable as the helper in `mode` with
/// `args` (helper.cpp lists the modes).
platform::child_options helper(const std::string& mode,
                               const std::vector<std::string>& args = {});

/// Starts the helper as a plain child, in no group or job of its own, its
/// standard handles those of this process; returns its process id.
int start_plain_helper(const std::string& mode,
                       const std::vector<std::string>& args);

/// Reads one line (without its newline) from `in`; empty at the end.
std::string read_line(platform::pipe_end& in);

/// Reads everything until the end.
std::string read_all(platform::pipe_end& in);

/// The path of this test executable (UTF-8).
std::string self_path();

/// The suffix of a loadable library here: ".so" or ".dll".
std::string library_suffix();

} // namespace procman::test
