#include "win.hpp"

#include <algorithm>
#include <cstdio>
#include <cwctype>
#include <map>
#include <vector>

#include <sddl.h>

#include "procman/messages/defaults.hpp"
#include "procman/platform/paths.hpp"

namespace procman::platform {

namespace win {

std::wstring widen(std::string_view utf8) {
  if (utf8.empty())
    return {};
  auto n = MultiByteToWideChar(CP_UTF8, 0, utf8.data(),
                               static_cast<int>(utf8.size()), nullptr, 0);
  std::wstring out(static_cast<size_t>(n), L'\0');
  MultiByteToWideChar(CP_UTF8, 0, utf8.data(), static_cast<int>(utf8.size()),
                      out.data(), n);
  return out;
}

std::string narrow(std::wstring_view wide) {
  if (wide.empty())
    return {};
  auto n = WideCharToMultiByte(CP_UTF8, 0, wide.data(),
                               static_cast<int>(wide.size()), nullptr, 0,
                               nullptr, nullptr);
  std::string out(static_cast<size_t>(n), '\0');
  WideCharToMultiByte(CP_UTF8, 0, wide.data(), static_cast<int>(wide.size()),
                      out.data(), n, nullptr, nullptr);
  return out;
}

std::string last_error_text() {
  return error_text(static_cast<int>(GetLastError()));
}

current_user::current_user() {
  HANDLE token = nullptr;
  if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token))
    return;
  DWORD size = 0;
  GetTokenInformation(token, TokenUser, nullptr, 0, &size);
  buf_.resize(size);
  if (size > 0
      && GetTokenInformation(token, TokenUser, buf_.data(), size, &size))
    sid_ = reinterpret_cast<TOKEN_USER*>(buf_.data())->User.Sid;
  CloseHandle(token);
}

std::string account_name(PSID sid) {
  wchar_t name[256];
  wchar_t domain[256];
  DWORD name_len = 256;
  DWORD domain_len = 256;
  SID_NAME_USE use;
  if (LookupAccountSidW(nullptr, sid, name, &name_len, domain, &domain_len,
                        &use)) {
    auto result = narrow(name);
    if (domain_len > 0)
      result = narrow(domain) + "\\" + result;
    return result;
  }
  wchar_t* text = nullptr;
  if (ConvertSidToStringSidW(sid, &text)) {
    auto result = narrow(text);
    LocalFree(text);
    return result;
  }
  return "an unknown account";
}

owner_only_security::owner_only_security() {
  if (user_.sid() == nullptr)
    return;
  auto sid_len = GetLengthSid(user_.sid());
  acl_.resize(sizeof(ACL) + sizeof(ACCESS_ALLOWED_ACE) + sid_len);
  auto acl = reinterpret_cast<ACL*>(acl_.data());
  ok_ = InitializeAcl(acl, static_cast<DWORD>(acl_.size()), ACL_REVISION)
        && AddAccessAllowedAceEx(acl, ACL_REVISION,
                                 OBJECT_INHERIT_ACE | CONTAINER_INHERIT_ACE,
                                 FILE_ALL_ACCESS, user_.sid())
        && InitializeSecurityDescriptor(&sd_, SECURITY_DESCRIPTOR_REVISION)
        && SetSecurityDescriptorDacl(&sd_, TRUE, acl, FALSE)
        && SetSecurityDescriptorControl(&sd_, SE_DACL_PROTECTED,
                                        SE_DACL_PROTECTED);
  sa_.nLength = sizeof(sa_);
  sa_.lpSecurityDescriptor = &sd_;
  sa_.bInheritHandle = FALSE;
}

// -- starting processes
// --------------------------------------------------------------

namespace {

// One argument quoted so that the C runtime's parser (and
// CommandLineToArgvW) gives it back as it was: in double quotes when it is
// empty or has blanks or quotes, backslashes doubled where a quote follows
// them.
void append_quoted(std::wstring& line, const std::wstring& arg) {
  if (!arg.empty() && arg.find_first_of(L" \t\n\v\"") == std::wstring::npos) {
    line += arg;
    return;
  }
  line += L'"';
  for (size_t i = 0;; ++i) {
    size_t backslashes = 0;
    while (i < arg.size() && arg[i] == L'\\') {
      ++i;
      ++backslashes;
    }
    if (i == arg.size()) {
      line.append(backslashes * 2, L'\\');
      break;
    }
    if (arg[i] == L'"')
      line.append(backslashes * 2 + 1, L'\\');
    else
      line.append(backslashes, L'\\');
    line += arg[i];
  }
  line += L'"';
}

} // namespace

