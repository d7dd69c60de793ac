// Several OS processes and threads on one store, crashes, map growth, and a
// large store.

#include <atomic>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "persistence/store_fixture.hpp"

using namespace procman;
using namespace procman::test;
using ps = process_status;
using tk = transition_kind;

namespace {

using clock_type = std::chrono::steady_clock;

/// Runs `f` in a forked child that exits with its result. The child never
/// returns into Boost.Test and never runs the parent's destructors.
template <class F>
pid_t fork_child(F f) {
  auto pid = fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    int rc = 98;
    try {
      rc = f();
    } catch (...) {
      rc = 99;
    }
    _exit(rc);
  }
  return pid;
}

/// Exit code of `pid`, or 128 + signal.
int wait_child(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    // retry
  }
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    auto n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

store_options options_for(const std::string& dir, bool no_sync = true) {
  store_options opts;
  opts.dir = dir;
  opts.no_sync = no_sync;
  return opts;
}

/// Log seqs 1..last without gaps or duplicates; returns the entries.
std::vector<log_entry> check_log(store& st) {
  auto entries = must(st.log(0));
  auto last = must(st.stats()).last_seq;
  BOOST_TEST(entries.size() == last);
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].seq != i + 1) {
      BOOST_TEST(entries[i].seq == i + 1);
      break;
    }
  return entries;
}

std::string big_data(size_t bytes) {
  return R"({"blob":")" + std::string(bytes, 'x') + R"("})";
}

} // namespace

BOOST_AUTO_TEST_SUITE(store_processes)

BOOST_AUTO_TEST_CASE(two_processes_write_at_once) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  constexpr int k = 400;
  int go[2];
  BOOST_REQUIRE(pipe(go) == 0);
  std::vector<pid_t> children;
  for (int c = 0; c < 2; ++c) {
    children.push_back(fork_child([&, c] {
      close(go[1]);
      char byte;
      static_cast<void>(read(go[0], &byte, 1)); // EOF: start together
      auto st = store::open(options_for(dir));
      if (!st)
        return 2;
      auto source = "child-" + std::to_string(c);
      for (int i = 0; i < k; ++i) {
        auto t = enqueue_of(spec_json(1));
        t.source = source;
        if (!(*st)->apply(t))
          return 3;
      }
      return 0;
    }));
  }
  close(go[0]);
  close(go[1]);
  for (auto pid : children)
    BOOST_TEST(wait_child(pid) == 0);
  auto st = must(store::open(options_for(dir)));
  auto stats = must(st->stats());
  BOOST_TEST(stats.records == 2u * k);
  BOOST_TEST(stats.queued == 2u * k);
  auto entries = check_log(*st);
  std::set<std::string> pids;
  int per_child[2] = {0, 0};
  size_t switches = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    pids.insert(entries[i].what.pid);
    per_child[entries[i].what.source == "child-1" ? 1 : 0] += 1;
    if (i > 0 && entries[i].what.source != entries[i - 1].what.source)
      ++switches;
  }
  BOOST_TEST(pids.size() == 2u * k);
  BOOST_TEST(per_child[0] == k);
  BOOST_TEST(per_child[1] == k);
  for (auto& pid : pids)
    BOOST_TEST(bool(st->get(pid)));
  BOOST_TEST_MESSAGE("writers took turns " << switches << " times");
  // The queue interleaves both children in commit order.
  auto claimed = must(st->claim("r", 2 * k));
  BOOST_TEST(claimed.size() == 2u * k);
}

BOOST_AUTO_TEST_CASE(kill_9_during_writes_loses_nothing_committed) {
  temp_dir tmp;
  auto dir = tmp.str() + "/store";
  int rep[2];
  BOOST_REQUIRE(pipe(rep) == 0);
  auto child = fork_child([&] {
    close(rep[0]);
    auto st = store::open(options_for(dir, false)); // durable
    if (!st)
      return 2;
    for (uint64_t i = 0;; ++i) {
      auto rec = (*st)->apply(enqueue_of(spec_json(2)));
      if (!rec)
        return 3;
      if (!write_all(rep[1], "Q" + rec->pid + "\n"))
        return 4;
      if (i % 3 == 0) {
        auto claimed = (*st)->claim("crashy", 1);
        if (!claimed || claimed->empty())
          return 5;
        auto fin = make_transition(tk::finish, claimed->front().pid);
        fin.output = R"({"i":)" + std::to_string(i) + "}";
        if (!(*st)->apply(fin))
          return 6;
        if (!write_all(rep[1], "F" + claimed->front().pid + "\n"))
          return 4;
      }
    }
  });
  close(rep[1]);
  std::string reported;
  auto start = clock_type::now();
  char buf[4096];
  while (seconds_since(start) < 0.3) {
    pollfd p{rep[0], POLLIN, 0};
    if (poll(&p, 1, 10) > 0) {
      auto n = read(rep[0], buf, sizeof(buf));
      if (n <= 0)
        break;
      reported.append(buf, static_cast<size_t>(n));
    }
  }
  kill(child, SIGKILL);
  BOOST_TEST(wait_child(child) == 128 + SIGKILL);
  for (;;) {
    auto n = read(rep[0], buf, sizeof(buf));
    if (n <= 0)
      break;
    reported.append(buf, static_cast<size_t>(n));
  }
  close(rep[0]);
  std::vector<std::string> queued;
  std::vector<std::string> finished;
  for (size_t pos = 0; pos + 34 <= reported.size(); pos += 34) {
    auto line = reported.substr(pos, 34);
    BOOST_REQUIRE(line.back() == '\n');
    (line[0] == 'Q' ? queued : finished).push_back(line.substr(1, 32));
  }
  BOOST_TEST_MESSAGE("child committed " << queued.size() << " enqueues and "
                                        << finished.size()
                                        << " finishes before SIGKILL");
  BOOST_REQUIRE(!queued.empty());
  auto st = must(store::open(options_for(dir, false)));
  for (auto& pid : queued)
    BOOST_TEST(bool(st->get(pid)), pid);
  for (auto& pid : finished) {
    auto rec = st->get(pid);
    BOOST_TEST((rec && rec->status == ps::finished), pid);
  }
  auto stats = must(st->stats());
  BOOST_TEST(stats.records >= queued.size());
  check_log(*st);
  // The dead writer's lock is released: writing works.
  must(st->apply(enqueue_of(spec_json())));
}

