#include "procman/children/executor_cgroups.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "procman/children/process_tree.hpp"
#include "procman/messages/error.hpp"

namespace procman {

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

/// Undoes mountinfo's octal escapes ("\040" for a space).
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      auto oct = s.substr(i + 1, 3);
      if (oct.find_first_not_of("01234567") == std::string::npos) {
        out += static_cast<char>(std::stoi(oct, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

/// The fields after the closing parenthesis of /proc/<pid>/stat (state
/// first); empty when there is no such process.
std::vector<std::string> stat_fields(const std::string& pid) {
  auto text = read_text("/proc/" + pid + "/stat");
  auto close = text.rfind(')');
  std::vector<std::string> fields;
  if (close == std::string::npos)
    return fields;
  std::istringstream in(text.substr(close + 1));
  for (std::string f; in >> f;)
    fields.push_back(f);
  return fields;
}

/// "<pid namespace>-<pid>-<start time>" of a live (not zombie) process;
/// "" when it is gone. Start times are in clock ticks since boot, so the
/// triple names one OS process for the machine's uptime.
std::string process_identity(const std::string& pid) {
  auto fields = stat_fields(pid);
  if (fields.size() < 20 || fields[0] == "Z")
    return {};
  char link[64] = {};
  auto self_ns = ::readlink("/proc/self/ns/pid", link, sizeof(link) - 1);
  std::string ns = self_ns > 0 ? std::string(link, static_cast<size_t>(self_ns))
                               : std::string{};
  // "pid:[4026531836]" -> "4026531836"
  auto digits_at = ns.find('[');
  ns = digits_at == std::string::npos
         ? "0"
         : ns.substr(digits_at + 1, ns.find(']') - digits_at - 1);
  return ns + "-" + pid + "-" + fields[19];
}

std::vector<std::string> subdirectories(const std::string& dir) {
  std::vector<std::string> names;
  if (auto d = ::opendir(dir.c_str())) {
    while (auto e = ::readdir(d)) {
      std::string name = e->d_name;
      if (e->d_type == DT_DIR && name != "." && name != "..")
        names.push_back(name);
    }
    ::closedir(d);
  }
  return names;
}

/// Kills everything in `cg` and below, waits up to two seconds for the
/// processes to die, and removes the cgroups bottom-up.
bool remove_tree(const std::string& cg) {
  if (!executor_cgroups::kill(cg) && !executor_cgroups::empty(cg))
    return false; // not ours to kill
  for (int i = 0; i < 1000 && !executor_cgroups::empty(cg); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  for (auto& sub : subdirectories(cg))
    remove_tree(cg + "/" + sub);
  return executor_cgroups::remove(cg);
}

/// Removes the parents of dead runners of this pid namespace in `dir`.
size_t remove_dead_runners(const std::string& dir) {
  auto own = process_identity(std::to_string(::getpid()));
  auto ns = own.substr(0, own.find('-'));
  size_t removed = 0;
  for (auto& name : subdirectories(dir)) {
    // procman-<ns>-<pid>-<start time>-<n>
    if (name.rfind("procman-", 0) != 0)
      continue;
    auto id = name.substr(8);
    auto first = id.find('-');
    auto second = id.find('-', first + 1);
    auto third = id.find('-', second + 1);
    if (first == std::string::npos || second == std::string::npos
        || third == std::string::npos || id.substr(0, first) != ns)
      continue; // another pid namespace's runner: no telling if it lives
    auto pid = id.substr(first + 1, second - first - 1);
    if (process_identity(pid) == id.substr(0, third))
      continue; // alive
    if (remove_tree(dir + "/" + name))
      ++removed;
  }
  return removed;
}

} // namespace

caf::expected<std::string> own_cgroup_dir() {
  std::string rel;
  {
    std::istringstream in(read_text("/proc/self/cgroup"));
    for (std::string line; std::getline(in, line);)
      if (line.rfind("0::", 0) == 0)
        rel = line.substr(3);
  }
  if (rel.empty())
    return make_error(errc::containment_failure,
                      "no cgroup v2 hierarchy (/proc/self/cgroup has no "
                      "\"0::\" line)");
  std::istringstream in(read_text("/proc/self/mountinfo"));
  for (std::string line; std::getline(in, line);) {
    // id parent major:minor root mount-point options [optional...] - type
    // source super
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string x; fields >> x;)
      f.push_back(x);
    size_t dash = 0;
    while (dash < f.size() && f[dash] != "-")
      ++dash;
    if (f.size() < 5 || dash + 1 >= f.size() || f[dash + 1] != "cgroup2")
      continue;
    auto root = unescape(f[3]);
    auto mount = unescape(f[4]);
    if (root != "/" && rel.rfind(root, 0) != 0)
      continue; // this mount does not show our cgroup
    auto sub = root == "/" ? rel : rel.substr(root.size());
    auto dir = sub == "/" || sub.empty() ? mount : mount + sub;
    struct stat st;
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      continue;
    return dir;
  }
  return make_error(errc::containment_failure,
                    "no cgroup v2 hierarchy mounted that shows this "
                    "process's cgroup "
                      + rel);
}

executor_cgroups::executor_cgroups(std::string dir) : dir_(std::move(dir)) {
  // nop
}

caf::expected<std::unique_ptr<executor_cgroups>> executor_cgroups::create() {
  auto own = own_cgroup_dir();
  if (!own)
    return own.error();
  auto& base = *own;
  // A host may run several engines: each gets its own parent.
  static std::atomic<uint64_t> engines{0};
  auto dir = base + "/procman-" + process_identity(std::to_string(::getpid()))
             + "-" + std::to_string(engines++);
  if (::mkdir(dir.c_str(), 0755) != 0)
    return make_error(errc::containment_failure,
                      "cgroup v2 not writable: cannot create " + dir + ": "
                        + std::strerror(errno),
                      errno);
  if (::access((dir + "/cgroup.kill").c_str(), W_OK) != 0) {
    auto e = errno;
    ::rmdir(dir.c_str());
    return make_error(errc::containment_failure,
                      "cgroup v2 at " + base
                        + " has no writable cgroup.kill (Linux 5.14 or later "
                          "needed): "
                        + std::strerror(e),
                      e);
  }
  std::unique_ptr<executor_cgroups> result{new executor_cgroups(dir)};
  result->removed_at_start_ = remove_dead_runners(base);
  return result;
}

executor_cgroups::~executor_cgroups() {
  remove_tree(dir_);
}

caf::expected<std::string> executor_cgroups::make_child() {
  auto cg = dir_ + "/exec-" + std::to_string(next_++);
  if (::mkdir(cg.c_str(), 0755) != 0)
    return make_error(
      errc::containment_failure,
      "cannot create cgroup " + cg + ": " + std::strerror(errno), errno);
  return cg;
}

caf::error executor_cgroups::move(const std::string& cg, pid_t pid) {
  auto path = cg + "/cgroup.procs";
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  auto text = std::to_string(pid);
  bool ok = fd >= 0
            && ::write(fd, text.data(), text.size())
                 == static_cast<ssize_t>(text.size());
  int saved = errno;
  if (fd >= 0)
    ::close(fd);
  if (ok)
    return {};
  return make_error(errc::containment_failure,
                    "cannot move executor " + text + " into cgroup " + cg + ": "
                      + std::strerror(saved),
                    saved);
}

bool executor_cgroups::kill(const std::string& cg) {
  return write_cgroup_kill((cg + "/cgroup.kill").c_str());
}

bool executor_cgroups::empty(const std::string& cg) {
  int fd = open_events(cg);
  auto result = empty_at(fd);
  if (fd >= 0)
    ::close(fd);
  return result;
}

int executor_cgroups::open_events(const std::string& cg) {
  return ::open((cg + "/cgroup.events").c_str(), O_RDONLY | O_CLOEXEC);
}

bool executor_cgroups::empty_at(int events_fd) {
  if (events_fd < 0)
    return true; // a cgroup that is gone is empty too
  // One read: cgroup.events is a few short lines ("populated 0\nfrozen
  // 0\n"), generated afresh by a read from offset 0.
  char buf[256];
  ssize_t n;
  while ((n = ::pread(events_fd, buf, sizeof buf - 1, 0)) < 0 && errno == EINTR)
    ; // retry
  if (n <= 0)
    return true;
  return std::string_view{buf, static_cast<size_t>(n)}.find("populated 0")
         != std::string_view::npos;
}

bool executor_cgroups::remove(const std::string& cg) {
  return ::rmdir(cg.c_str()) == 0 || errno == ENOENT;
}

} // namespace procman
