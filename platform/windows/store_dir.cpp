#include "procman/platform/store_dir.hpp"

#include <cstdlib>
#include <filesystem>
#include <system_error>

#include <aclapi.h>

#include "procman/platform/paths.hpp"

#include "win.hpp"

namespace procman::platform {

namespace {

// Rights that let a holder put files into the directory, replace or remove
// what is there, or change who may: what would let someone plant records.
constexpr ACCESS_MASK write_rights = FILE_ADD_FILE | FILE_ADD_SUBDIRECTORY
                                     | FILE_DELETE_CHILD | DELETE | WRITE_DAC
                                     | WRITE_OWNER | GENERIC_WRITE
                                     | GENERIC_ALL;

bool is_well_known(PSID sid, WELL_KNOWN_SID_TYPE type) {
  return IsWellKnownSid(sid, type) != FALSE;
}

// Accounts that may write a private store besides its user: the system
// and the administrators (who can take any file anyway), and "creator
// owner" (stands for whoever creates a file below: this user).
bool trusted(PSID sid, PSID me) {
  return (me != nullptr && EqualSid(sid, me))
         || is_well_known(sid, WinLocalSystemSid)
         || is_well_known(sid, WinBuiltinAdministratorsSid)
         || is_well_known(sid, WinCreatorOwnerSid);
}

} // namespace

std::string default_store_dir() {
  if (auto v = _wgetenv(L"LOCALAPPDATA"); v != nullptr && *v != L'\0')
    return win::narrow(v) + "\\procman";
  if (auto v = _wgetenv(L"USERPROFILE"); v != nullptr && *v != L'\0')
    return win::narrow(v) + "\\AppData\\Local\\procman";
  return {};
}

std::string last_resort_store_dir() {
  // GetTempPathW: %TMP%, %TEMP%, %USERPROFILE% or the Windows directory;
  // the user's name keeps two users' stores apart where they share it.
  wchar_t temp[MAX_PATH + 1];
  auto n = GetTempPathW(MAX_PATH + 1, temp);
  std::wstring dir = n > 0 && n <= MAX_PATH ? std::wstring(temp, n) : L"C:\\";
  wchar_t user[256];
  DWORD size = 256;
  std::wstring name = GetUserNameW(user, &size) ? std::wstring(user) : L"user";
  return win::narrow(dir + L"procman-" + name);
}

failure create_private_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  auto path = path_from_utf8(dir);
  std::error_code ec;
  if (fs::exists(path, ec))
    return {};
  auto fail = [&](const std::string& why) {
    return failure{errc::store_access,
                   "cannot create store directory " + dir + ": " + why};
  };
  if (auto parent = path.parent_path(); !parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec)
      return fail(ec.message());
  }
  win::owner_only_security security;
  if (security.attributes() == nullptr)
    return fail("cannot build its permissions: " + win::last_error_text());
  if (!CreateDirectoryW(path.c_str(), security.attributes())
      && GetLastError() != ERROR_ALREADY_EXISTS)
    return fail(win::last_error_text());
  return {};
}

failure check_private_dir(const std::string& dir) {
  auto refuse = [&](const std::string& why) {
    return failure{errc::store_access,
                   "store " + dir + " " + why + "; refusing to use it"};
  };
  PSID owner = nullptr;
  PACL dacl = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  auto rc = GetNamedSecurityInfoW(path_from_utf8(dir).c_str(), SE_FILE_OBJECT,
                                  OWNER_SECURITY_INFORMATION
                                    | DACL_SECURITY_INFORMATION,
                                  &owner, nullptr, &dacl, nullptr, &sd);
  if (rc != ERROR_SUCCESS)
    return {errc::store_access, "cannot read the permissions of store " + dir
                                  + ": " + error_text(static_cast<int>(rc))};
  struct free_sd {
    PSECURITY_DESCRIPTOR sd;
    ~free_sd() { LocalFree(sd); }
  } guard{sd};
  win::current_user me;
  if (owner == nullptr
      || !(trusted(owner, me.sid())
           && !is_well_known(owner, WinCreatorOwnerSid)))
    return refuse("is owned by " + (owner ? win::account_name(owner) : "nobody")
                  + ", not by "
                  + (me.sid() ? win::account_name(me.sid()) : "this user"));
  if (dacl == nullptr)
    return refuse("has no access control list (everyone may write it)");
  for (DWORD i = 0; i < dacl->AceCount; ++i) {
    void* ace = nullptr;
    if (!GetAce(dacl, i, &ace))
      continue;
    auto header = static_cast<ACE_HEADER*>(ace);
    if (header->AceType != ACCESS_ALLOWED_ACE_TYPE)
      continue; // deny entries only take rights away
    auto allowed = static_cast<ACCESS_ALLOWED_ACE*>(ace);
    auto sid = static_cast<PSID>(&allowed->SidStart);
    // Entries that only pass on to what is created below count as well:
    // the store's files would get them.
    if ((allowed->Mask & write_rights) != 0 && !trusted(sid, me.sid()))
      return refuse("may be written by " + win::account_name(sid)
                    + " (an entry of its access control list)");
  }
  return {};
}

