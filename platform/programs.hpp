// Finding a program to start, as the system starts programs: the name of
// its file (".exe" on Windows), a bare name looked up in PATH, and whether
// a file is a program this system can start. The engine finds procman-exec
// through these (engine/engine.cpp).

#pragma once

#include <string>
#include <string_view>

#include "procman/messages/failure.hpp"

namespace procman::platform {

/// The file name of the program `name`: `name` on POSIX, `name` + ".exe"
/// on Windows.
std::string program_file_name(std::string_view name);

/// Whether `path` names a file without naming a directory ("procman-exec",
/// not "./procman-exec"; on Windows neither '/' nor '\\' nor a drive).
bool is_bare_program_name(std::string_view path);

/// The first directory of PATH (split at `path_list_separator`) holding
/// the program `name` (on Windows also `name` + ".exe"); "" when none does.
std::string find_in_path(std::string_view name);

/// Whether `path` is a program this system can start. Errors:
/// spawn_failure saying why, the path first ("PATH: No such file or
/// directory", "PATH is not a regular file", "PATH is not executable:
/// ...").
failure check_program(const std::string& path);

} // namespace procman::platform