std::wstring command_line(const std::vector<std::string>& argv) {
  std::wstring line;
  for (auto& arg : argv) {
    if (!line.empty())
      line += L' ';
    append_quoted(line, widen(arg));
  }
  return line;
}

namespace {

// Environment names compare without case on Windows.
struct name_less {
  bool operator()(const std::wstring& a, const std::wstring& b) const {
    return std::lexicographical_compare(
      a.begin(), a.end(), b.begin(), b.end(),
      [](wchar_t x, wchar_t y) { return std::towupper(x) < std::towupper(y); });
  }
};

} // namespace

std::wstring environment_block(const std::vector<std::string>& entries) {
  std::map<std::wstring, std::wstring, name_less> vars;
  for (auto& entry : entries) {
    auto wide = widen(entry);
    // "=C:=C:\dir", the current directory of a drive: its name starts
    // with the '='.
    auto eq = wide.find(L'=', 1);
    if (eq == std::wstring::npos)
      continue;
    vars.erase(wide.substr(0, eq));
    vars[wide.substr(0, eq)] = wide.substr(eq + 1);
  }
  std::wstring block;
  for (auto& [name, value] : vars) {
    block += name;
    block += L'=';
    block += value;
    block += L'\0';
  }
  block += L'\0';
  return block;
}

outcome<pipe_ends> make_pipe(bool child_reads) {
  SECURITY_ATTRIBUTES sa{sizeof(sa), nullptr, TRUE};
  HANDLE r = nullptr;
  HANDLE w = nullptr;
  if (!CreatePipe(&r, &w, &sa, 0))
    return failure{errc::spawn_failure,
                   "cannot create a pipe: " + last_error_text()};
  pipe_ends ends;
  ends.child.reset(child_reads ? r : w);
  ends.parent.reset(child_reads ? w : r);
  SetHandleInformation(ends.parent.get(), HANDLE_FLAG_INHERIT, 0);
  return ends;
}

handle inheritable_std(DWORD which) {
  auto h = GetStdHandle(which);
  HANDLE dup = nullptr;
  if (h == nullptr || h == INVALID_HANDLE_VALUE
      || !DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &dup, 0,
                          TRUE, DUPLICATE_SAME_ACCESS))
    return {};
  return handle{dup};
}

handle null_input() {
  SECURITY_ATTRIBUTES sa{sizeof(sa), nullptr, TRUE};
  return handle{CreateFileW(L"NUL", GENERIC_READ,
                            FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                            OPEN_EXISTING, 0, nullptr)};
}

handle kill_on_close_job() {
  handle job{CreateJobObjectW(nullptr, nullptr)};
  if (!job)
    return job;
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
  limits.BasicLimitInformation.LimitFlags
    = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
      | JOB_OBJECT_LIMIT_DIE_ON_UNHANDLED_EXCEPTION;
  if (!SetInformationJobObject(job.get(), JobObjectExtendedLimitInformation,
                               &limits, sizeof(limits)))
    return handle{};
  return job;
}

