#include "procman/platform/programs.hpp"

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "procman/platform/paths.hpp"

#include "win.hpp"

namespace procman::platform {

namespace {

bool is_file(const std::wstring& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(std::filesystem::path{path}, ec);
}

} // namespace

std::string program_file_name(std::string_view name) {
  return std::string{name} + ".exe";
}

bool is_bare_program_name(std::string_view path) {
  return path.find_first_of("/\\:") == std::string_view::npos;
}

std::string find_in_path(std::string_view name) {
  // PATH as UTF-16: a directory outside the ANSI code page is found too.
  auto env = _wgetenv(L"PATH");
  std::wstring dirs = env ? env : L"";
  auto file = win::widen(name);
  size_t pos = 0;
  while (pos <= dirs.size()) {
    auto end = dirs.find(static_cast<wchar_t>(path_list_separator), pos);
    if (end == std::wstring::npos)
      end = dirs.size();
    auto dir = dirs.substr(pos, end - pos);
    pos = end + 1;
    if (dir.empty())
      continue;
    auto candidate = dir + L"\\" + file;
    if (is_file(candidate))
      return win::narrow(candidate);
    if (is_file(candidate + L".exe"))
      return win::narrow(candidate + L".exe");
  }
  return {};
}

failure check_program(const std::string& path) {
  std::error_code ec;
  auto status = std::filesystem::status(path_from_utf8(path), ec);
  if (ec)
    return {errc::spawn_failure, path + ": " + ec.message()};
  if (!std::filesystem::exists(status))
    return {errc::spawn_failure, path + ": no such file"};
  if (!std::filesystem::is_regular_file(status))
    return {errc::spawn_failure, path + " is not a regular file"};
  return {};
}

} // namespace procman::platform
