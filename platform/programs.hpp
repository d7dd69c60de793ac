// Finding a program to start, as the system starts programs: the name of
// its file (".exe" on Windows), a bare name looked up in PATH, and whether
// a file is a program this system can start. The engine finds procman-exec
// through these (engine/engine.cpp).

#pragma once

#include <string>
#include <string_view>

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

/// Why `path` is not a program this system can start, as the rest of a
/// sentence after the path (": No such file or directory", " is not a
/// regular file", " is not executable: ..."); "" when it is one.
std::string program_problem(const std::string& path);

} // namespace procman::platform
