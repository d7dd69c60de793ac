// The store node's work endpoint in-process, over a real engine and store:
// what it accepts under a lease, and what it refuses once the lease is
// lost (the fencing that keeps a late worker from committing).

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "procman/distribution/remote_store.hpp"
#include "procman/distribution/work_endpoint.hpp"

#include "engine/engine_helpers.hpp"
#include "fixtures/background.hpp"

using namespace procman;
using namespace procman::test;

namespace {

const std::string two_steps
  = R"({"steps": {"first": {"class": "procman.set", "args": {}},
  "second": {"class": "procman.set", "args": {}}}})";

struct endpoint_fixture : actor_system_fixture {
  std::unique_ptr<engine> eng;
  work_endpoint_gate ep;
  caf::actor link;

  endpoint_fixture() {
    engine_options opts;
    opts.store_dir = tmp.str() + "/store";
    opts.exec_path = bin("procman-exec");
    opts.wait = true;
    opts.local_work = false; // only the "worker" below claims
    auto e = engine::start(*sys, opts);
    BOOST_REQUIRE_MESSAGE(e, "engine::start: " << (e ? "" : render(e.error())));
    eng = std::move(*e);
    link = sys->spawn([](caf::event_based_actor*) -> caf::behavior {
      return {[](atom::wakeup) {}, [](atom::cancel, const std::string&) {}};
    });
  }

