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

} // namespace procman::platform
