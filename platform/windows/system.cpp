#include "procman/platform/system.hpp"

#include <system_error>

// windows.h (win.hpp) first: bcrypt.h uses its types.
// clang-format off
#include "win.hpp"
#include <bcrypt.h>
// clang-format on

namespace procman::platform {

int this_process_id() {
  return static_cast<int>(GetCurrentProcessId());
}

std::string this_program_path() {
  std::wstring buf(32768, L'\0');
  auto n = GetModuleFileNameW(nullptr, buf.data(),
                              static_cast<DWORD>(buf.size()));
  buf.resize(n);
  return win::narrow(buf);
}

std::string host_name() {
  wchar_t name[256];
  DWORD size = sizeof(name) / sizeof(name[0]);
  if (!GetComputerNameExW(ComputerNameDnsHostname, name, &size) || size == 0)
    return "host";
  return win::narrow(std::wstring_view{name, size});
}

void random_bytes(unsigned char* buf, size_t size) {
  auto status = BCryptGenRandom(nullptr, buf, static_cast<ULONG>(size),
                                BCRYPT_USE_SYSTEM_PREFERRED_RNG);
  if (status < 0)
    throw std::system_error(static_cast<int>(status), std::system_category(),
                            "BCryptGenRandom");
}

std::string boot_id() {
  // The system's boot time, as NtQuerySystemInformation's time of day
  // (SystemTimeOfDayInformation) gives it: fixed for the whole boot.
  using query_fn = LONG(NTAPI*)(int, void*, ULONG, ULONG*);
  auto ntdll = GetModuleHandleW(L"ntdll.dll");
  auto query = ntdll ? reinterpret_cast<query_fn>(reinterpret_cast<void*>(
                 GetProcAddress(ntdll, "NtQuerySystemInformation")))
                     : nullptr;
  if (query == nullptr)
    return {};
  constexpr int system_time_of_day_information = 3;
  LARGE_INTEGER info[6] = {}; // BootTime first
  if (query(system_time_of_day_information, info, sizeof(info), nullptr) < 0
      || info[0].QuadPart == 0)
    return {};
  return "boot-" + std::to_string(info[0].QuadPart);
}

} // namespace procman::platform
