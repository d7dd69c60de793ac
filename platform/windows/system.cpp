#include "procman/platform/system.hpp"

#include <system_error>

// Winsock's headers before windows.h (win.hpp), which bcrypt.h needs.
// clang-format off
#include <winsock2.h>
#include <ws2tcpip.h>
#include "win.hpp"
#include <bcrypt.h>
// clang-format on

#include "../all_loopback.hpp"

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

bool is_loopback_host(const std::string& host) {
  if (host.empty())
    return false;
  // Winsock counts its users; this one stays for the program's life.
  static const bool started = [] {
    WSADATA data;
    return WSAStartup(MAKEWORD(2, 2), &data) == 0;
  }();
  if (!started)
    return false;
  addrinfoW hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfoW* res = nullptr;
  if (GetAddrInfoW(win::widen(host).c_str(), nullptr, &hints, &res) != 0
      || res == nullptr)
    return false;
  bool all = detail::all_loopback(res);
  FreeAddrInfoW(res);
  return all;
}

} // namespace procman::platform