// The map growing in this process and in another one that this one then
// follows: map_growth.cpp (it runs on Windows too).

BOOST_AUTO_TEST_CASE(threads_share_one_store_while_the_map_grows) {
  temp_dir tmp;
  auto opts = options_for(tmp.str() + "/store");
  opts.initial_map_size = uint64_t{1} << 20;
  auto st = must(store::open(opts));
  constexpr int threads = 4;
  constexpr int per_thread = 300;
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < threads; ++w)
    workers.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) {
        if (!st->apply(enqueue_of(spec_json(1, 0, big_data(2000)))))
          ++failures;
        if (i % 10 == 0 && !st->get(std::string(32, '0')).error())
          ++failures;
        if (i % 25 == 0 && !st->stats())
          ++failures;
      }
    });
  for (auto& w : workers)
    w.join();
  BOOST_TEST(failures.load() == 0);
  BOOST_TEST(must(st->stats()).records == uint64_t{threads * per_thread});
  check_log(*st);
}

BOOST_AUTO_TEST_SUITE_END()

// -- scale --------------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(store_scale)

BOOST_AUTO_TEST_CASE(hundred_thousand_records) {
  temp_dir tmp;
  auto st = must(store::open(options_for(tmp.str() + "/store")));
  constexpr size_t total = 100'000;
  constexpr size_t batch_size = 1000;
  auto spec = spec_json(2);
  std::vector<std::string> pids;
  pids.reserve(total);
  auto start = clock_type::now();
  for (size_t b = 0; b < total / batch_size; ++b) {
    std::vector<transition> batch(batch_size, enqueue_of(spec));
    for (auto& t : batch)
      t.pid = store::make_pid();
    for (auto& r : st->apply(batch)) {
      BOOST_REQUIRE(r);
      pids.push_back(r->pid);
    }
  }
  BOOST_TEST_MESSAGE("enqueued " << total << " in " << seconds_since(start)
                                 << " s");
  auto stats = must(st->stats());
  BOOST_TEST(stats.records == total);
  BOOST_TEST(stats.queued == total);
  BOOST_TEST(stats.last_seq == total);
  start = clock_type::now();
  for (size_t i = 0; i < total; i += 997)
    BOOST_TEST(must(st->get(pids[i])).pid == pids[i]);
  BOOST_TEST_MESSAGE("point reads in " << seconds_since(start) << " s");
  start = clock_type::now();
  BOOST_TEST(must(st->with_status(ps::queued)).size() == total);
  BOOST_TEST_MESSAGE("with_status(queued) in " << seconds_since(start) << " s");
  list_query q;
  q.limit = 10;
  auto newest = must(st->list(q));
  BOOST_TEST(newest.size() == 10u);
  // Claims come from the queue head, in enqueue order.
  start = clock_type::now();
  size_t next = 0;
  bool in_order = true;
  while (next < total) {
    auto got = must(st->claim("bulk", batch_size));
    BOOST_REQUIRE(!got.empty());
    for (auto& rec : got)
      in_order = in_order && rec.pid == pids[next++];
  }
  BOOST_TEST(in_order);
  BOOST_TEST_MESSAGE("claimed " << total << " in " << seconds_since(start)
                                << " s");
  BOOST_TEST(must(st->claim("bulk", 10)).empty());
  stats = must(st->stats());
  BOOST_TEST(stats.queued == 0u);
  BOOST_TEST(stats.last_seq == 2 * total);
  BOOST_TEST(must(st->with_status(ps::running)).size() == total);
  BOOST_TEST(must(st->with_status(ps::queued)).empty());
  list_query running;
  running.any_status = false;
  running.status = ps::running;
  running.limit = 5;
  auto five = must(st->list(running));
  BOOST_REQUIRE(five.size() == 5u);
  BOOST_TEST_MESSAGE("store uses " << stats.used_bytes << " of "
                                   << stats.map_size << " bytes");
}

BOOST_AUTO_TEST_SUITE_END()
