// What `--version` prints: the project version (CMake's project()) and, for
// a build from a git checkout, the revision (`0.1.0 (git 1a2b3c4d5e6f)`).

#pragma once

#include <iostream>
#include <string>

namespace procman {

/// Defined in the generated procman_version.cpp (cmake/version.cmake).
const char* version_string();

/// `<program> <version>`, as `--version` prints it.
inline void print_version(const char* program) {
  std::cout << program << " " << version_string() << "\n";
}

} // namespace procman
