#include "procman/persistence/started_marks.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "procman/messages/failure.hpp"
#include "procman/persistence/file_lock.hpp"

namespace procman {

namespace {

/// Past this size the file is rewritten with the live processes only.
constexpr size_t compact_bytes = 1 << 20;

constexpr std::string_view suffix = ".started";

std::string marks_path(const std::string& store_dir,
                       const std::string& runner_id) {
  return store_dir + "/runners/" + runner_id + std::string{suffix};
}

/// This boot's id; empty when the kernel does not say.
std::string boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

/// The first line (without its newline) of marks written in boot `id`.
std::string header_for(const std::string& id) {
  return "procman-started 1 " + id;
}

bool write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

} // namespace

started_marks::started_marks(std::string path, int fd, std::string header)
  : path_(std::move(path)), fd_(fd), header_(std::move(header)) {
  bytes_ = header_.size();
}

outcome<std::unique_ptr<started_marks>>
started_marks::create(const std::string& store_dir,
                      const std::string& runner_id) {
  auto path = marks_path(store_dir, runner_id);
  int fd = ::open(path.c_str(),
                  O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_failure(errc::store_access,
                        "cannot create " + path + ": " + std::strerror(errno));
  auto header = header_for(boot_id()) + "\n";
  if (!write_all(fd, header)) {
    auto e = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return make_failure(errc::store_access,
                        "cannot write " + path + ": " + std::strerror(e));
  }
  return std::unique_ptr<started_marks>(
    new started_marks(std::move(path), fd, std::move(header)));
}

started_marks::~started_marks() {
  if (fd_ >= 0)
    ::close(fd_);
  if (!keep_)
    ::unlink(path_.c_str());
}

void started_marks::keep() {
  keep_ = true;
}

void started_marks::add(const std::string& pid) {
  if (fd_ < 0)
    return;
  auto line = pid + "\n";
  if (write_all(fd_, line)) {
    bytes_ += line.size();
    return;
  }
  // A partial list would pass a started record off as unstarted: keep
  // none (a file without its header is not trusted), and stop marking.
  if (::ftruncate(fd_, 0) != 0) {
    // nop: the unlink below still leaves nothing to trust
  }
  ::close(fd_);
  fd_ = -1;
  ::unlink(path_.c_str());
}

bool started_marks::full() const {
  return fd_ >= 0 && bytes_ >= compact_bytes;
}

void started_marks::rewrite(const std::vector<std::string>& live) {
  if (fd_ < 0)
    return;
  // A new file beside, renamed over the old one: a recovering runner reads
  // the old list or the new one, never a part.
  auto tmp = path_ + ".new";
  int fd = ::open(tmp.c_str(),
                  O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0)
    return; // keep appending to the old file
  std::string text = header_;
  for (auto& pid : live)
    text += pid + "\n";
  if (!write_all(fd, text) || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return;
  }
  ::close(fd_);
  fd_ = fd;
  bytes_ = text.size();
}

std::optional<std::unordered_set<std::string>>
read_started_marks(const std::string& store_dir, const std::string& runner_id) {
  std::ifstream in(marks_path(store_dir, runner_id));
  std::string header;
  if (!in || !std::getline(in, header))
    return std::nullopt;
  // Written in this boot, which the kernel names.
  auto id = boot_id();
  if (id.empty() || header != header_for(id))
    return std::nullopt;
  std::unordered_set<std::string> pids;
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      pids.insert(line);
  return pids;
}

size_t remove_dead_started_marks(const std::string& store_dir) {
  auto dir = store_dir + "/runners";
  auto d = opendir(dir.c_str());
  if (d == nullptr)
    return 0;
  std::vector<std::string> runners;
  auto ends_with = [](std::string_view s, std::string_view tail) {
    return s.size() > tail.size() && s.substr(s.size() - tail.size()) == tail;
  };
  while (auto entry = readdir(d)) {
    std::string_view name{entry->d_name};
    // A rewrite cut short by a kill leaves "<id>.started.new" behind.
    if (ends_with(name, ".new"))
      name.remove_suffix(4);
    if (ends_with(name, suffix))
      runners.emplace_back(name.substr(0, name.size() - suffix.size()));
  }
  closedir(d);
  size_t removed = 0;
  for (auto& runner : runners) {
    if (runner_alive(store_dir, runner))
      continue;
    auto path = marks_path(store_dir, runner);
    ::unlink((path + ".new").c_str());
    if (::unlink(path.c_str()) == 0)
      ++removed;
  }
  return removed;
}

} // namespace procman
