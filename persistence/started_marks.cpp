#include "procman/persistence/started_marks.hpp"

#include <cerrno>
#include <fstream>

#include "procman/messages/failure.hpp"
#include "procman/persistence/file_lock.hpp"
#include "procman/platform/files.hpp"
#include "procman/platform/paths.hpp"
#include "procman/platform/system.hpp"

namespace procman {

namespace {

/// Past this size the file is rewritten with the live processes only.
constexpr size_t compact_bytes = 1 << 20;

constexpr std::string_view suffix = ".started";

std::string marks_path(const std::string& store_dir,
                       const std::string& runner_id) {
  return store_dir + "/runners/" + runner_id + std::string{suffix};
}

/// The first line (without its newline) of marks written in boot `id`.
std::string header_for(const std::string& id) {
  return "procman-started 1 " + id;
}

} // namespace

started_marks::started_marks(std::string path, platform::append_file file,
                             std::string header)
  : path_(std::move(path)), file_(std::move(file)), header_(std::move(header)) {
  bytes_ = header_.size();
}

outcome<std::unique_ptr<started_marks>>
started_marks::create(const std::string& store_dir,
                      const std::string& runner_id) {
  auto path = marks_path(store_dir, runner_id);
  auto file = platform::append_file::create(path);
  if (!file)
    return file.error();
  auto header = header_for(platform::boot_id()) + "\n";
  if (!file->append(header)) {
    auto e = errno;
    file->close();
    platform::remove_file(path);
    return make_failure(errc::store_access, "cannot write " + path + ": "
                                              + platform::error_text(e));
  }
  return std::unique_ptr<started_marks>(
    new started_marks(std::move(path), std::move(*file), std::move(header)));
}

started_marks::~started_marks() {
  file_.close();
  if (!keep_)
    platform::remove_file(path_);
}

void started_marks::keep() {
  keep_ = true;
}

void started_marks::add(const std::string& pid) {
  if (!file_.is_open())
    return;
  auto line = pid + "\n";
  if (file_.append(line)) {
    bytes_ += line.size();
    return;
  }
  // A partial list would pass a started record off as unstarted: keep
  // none (a file without its header is not trusted), and stop marking.
  file_.truncate();
  file_.close();
  platform::remove_file(path_);
}

bool started_marks::full() const {
  return file_.is_open() && bytes_ >= compact_bytes;
}

void started_marks::rewrite(const std::vector<std::string>& live) {
  if (!file_.is_open())
    return;
  // A new file beside, renamed over the old one: a recovering runner reads
  // the old list or the new one, never a part.
  auto tmp = path_ + ".new";
  auto fresh = platform::append_file::create(tmp);
  if (!fresh)
    return; // keep appending to the old file
  std::string text = header_;
  for (auto& pid : live)
    text += pid + "\n";
  if (!fresh->append(text) || !platform::replace_file(tmp, path_)) {
    fresh->close();
    platform::remove_file(tmp);
    return;
  }
  file_ = std::move(*fresh);
  bytes_ = text.size();
}

std::optional<std::unordered_set<std::string>>
read_started_marks(const std::string& store_dir, const std::string& runner_id) {
  std::ifstream in(platform::path_from_utf8(marks_path(store_dir, runner_id)));
  std::string header;
  if (!in || !std::getline(in, header))
    return std::nullopt;
  // Written in this boot, which the kernel names.
  auto id = platform::boot_id();
  if (id.empty() || header != header_for(id))
    return std::nullopt;
  std::unordered_set<std::string> pids;
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      pids.insert(line);
  return pids;
}

size_t remove_dead_started_marks(const std::string& store_dir) {
  std::vector<std::string> runners;
  auto ends_with = [](std::string_view s, std::string_view tail) {
    return s.size() > tail.size() && s.substr(s.size() - tail.size()) == tail;
  };
  for (auto& entry : platform::directory_names(store_dir + "/runners")) {
    std::string_view name{entry};
    // A rewrite cut short by a kill leaves "<id>.started.new" behind.
    if (ends_with(name, ".new"))
      name.remove_suffix(4);
    if (ends_with(name, suffix))
      runners.emplace_back(name.substr(0, name.size() - suffix.size()));
  }
  size_t removed = 0;
  for (auto& runner : runners) {
    if (runner_alive(store_dir, runner))
      continue;
    auto path = marks_path(store_dir, runner);
    platform::remove_file(path + ".new");
    if (platform::remove_file(path))
      ++removed;
  }
  return removed;
}

} // namespace procman