namespace {

/// One CreateProcessW (create_process); a failure carries GetLastError().
outcome<PROCESS_INFORMATION> create_once(const process_start& start) {
  auto failed = [] {
    auto err = GetLastError();
    return make_failure(errc::spawn_failure, error_text(static_cast<int>(err)),
                        static_cast<int32_t>(err));
  };
  std::vector<HANDLE> inherit;
  for (auto h : {start.in, start.out, start.err})
    if (h != nullptr && h != INVALID_HANDLE_VALUE
        && std::find(inherit.begin(), inherit.end(), h) == inherit.end())
      inherit.push_back(h);
  SIZE_T attr_size = 0;
  InitializeProcThreadAttributeList(nullptr, 1, 0, &attr_size);
  std::string attr_buf(attr_size, '\0');
  auto attrs = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(attr_buf.data());
  if (!InitializeProcThreadAttributeList(attrs, 1, 0, &attr_size))
    return failed();
  struct attr_guard {
    LPPROC_THREAD_ATTRIBUTE_LIST a;
    // `failed` reads CreateProcessW's error after this.
    ~attr_guard() {
      auto err = GetLastError();
      DeleteProcThreadAttributeList(a);
      SetLastError(err);
    }
  } attr_cleanup{attrs};
  if (!inherit.empty()
      && !UpdateProcThreadAttribute(
        attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, inherit.data(),
        inherit.size() * sizeof(HANDLE), nullptr, nullptr))
    return failed();
  STARTUPINFOEXW si{};
  si.StartupInfo.cb = sizeof(si);
  si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = start.in;
  si.StartupInfo.hStdOutput = start.out;
  si.StartupInfo.hStdError = start.err;
  si.lpAttributeList = attrs;
  auto line = start.command_line;
  auto env = start.environment;
  PROCESS_INFORMATION pi{};
  if (!CreateProcessW(
        nullptr, line.data(), nullptr, nullptr, !inherit.empty(),
        start.flags | CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT,
        env.data(), start.cwd.empty() ? nullptr : start.cwd.c_str(),
        &si.StartupInfo, &pi))
    return failed();
  return pi;
}

} // namespace

outcome<PROCESS_INFORMATION> create_process(const process_start& start) {
  for (uint32_t attempt = 1;; ++attempt) {
    auto pi = create_once(start);
    if (pi || os_errno(pi.error()) != ERROR_INTERNAL_ERROR
        || (start.flags & CREATE_SUSPENDED) == 0
        || attempt >= defaults::child_start_attempts)
      return pi;
    Sleep(defaults::child_start_pause_ms);
  }
}

} // namespace win

std::filesystem::path path_from_utf8(std::string_view utf8) {
  return std::filesystem::path{win::widen(utf8)};
}

std::string utf8_from_path(const std::filesystem::path& p) {
  return win::narrow(p.native());
}

disk_error disk_error_of(int code) {
  switch (code) {
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL:
      return disk_error::full;
    case 1295: // ERROR_DISK_QUOTA_EXCEEDED, which MinGW's headers lack
      return disk_error::quota;
    case ERROR_IO_DEVICE:
    case ERROR_CRC:
      return disk_error::io;
    default:
      return disk_error::other;
  }
}

bool store_open_is_transient(int code) {
  return code == ERROR_FILE_NOT_FOUND || code == ERROR_USER_MAPPED_FILE;
}

// Windows has no signals; the numbers procman's records carry are Linux's
// (a record made there, a worker node's report to a Linux store node, and
// 9 for a tree killed here: child_service), so they get Linux's names.
std::string signal_name(int sig) {
  static const char* const linux_names[]
    = {"HUP",  "INT",    "QUIT", "ILL",   "TRAP", "ABRT", "BUS",  "FPE",
       "KILL", "USR1",   "SEGV", "USR2",  "PIPE", "ALRM", "TERM", "STKFLT",
       "CHLD", "CONT",   "STOP", "TSTP",  "TTIN", "TTOU", "URG",  "XCPU",
       "XFSZ", "VTALRM", "PROF", "WINCH", "POLL", "PWR",  "SYS"};
  constexpr int known = sizeof(linux_names) / sizeof(linux_names[0]);
  if (sig >= 1 && sig <= known)
    return std::string("SIG") + linux_names[sig - 1];
  return "signal " + std::to_string(sig);
}

std::string error_text(int code) {
  wchar_t* buf = nullptr;
  auto n = FormatMessageW(FORMAT_MESSAGE_ALLOCATE_BUFFER
                            | FORMAT_MESSAGE_FROM_SYSTEM
                            | FORMAT_MESSAGE_IGNORE_INSERTS,
                          nullptr, static_cast<DWORD>(code), 0,
                          reinterpret_cast<wchar_t*>(&buf), 0, nullptr);
  std::string text;
  if (n > 0 && buf != nullptr)
    text = win::narrow(std::wstring_view{buf, n});
  if (buf != nullptr)
    LocalFree(buf);
  while (!text.empty()
         && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '
             || text.back() == '.'))
    text.pop_back();
  char code_text[32];
  std::snprintf(code_text, sizeof(code_text), "error %d", code);
  return text.empty() ? std::string{code_text} : text + " (" + code_text + ")";
}

} // namespace procman::platform