  ~endpoint_fixture() {
    caf::anon_send_exit(ep, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(link, caf::exit_reason::user_shutdown);
  }

  void spawn_endpoint(uint32_t lease_ms, uint32_t exec_lease_ms = 0) {
    endpoint_options eo;
    eo.store_dir = tmp.str() + "/store";
    eo.lease_ms = lease_ms;
    eo.exec_lease_ms = exec_lease_ms;
    ep = sys->spawn(work_endpoint, eo, eng->manager(), eng->store(),
                    eng->supervisor());
  }

  /// The answer to `xs`, or the error.
  template <class T, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    caf::expected<T> result{caf::sec::none};
    caf::scoped_actor self{*sys};
    self->request(ep, std::chrono::seconds(60), std::forward<Ts>(xs)...)
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  lease_grant join(const std::string& node = "worker-a") {
    node_hello h;
    h.node_id = node;
    h.host = "localhost";
    h.parallel = 1;
    auto g = ask<lease_grant>(atom::join_v, h, link);
    BOOST_REQUIRE_MESSAGE(g, (g ? "" : render(g.error())));
    return *g;
  }

  std::string start(const std::string& spec) {
    auto pid = ask<std::string>(start_request{test_spec(spec), {}, {}});
    BOOST_REQUIRE(pid);
    return *pid;
  }

  process_record info(const std::string& pid) {
    auto rec = ask<process_record>(status_request{pid});
    BOOST_REQUIRE(rec);
    return *rec;
  }

  transition step(transition_kind kind, const std::string& pid, uint32_t i) {
    transition t;
    t.kind = kind;
    t.pid = pid;
    t.source = "supervisor";
    t.step = i;
    return t;
  }

  static void refused(const caf::error& err, const std::string& holder) {
    BOOST_TEST(is(err, errc::lease_expired), render(err));
    BOOST_TEST(render(err).find("the lease " + holder + " is not current")
                 != std::string::npos,
               render(err));
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(work_endpoint_leases, endpoint_fixture)

BOOST_AUTO_TEST_CASE(
  a_lost_lease_can_neither_claim_nor_commit_and_its_process_ends_as_node_lost) {
  spawn_endpoint(60000);
  auto g = join();
  BOOST_TEST(g.holder.rfind("worker-a@", 0) == 0);
  auto pid = start(two_steps);
  auto other = start(two_steps);
  auto claimed = ask<std::vector<process_record>>(atom::claim_v, g.holder,
                                                  uint32_t{1});
  BOOST_REQUIRE(claimed);
  BOOST_REQUIRE_EQUAL(claimed->size(), 1u);
  BOOST_TEST(claimed->front().pid == pid);
  BOOST_TEST(info(pid).runner == g.holder);
  // Under the live lease: its own process only.
  auto done = ask<process_record>(atom::apply_v, g.holder,
                                  step(transition_kind::step_started, pid, 0));
  BOOST_REQUIRE_MESSAGE(done, (done ? "" : render(done.error())));
  done = ask<process_record>(atom::apply_v, g.holder,
                             step(transition_kind::step_completed, pid, 0));
  BOOST_REQUIRE_MESSAGE(done, (done ? "" : render(done.error())));
  BOOST_TEST(done->last_completed == 0);
  auto foreign = ask<process_record>(
    atom::apply_v, g.holder, step(transition_kind::step_started, other, 0));
  BOOST_REQUIRE(!foreign);
  BOOST_TEST(is(foreign.error(), errc::lease_expired));
  BOOST_TEST(to_string(info(other).status) == "queued");
  // Lost: nothing more under it.
  BOOST_REQUIRE(ask<caf::ok_atom>(atom::leave_v, g.holder));
  auto late = ask<process_record>(atom::apply_v, g.holder,
                                  step(transition_kind::step_started, pid, 1));
  BOOST_REQUIRE(!late);
  refused(late.error(), g.holder);
  auto claim = ask<std::vector<process_record>>(atom::claim_v, g.holder,
                                                uint32_t{1});
  BOOST_REQUIRE(!claim);
  refused(claim.error(), g.holder);
  auto beat = ask<caf::ok_atom>(atom::heartbeat_v, g.holder);
  BOOST_REQUIRE(!beat);
  refused(beat.error(), g.holder);
  BOOST_REQUIRE(
    eventually([&] { return info(pid).status == process_status::error; }, 60));
  auto rec = info(pid);
  BOOST_TEST(to_string(rec.error.kind) == "node_lost");
  BOOST_TEST(rec.error.step == "second");
  BOOST_TEST(rec.error.message.find("node worker-a lost (it left)")
               != std::string::npos,
             rec.error.message);
  BOOST_TEST(rec.last_completed == 0);
  BOOST_TEST(to_string(info(other).status) == "queued");
  // A new lease of the same node claims the rest.
  auto g2 = join();
  BOOST_TEST(g2.holder != g.holder);
  claimed = ask<std::vector<process_record>>(atom::claim_v, g2.holder,
                                             uint32_t{5});
  BOOST_REQUIRE(claimed);
  BOOST_REQUIRE_EQUAL(claimed->size(), 1u);
  BOOST_TEST(claimed->front().pid == other);
}

BOOST_AUTO_TEST_CASE(
  a_workers_transitions_commit_in_the_order_its_process_actor_sent_them) {
  // A worker's process actor sends the transitions it held as one batch,
  // then at once its finish. The batch goes on as single applies; were
  // they queued behind the finish, the finish would end the process with
  // its step never started, and the late ones would be refused.
  spawn_endpoint(60000);
  auto g = join();
  auto store = sys->spawn(remote_store,
                          caf::actor_cast<work_endpoint_actor>(ep), g.holder);
  for (int round = 0; round < 20; ++round) {
    auto pid = start(R"({"steps": {"s": {"class": "procman.set"}}})");
    auto claimed = ask<std::vector<process_record>>(atom::claim_v, g.holder,
                                                    uint32_t{1});
    BOOST_REQUIRE(claimed);
    BOOST_REQUIRE_EQUAL(claimed->size(), 1u);
    BOOST_REQUIRE(claimed->front().pid == pid);
    std::vector<transition> held{step(transition_kind::start, pid, 0),
                                 step(transition_kind::step_started, pid, 0),
                                 step(transition_kind::step_completed, pid, 0)};
    auto finish = step(transition_kind::finish, pid, 0);
    finish.output = "{}";
    caf::scoped_actor self{*sys};
    // Both sent before either is answered, as the process actor does.
    auto batch = self->request(store, std::chrono::seconds(60), atom::apply_v,
                               atom::flush_v, std::move(held));
    auto last = self->request(store, std::chrono::seconds(60), atom::apply_v,
                              std::move(finish));
    batch.receive(
      [&](const std::vector<process_record>& recs) {
        BOOST_TEST(recs.size() == 3u);
      },
      [&](const caf::error& err) { BOOST_FAIL(render(err)); });
    last.receive(
      [&](const process_record& rec) {
        BOOST_TEST(to_string(rec.status) == "finished");
      },
      [&](const caf::error& err) { BOOST_FAIL(render(err)); });
    auto rec = info(pid);
    BOOST_TEST(to_string(rec.status) == "finished");
    BOOST_TEST(rec.last_completed == 0, "round " << round);
    BOOST_REQUIRE_EQUAL(rec.step_states.size(), 1u);
    BOOST_TEST((rec.step_states[0] == step_status::completed),
               "round " << round);
  }
  caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(
  a_lease_that_is_not_renewed_runs_out_and_one_that_is_renewed_does_not) {
  // A lease long beside the renewals (every 200 ms): a test thread the
  // system does not run for a moment (a loaded machine) lets no renewed
  // lease run out.
  spawn_endpoint(4000);
  auto silent = join("silent");
  auto renewed = join("renewed");
  auto a = start(two_steps);
  auto b = start(two_steps);
  BOOST_REQUIRE(ask<std::vector<process_record>>(atom::claim_v, silent.holder,
                                                 uint32_t{1}));
  BOOST_REQUIRE(ask<std::vector<process_record>>(atom::claim_v, renewed.holder,
                                                 uint32_t{1}));
  BOOST_TEST(info(a).runner == silent.holder);
  BOOST_TEST(info(b).runner == renewed.holder);
  auto lost = [&] { return info(a).status == process_status::error; };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!lost()) {
    BOOST_REQUIRE(ask<caf::ok_atom>(atom::heartbeat_v, renewed.holder));
    BOOST_REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // Renewed all along: its lease holds, and its process runs.
  BOOST_TEST(
    static_cast<bool>(ask<caf::ok_atom>(atom::heartbeat_v, renewed.holder)));
  BOOST_TEST(to_string(info(b).status) == "running");
  auto rec = info(a);
  BOOST_TEST(to_string(rec.error.kind) == "node_lost");
  BOOST_TEST(rec.error.step == "first");
  BOOST_TEST(rec.error.message.find("node silent lost (no heartbeat for")
               != std::string::npos,
             rec.error.message);
}

BOOST_AUTO_TEST_CASE(
  a_closed_connection_ends_a_lease_only_once_its_executors_have_ended) {
  spawn_endpoint(6000, 2500);
  auto g = join();
  BOOST_TEST(g.exec_lease_ms == 2500u);
  auto pid = start(two_steps);
  BOOST_REQUIRE(
    ask<std::vector<process_record>>(atom::claim_v, g.holder, uint32_t{1}));
  BOOST_REQUIRE(ask<caf::ok_atom>(atom::heartbeat_v, g.holder));
  auto heard = std::chrono::steady_clock::now();
  // The worker may still run its executors: they end 2.5 s after the
  // renewal it sent last, plus the time to kill them.
  caf::anon_send_exit(link, caf::exit_reason::kill);
  BOOST_REQUIRE(
    eventually([&] { return info(pid).status == process_status::error; }, 60));
  auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::steady_clock::now() - heard)
                 .count();
  BOOST_TEST(after >= 2500 + int64_t{defaults::exec_kill_ms},
             "lost after " << after << " ms");
  auto rec = info(pid);
  BOOST_TEST(to_string(rec.error.kind) == "node_lost");
  BOOST_TEST(rec.error.message.find("node worker-a lost (its connection closed")
               != std::string::npos,
             rec.error.message);
  // Nothing more is accepted under it.
  auto late = ask<process_record>(atom::apply_v, g.holder,
                                  step(transition_kind::step_started, pid, 1));
  BOOST_REQUIRE(!late);
  refused(late.error(), g.holder);
}

BOOST_AUTO_TEST_CASE(
  a_store_node_grants_executor_leases_that_end_before_the_node_lease) {
  auto granted = [](uint32_t lease, uint32_t exec) {
    auto b = node_exec_lease(lease, exec);
    return b ? std::to_string(*b) : render(b.error());
  };
  BOOST_TEST(granted(10000, 0) == "5000");
  BOOST_TEST(granted(3000, 0) == "1500");
  BOOST_TEST(granted(60000, 0) == "10000");
  BOOST_TEST(granted(10000, 8000) == "8000");
  BOOST_TEST(granted(10000, 4000) == "4000");
  BOOST_TEST(granted(2000, 0)
             == "--lease 2 s is too short: a worker node's executors get half "
                "of it (1 s) and up to 1 s to be killed, which must end before "
                "the lease does; give --lease 3 or more");
  BOOST_TEST(granted(10000, 9000)
             == "--exec-lease 9 s does not fit --lease 10 s: a worker node's "
                "executors may live 9 s after the last renewal its store node "
                "confirmed, and up to 1 s more to be killed, which must end "
                "before the store node declares the node lost and may run its "
                "processes again (10 s after that renewal); give a shorter "
                "--exec-lease or a longer --lease");
  BOOST_TEST(granted(10000, 3000)
             == "--exec-lease 3 s does not fit --lease 10 s: a worker node "
                "renews its lease every 2 s, and its executors must live "
                "through two renewals; give --exec-lease 4 s or more");
}

BOOST_AUTO_TEST_CASE(a_node_id_that_cannot_be_a_file_name_is_refused) {
  spawn_endpoint(60000);
  node_hello h;
  h.node_id = "../evil";
  auto g = ask<lease_grant>(atom::join_v, h, link);
  BOOST_REQUIRE(!g);
  BOOST_TEST(is(g.error(), errc::invalid_argument));
  BOOST_TEST(render(g.error()).find("\"../evil\"") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
