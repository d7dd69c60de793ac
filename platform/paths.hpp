// Paths as procman passes them around (UTF-8 in std::string) and as the
// operating system takes them. On Windows a std::string path given to
// std::filesystem or to a narrow API is read in the ANSI code page, which
// loses every character outside it; these go through UTF-16 there, so a
// store or a step library under "C:\Users\Zoë\データ" works.

#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace procman::platform {

/// What separates the paths of a list (PATH, PROCMAN_STEP_LIBS): ':' on
/// POSIX, ';' on Windows (where ':' follows a drive letter).
#ifdef _WIN32
inline constexpr char path_list_separator = ';';
#else
inline constexpr char path_list_separator = ':';
#endif

/// The entries of a list separated by path_list_separator (PATH,
/// PROCMAN_STEP_LIBS), in order, empty ones skipped.
inline std::vector<std::string> split_path_list(std::string_view list) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= list.size()) {
    auto end = list.find(path_list_separator, pos);
    if (end == std::string_view::npos)
      end = list.size();
    if (end > pos)
      out.emplace_back(list.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

/// The path named by the UTF-8 text `utf8`.
std::filesystem::path path_from_utf8(std::string_view utf8);

/// `p` as UTF-8 text.
std::string utf8_from_path(const std::filesystem::path& p);

/// The text of the operating system's error `code` (errno on POSIX,
/// GetLastError() on Windows), in UTF-8, without a trailing newline.
std::string error_text(int code);

/// What a failed write's system error `code` says of the disk, as LMDB
/// reports it (errno on POSIX, a Windows error code on Windows).
enum class disk_error { other, full, quota, io };
disk_error disk_error_of(int code);

/// Whether LMDB's failure `code` to open a store (errno on POSIX, a Windows
/// error code on Windows) can come from another process opening or
/// closing the store at the same moment, so that opening again succeeds.
/// Windows: LMDB's named mutexes gone with the last process that held
/// them (ERROR_FILE_NOT_FOUND), and the data file sized to the map size
/// recorded before another process grew its map and committed
/// (ERROR_USER_MAPPED_FILE). POSIX: none.
bool store_open_is_transient(int code);

/// The name of the POSIX signal `sig` ("SIGKILL"); "signal <sig>" where
/// the system has no name for it. Windows has no signals: there the
/// numbers are Linux's (a record made on Linux, a Windows worker's report
/// to a Linux store node, 9 for a tree killed), named as Linux names them.
std::string signal_name(int sig);

} // namespace procman::platform
