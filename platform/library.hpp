// Loading step libraries: shared objects on POSIX (dlopen), DLLs on Windows
// (LoadLibraryExW). A library stays loaded for the life of the process:
// the steps it registers live in it.

#pragma once

#include <string>

#include "procman/messages/failure.hpp"

namespace procman::platform {

/// A loaded library. Copyable: a handle, never unloaded.
class library {
public:
  /// Loads the library at `path` (UTF-8), with every symbol it needs
  /// resolved now (a missing one shows here, not in the middle of a step)
  /// and its names kept to itself (two libraries may use the same internal
  /// names). On Windows the DLL's own directory is searched for the DLLs
  /// it depends on. Errors: invalid_argument, "cannot load: <reason>".
  static outcome<library> load(const std::string& path);

  /// The address of the exported function or object `name`. Errors:
  /// invalid_argument with the loader's reason when the library has none.
  outcome<void*> symbol(const char* name) const;

private:
  explicit library(void* handle) : handle_(handle) {
    // nop
  }

  void* handle_ = nullptr;
};

/// The path of the program or library whose code or data `address` lies
/// in (for stack traces); "?" when none.
std::string module_path_of(const void* address);

} // namespace procman::platform
