// A really full disk: the store lives on a small tmpfs mounted by the test
// (root, as here and on CI), which the test fills up with a file of its
// own. A runner without --wait gives up after --give-up-after of failed
// commits (exit 75) with nothing left running, and the next runner queues
// what it had claimed and not started; a waiting runner keeps retrying and
// carries on once space is freed.

#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include "cli_fixture.hpp"

using namespace procman::test;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

/// The exit code of a runner that gave up (EX_TEMPFAIL).
constexpr int gave_up_exit = 75;

struct tmpfs_fixture : cli_fixture {
  std::string disk = tmp.str() + "/disk";
  std::string filler = disk + "/filler";

  tmpfs_fixture() {
    fs::create_directory(disk);
    // Room for the store and its lock files; the rest is for the filler.
    if (::mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=8m,mode=0700") != 0)
      throw std::runtime_error("cannot mount a tmpfs on " + disk + ": "
                               + std::strerror(errno)
                               + " (these tests need root)");
    store = disk + "/store";
  }

  ~tmpfs_fixture() {
    // Detached even if something still has a file open there.
    ::umount2(disk.c_str(), MNT_DETACH);
  }

  /// Writes the filler until the file system says it is full.
  void fill_disk() {
    int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    BOOST_REQUIRE_MESSAGE(fd >= 0,
                          "open " << filler << ": " << std::strerror(errno));
    std::string block(64 << 10, 'f');
    int err = 0;
    for (;;) {
      auto n = ::write(fd, block.data(), block.size());
      if (n < 0) {
        err = errno;
        break;
      }
      if (n < static_cast<ssize_t>(block.size()))
        block.resize(block.size() - static_cast<size_t>(n));
    }
    ::close(fd);
    BOOST_REQUIRE_MESSAGE(err == ENOSPC,
                          "filling the disk: " << std::strerror(err));
  }

  void free_disk() { fs::remove(filler); }

  /// Outside the tmpfs: markers that steps write and the test reads.
  std::string marker(const std::string& name) const {
    return tmp.str() + "/" + name;
  }

  /// Two steps: "big" records where its background child runs, says it
  /// started, waits for `go`, then writes 300 KB to stdout (its output:
  /// on a full disk it cannot be committed, and the executor waits for
  /// that commit before step "after").
  std::string big_output_spec() const {
    auto script = "sleep 300 >/dev/null 2>&1 & echo $! > "
                  + marker("grandchild") + "; touch " + marker("started")
                  + "; while [ ! -e " + marker("go")
                  + " ]; do sleep 0.05; done; head -c 300000 "
                    "/dev/zero | tr '\\0' x";
    json::object big{{"class", "procman.exec"},
                     {"args", {{"command", json::array{"sh", "-c", script}}}}};
    json::object after{{"class", "procman.set"}, {"args", {{"after", true}}}};
    return json::serialize(json::object{
      {"steps", {{"big", big}, {"after", after}}}, {"timeout", 600}});
  }

  pid_t grandchild() const {
    std::ifstream in(marker("grandchild"));
    pid_t pid = 0;
    in >> pid;
    return pid;
  }

  std::string file_text(const std::string& path) const {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), {}};
  }

  bool log_has(background& run, const std::string& text,
               double timeout_s = 60) {
    return eventually([&] { return run.log().find(text) != std::string::npos; },
                      timeout_s);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(full_disk_drain, tmpfs_fixture)

BOOST_AUTO_TEST_CASE(
  a_drain_gives_up_kills_its_children_and_the_next_runner_queues_what_it_did_not_start) {
  // One slot: the first process runs, the two others are claimed ahead.
  auto first = start(big_output_spec());
  std::vector<std::string> ahead;
  for (int i = 0; i < 2; ++i)
    ahead.push_back(
      start(shell_spec("echo x >> " + marker("ran-" + std::to_string(i)))));
  auto run = background_runner({"--parallel", "1", "--give-up-after", "2s"});
  BOOST_REQUIRE_MESSAGE(
    eventually([&] { return fs::exists(marker("started")); }, 60),
    "runner log:\n" + run->log());
  for (auto& pid : ahead)
    BOOST_REQUIRE(await_status(pid, "running", 60));
  auto gc = grandchild();
  BOOST_REQUIRE(gc > 0);
  BOOST_REQUIRE(os_process_alive(gc));
  BOOST_TEST_MESSAGE(
    "the disk fills up; the first process's step ends with 300 KB");
  fill_disk();
  std::ofstream(marker("go")) << "";
  BOOST_REQUIRE_MESSAGE(run->wait(60),
                        "runner still running; log:\n" + run->log());
  auto log = run->log();
  BOOST_TEST_MESSAGE("runner log:\n" << log);
  BOOST_TEST(run->exit_code() == gave_up_exit);
  BOOST_TEST(log.find("gave up: commits failed for ") != std::string::npos);
  BOOST_TEST(log.find("(limit 2s)") != std::string::npos);
  BOOST_TEST(log.find("(store " + store + ")") != std::string::npos);
  BOOST_TEST_MESSAGE(
    "nothing it started is left running, nothing more started");
  BOOST_TEST(eventually([&] { return !os_process_alive(gc); }, 30));
  BOOST_TEST(!fs::exists(marker("ran-0")));
  BOOST_TEST(!fs::exists(marker("ran-1")));
  // Once the 300 KB that did not fit are dropped, the smaller records of
  // what it killed and did not start may fit in pages the store's file
  // already has: then it queued those again itself; else the next runner
  // does (full_disk_marks below).
  BOOST_TEST_MESSAGE("space comes back; the next drain ends the started one "
                     "and runs the others");
  free_disk();
  auto next = runner({"--parallel", "1"});
  BOOST_TEST(next.exit_code == 0, next.err);
  auto info = status(first);
  BOOST_TEST(info.at("status").as_string() == "error");
  BOOST_TEST(info.at("error").at("kind").as_string() == "runner_lost");
  BOOST_TEST(info.at("error").at("step").as_string() == "big");
  for (int i = 0; i < 2; ++i) {
    auto again = status(ahead[static_cast<size_t>(i)]);
    BOOST_TEST(again.at("status").as_string() == "finished",
               json::serialize(again));
    auto& errors = again.at("attempt_errors").as_array();
    BOOST_REQUIRE_EQUAL(errors.size(), 1u);
    BOOST_TEST(errors[0].at("kind").as_string() == "runner_lost");
    BOOST_TEST(std::string(errors[0].at("message").as_string())
                 .find("no step ran, queued again")
               != std::string::npos);
    BOOST_TEST(file_text(marker("ran-" + std::to_string(i))) == "x\n");
  }
}

BOOST_AUTO_TEST_CASE(a_drain_gives_up_after_30_s_by_default) {
  auto pid = start(big_output_spec());
  auto run = background_runner({"--parallel", "1"});
  BOOST_REQUIRE_MESSAGE(
    eventually([&] { return fs::exists(marker("started")); }, 60),
    "runner log:\n" + run->log());
  fill_disk();
  std::ofstream(marker("go")) << "";
  BOOST_REQUIRE_MESSAGE(run->wait(120),
                        "runner still running; log:\n" + run->log());
  BOOST_TEST(run->exit_code() == gave_up_exit);
  BOOST_TEST(run->log().find("(limit 30s)") != std::string::npos, run->log());
  // Once the 300 KB that did not fit are dropped, the kill may be recorded
  // at once; else the next runner records it.
  free_disk();
  BOOST_TEST(runner().exit_code == 0);
  BOOST_TEST(status(pid).at("error").at("kind").as_string() == "runner_lost");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(full_disk_wait, tmpfs_fixture)

BOOST_AUTO_TEST_CASE(
  a_waiting_runner_does_not_give_up_and_carries_on_once_space_is_freed) {
  auto run = background_runner({"--wait", "--parallel", "1"});
  auto pid = start(big_output_spec());
  BOOST_REQUIRE_MESSAGE(
    eventually([&] { return fs::exists(marker("started")); }, 60),
    "runner log:\n" + run->log());
  fill_disk();
  std::ofstream(marker("go")) << "";
  BOOST_TEST_MESSAGE("commits fail for longer than a drain's default limit");
  // "still cannot commit (N attempts in 35.1 s, ...)": at most every 5 s.
  std::regex still{R"(still cannot commit \(\d+ attempts in (\d+)\.\d s)"};
  auto failing_s = [&] {
    auto log = run->log();
    int most = 0;
    for (std::sregex_iterator i{log.begin(), log.end(), still}, end; i != end;
         ++i)
      most = std::max(most, std::stoi((*i)[1].str()));
    return most;
  };
  BOOST_REQUIRE_MESSAGE(eventually([&] { return failing_s() >= 35; }, 120),
                        "runner log:\n" + run->log());
  BOOST_TEST(run->running());
  BOOST_TEST(run->log().find("gave up") == std::string::npos);
  BOOST_TEST(status_of(pid) == "running");
  BOOST_TEST_MESSAGE("space comes back: the process goes on and finishes");
  free_disk();
  BOOST_REQUIRE_MESSAGE(await_status(pid, "finished", 60),
                        "runner log:\n" + run->log());
  auto info = status(pid);
  BOOST_TEST(info.at("output").at("after").as_bool());
  BOOST_TEST(info.at("output").at("stdout").as_string().size() == 300000u);
  BOOST_TEST(log_has(*run, "commits succeed again"));
  run->signal(SIGTERM);
  BOOST_REQUIRE(run->wait(30));
  BOOST_TEST(run->exit_code() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
