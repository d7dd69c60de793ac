#include "procman/platform/library.hpp"

#include <filesystem>

#include "procman/platform/paths.hpp"

#include "win.hpp"

namespace procman::platform {

outcome<library> library::load(const std::string& path) {
  std::error_code ec;
  auto full = std::filesystem::absolute(path_from_utf8(path), ec);
  if (ec)
    return failure{errc::invalid_argument, "cannot load: " + ec.message()};
  // No "cannot find DLL" dialog box: the error comes back here instead.
  DWORD old_mode = 0;
  SetThreadErrorMode(SEM_FAILCRITICALERRORS | SEM_NOOPENFILEERRORBOX,
                     &old_mode);
  // The DLL's own directory first for the DLLs it needs, then the
  // system's; not the current directory.
  auto h = LoadLibraryExW(full.c_str(), nullptr,
                          LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR
                            | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS);
  auto err = GetLastError();
  SetThreadErrorMode(old_mode, nullptr);
  if (h == nullptr)
    return failure{errc::invalid_argument,
                   "cannot load: " + error_text(static_cast<int>(err))};
  return library{h};
}

outcome<void*> library::symbol(const char* name) const {
  auto sym = GetProcAddress(static_cast<HMODULE>(handle_), name);
  if (sym == nullptr)
    return failure{errc::invalid_argument, win::last_error_text()};
  return reinterpret_cast<void*>(sym);
}

std::string module_path_of(const void* address) {
  HMODULE module = nullptr;
  if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS
                            | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                          static_cast<LPCWSTR>(address), &module))
    return "?";
  wchar_t buf[32768];
  auto n = GetModuleFileNameW(module, buf, 32768);
  return n == 0 ? "?" : win::narrow(std::wstring_view{buf, n});
}

} // namespace procman::platform