namespace {

/// Opens `path` (a file, or a directory with `directory`) with
/// `disposition`, never through a symbolic link: the reparse point itself
/// is opened, then refused. `what` names it in errors ("store file").
outcome<win::handle> open_no_link(const std::string& path, DWORD disposition,
                                  bool directory, const std::string& what) {
  win::owner_only_security security;
  auto flags = FILE_FLAG_OPEN_REPARSE_POINT
               | (directory ? FILE_FLAG_BACKUP_SEMANTICS
                            : FILE_ATTRIBUTE_NORMAL);
  win::handle h{
    CreateFileW(path_from_utf8(path).c_str(),
                directory ? FILE_READ_ATTRIBUTES : GENERIC_READ | GENERIC_WRITE,
                FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                security.attributes(), disposition, flags, nullptr)};
  if (!h)
    return make_failure(errc::store_access, "cannot open " + what + " " + path
                                              + ": " + win::last_error_text());
  BY_HANDLE_FILE_INFORMATION info;
  if (!GetFileInformationByHandle(h.get(), &info))
    return make_failure(errc::store_access, "cannot open " + what + " " + path
                                              + ": " + win::last_error_text());
  if ((info.dwFileAttributes & FILE_ATTRIBUTE_REPARSE_POINT) != 0)
    return make_failure(errc::store_access, what + " " + path
                                              + " is a symbolic link; "
                                                "refusing to use it");
  bool is_dir = (info.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) != 0;
  if (is_dir != directory)
    return make_failure(errc::store_access,
                        what + " " + path
                          + (directory
                               ? " is not a directory"
                               : " is not a regular file; refusing to use it"));
  return h;
}

} // namespace

outcome<file_identity> open_private_dir(const std::string& dir) {
  if (auto err = create_private_dir(dir))
    return err;
  auto h = open_no_link(dir, OPEN_EXISTING, true, "store directory");
  if (!h)
    return h.error();
  if (auto err = check_private_dir(dir))
    return err;
  BY_HANDLE_FILE_INFORMATION info;
  if (!GetFileInformationByHandle(h->get(), &info))
    return make_failure(errc::store_access, "cannot open store directory " + dir
                                              + ": " + win::last_error_text());
  return file_identity{info.dwVolumeSerialNumber,
                       (static_cast<uint64_t>(info.nFileIndexHigh) << 32)
                         | info.nFileIndexLow};
}

failure prepare_private_file(const std::string& path) {
  // Created for its owner alone; an existing file has what the store
  // directory (checked before) passed on to it.
  auto h = open_no_link(path, OPEN_ALWAYS, false, "store file");
  if (!h)
    return h.error();
  return {};
}

failure prepare_private_subdir(const std::string& dir) {
  win::owner_only_security security;
  if (!CreateDirectoryW(path_from_utf8(dir).c_str(), security.attributes())
      && GetLastError() != ERROR_ALREADY_EXISTS)
    return make_failure(errc::store_access,
                        "cannot create " + dir + ": " + win::last_error_text());
  auto h = open_no_link(dir, OPEN_EXISTING, true, "directory");
  if (!h)
    return h.error();
  return {};
}

void keep_from_children(const std::string&, intptr_t) {
  // nop: LMDB opens its files without inheritable handles, and executors
  // inherit only the handles given to them (platform/child.hpp).
}

} // namespace procman::platform
