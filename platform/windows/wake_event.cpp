#include "procman/platform/wake_event.hpp"

#include <cstdio>
#include <filesystem>
#include <system_error>

#include "procman/platform/paths.hpp"

#include "win.hpp"

namespace procman::platform {

namespace {

// "Local\procman-wake-<16 hex digits>": FNV-1a over the store's full path
// in UTF-16, upper-cased as the file system compares names, without a
// trailing separator. One store, one name, however it was spelled.
std::wstring event_name(const std::string& store_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto p = fs::weakly_canonical(path_from_utf8(store_dir), ec);
  if (ec)
    p = fs::absolute(path_from_utf8(store_dir), ec);
  auto text = p.make_preferred().native();
  while (text.size() > 3 && text.back() == L'\\')
    text.pop_back();
  if (!text.empty())
    CharUpperBuffW(text.data(), static_cast<DWORD>(text.size()));
  uint64_t hash = 14695981039346656037ull;
  for (wchar_t c : text) {
    hash ^= static_cast<uint16_t>(c);
    hash *= 1099511628211ull;
  }
  wchar_t name[64];
  std::swprintf(name, 64, L"Local\\procman-wake-%016llx",
                static_cast<unsigned long long>(hash));
  return name;
}

} // namespace

void ring(const std::string& store_dir) {
  // Nobody listens when there is no event of that name.
  win::handle event{
    OpenEventW(EVENT_MODIFY_STATE, FALSE, event_name(store_dir).c_str())};
  if (event)
    SetEvent(event.get());
}

struct wake_listener::impl {
  win::handle event;
};

wake_listener::~wake_listener() {
  delete impl_;
}

failure wake_listener::bind(const std::string& store_dir) {
  if (impl_ != nullptr)
    return {errc::store_access, "the wake-up event is bound already"};
  // Auto-reset: a wait that sees it consumes it. The default security of
  // this process's token: this user (and the system) may open it. An
  // existing event of that name (a ringer's handle of a moment ago) is
  // the same event.
  auto name = event_name(store_dir);
  win::handle event{CreateEventW(nullptr, FALSE, FALSE, name.c_str())};
  if (!event)
    return {errc::store_access, "cannot create the wake-up event "
                                  + win::narrow(name) + " for " + store_dir
                                  + ": " + win::last_error_text()};
  impl_ = new impl{std::move(event)};
  return {};
}

bool wake_listener::wait(std::chrono::milliseconds timeout) {
  if (impl_ == nullptr)
    return false;
  auto ms = timeout.count() < 0 ? 0 : static_cast<DWORD>(timeout.count());
  return WaitForSingleObject(impl_->event.get(), ms) == WAIT_OBJECT_0;
}

intptr_t wake_listener::native_handle() const {
  return impl_ == nullptr ? -1 : reinterpret_cast<intptr_t>(impl_->event.get());
}

} // namespace procman::platform
