#include "procman/engine/engine.hpp"

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include <boost/json.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "procman/actors/manager.hpp"
#include "procman/actors/process.hpp"
#include "procman/actors/queue.hpp"
#include "procman/actors/store_service.hpp"
#include "procman/actors/supervisor.hpp"
#include "procman/children/child_service.hpp"
#include "procman/engine/containment.hpp"
#include "procman/logging/logger.hpp"
#include "procman/messages/defaults.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/units.hpp"
#include "procman/persistence/file_lock.hpp"
#include "procman/persistence/started_marks.hpp"
#include "procman/persistence/store.hpp"
#include "procman/platform/paths.hpp"
#include "procman/platform/programs.hpp"
#include "procman/platform/system.hpp"
#include "procman/platform/wake_event.hpp"
#include "procman/steps/step_registry.hpp"

namespace procman {

namespace {

/// How often active processes re-read their records (cancels requested by
/// other OS processes) and, with `wait`, how often lost runners are looked for.
constexpr auto check_interval
  = std::chrono::milliseconds(defaults::record_check_interval_ms);
constexpr auto recover_interval
  = std::chrono::seconds(defaults::recover_interval_s);
/// How long `procman-exec --check` may take at start-up (a loaded machine).
constexpr auto executor_check_timeout
  = std::chrono::seconds(defaults::executor_check_timeout_s);

/// Finds the executor as the child service will run it: a bare name is
/// looked up in $PATH (posix_spawn does not search). Returns the path, or
/// an error naming what is wrong.
caf::expected<std::string> resolve_executor(const std::string& path) {
  std::string found = path;
  if (platform::is_bare_program_name(path)) {
    found = platform::find_in_path(path);
    if (found.empty()) {
      auto self = platform::this_program_path();
      return make_error(errc::spawn_failure,
                        "no executor: \"" + path + "\" is not beside "
                          + (self.empty() ? std::string{"this program"} : self)
                          + " and not in $PATH; give --exec PATH or set "
                            "PROCMAN_EXEC");
    }
  }
  if (auto refused = platform::check_program(found))
    return make_error(errc::spawn_failure, "executor " + refused.context,
                      os_errno(refused));
  return found;
}

/// What an executor said it can do besides "ok" (its --check --serve).
struct executor_abilities {
  bool serves = false; ///< "serve": it can be a fork server
  bool leases = false; ///< "lease": it holds a lease (docs/protocol.md)
};

/// Runs `exec --check --step-lib ...` once: the executor starts and loads
/// every step library. Returns an error with the executor's reason when it
/// does not answer "ok" with exit code 0.
caf::error check_executor(executor_launcher& children, const std::string& exec,
                          const std::string& step_libs,
                          executor_abilities& can) {
  child_spec spec;
  // `--serve` asks whether it can be a fork server too: procman-exec then
  // says "serve" before "ok"; a stand-in executor says just "ok".
  spec.argv = {exec, "--check", "--serve"};
  for (auto& lib : split_library_list(step_libs)) {
    spec.argv.emplace_back("--step-lib");
    spec.argv.push_back(lib);
  }
  struct outcome {
    std::vector<std::string> lines;
    int code = -1;
    int sig = 0;
    std::string tail;
  };
  auto result = std::make_shared<outcome>();
  auto done = std::make_shared<std::promise<void>>();
  auto finished = done->get_future();
  child_handlers handlers;
  handlers.on_report = [result](std::string line) {
    result->lines.push_back(std::move(line));
  };
  handlers.on_exit = [result, done](int code, int sig, std::string tail) {
    result->code = code;
    result->sig = sig;
    result->tail = std::move(tail);
    done->set_value();
  };
  auto spawned = children.spawn(spec, std::move(handlers));
  if (!spawned) {
    // The errno's text where the spawn gave one (POSIX), else its message.
    auto code = os_errno(spawned.error());
    return make_error(errc::spawn_failure,
                      "cannot start executor " + exec + ": "
                        + (code != 0 ? platform::error_text(code)
                                     : render(spawned.error())),
                      code);
  }
  auto pid = *spawned;
  if (finished.wait_for(executor_check_timeout) != std::future_status::ready) {
    children.kill_group(pid);
    finished.wait();
    return make_error(errc::spawn_failure,
                      "executor " + exec + " --check did not answer within "
                        + std::to_string(executor_check_timeout.count())
                        + " s");
  }
  auto& r = *result;
  if (r.code == 0 && !r.lines.empty() && r.lines.back() == "ok") {
    auto said = [&](const char* word) {
      return std::find(r.lines.begin(), r.lines.end(), word) != r.lines.end();
    };
    can.serves = said("serve");
    can.leases = said("lease");
    return {};
  }
  // The reason: the executor's error report, else what it said, else how
  // it ended.
  std::string why;
  if (!r.lines.empty()) {
    boost::system::error_code ec;
    auto v = boost::json::parse(r.lines.back(), ec);
    auto* msg = !ec && v.is_object() && v.get_object().if_contains("error")
                    && v.at("error").is_object()
                  ? v.at("error").get_object().if_contains("message")
                  : nullptr;
    why = msg && msg->is_string() ? std::string(msg->get_string())
                                  : r.lines.back();
  }
  if (why.empty() && !r.tail.empty())
    why = r.tail.substr(0, r.tail.find_last_not_of("\n") + 1);
  if (why.empty())
    why = r.sig != 0
            ? "killed by signal " + std::to_string(r.sig)
            : "exit code " + std::to_string(r.code) + " without saying ok";
  return make_error(errc::spawn_failure,
                    "executor " + exec + " --check failed: " + why);
}

} // namespace

caf::expected<std::string> containment_mode(const engine_options& opts) {
  auto mode = opts.containment;
  if (mode.empty())
    if (auto env = std::getenv("PROCMAN_CONTAINMENT"); env && *env)
      mode = env;
  if (mode.empty())
    mode = "auto";
  if (mode != "auto" && mode != "cgroup" && mode != "subreaper")
    return make_error(errc::invalid_argument,
                      "containment (PROCMAN_CONTAINMENT) must be auto, cgroup "
                      "or subreaper, not \""
                        + mode + "\"");
  return mode;
}

namespace {

/// Chooses how executors start and logs it once: "executor: fork server
/// (pid N)" or "executor: spawn (...)". `serves`: the executor's check
/// said it can be a fork server.
caf::error choose_executor_mode(child_service& children,
                                const engine_options& opts, bool serves) {
  auto mode = opts.executor;
  if (mode.empty())
    if (auto env = std::getenv("PROCMAN_EXECUTOR"); env && *env)
      mode = env;
  bool chosen = !mode.empty();
  if (mode.empty())
    mode = "fork";
  if (mode != "fork" && mode != "spawn")
    return make_error(errc::invalid_argument,
                      "executor (--executor, PROCMAN_EXECUTOR) must be fork "
                      "or spawn, not \""
                        + mode + "\"");
  if (auto why = child_service::no_fork_server(); why && mode == "fork") {
    if (chosen)
      return make_error(errc::spawn_failure,
                        std::string("--executor fork (PROCMAN_EXECUTOR=fork) "
                                    "is not available: ")
                          + why + "; use --executor spawn");
    log_info("", "executor: spawn (one " + opts.exec_path
                   + " per process: " + why + ")");
    return {};
  }
  if (mode == "fork" && !serves) {
    if (chosen)
      return make_error(errc::spawn_failure,
                        "executor " + opts.exec_path
                          + " cannot be a fork server (its --check --serve "
                            "did not say \"serve\"): use --executor spawn");
    log_info("", "executor: spawn (" + opts.exec_path
                   + " cannot be a fork server)");
    return {};
  }
  if (mode == "spawn") {
    log_info("", "executor: spawn (posix_spawn of " + opts.exec_path
                   + " per process)");
    return {};
  }
  std::vector<std::string> argv{opts.exec_path, "--serve"};
  for (auto& lib : split_library_list(opts.step_libs)) {
    argv.emplace_back("--step-lib");
    argv.push_back(lib);
  }
  auto pid = children.use_fork_server(std::move(argv));
  if (pid)
    log_info("", "executor: fork server (" + opts.exec_path + " --serve, pid "
                   + std::to_string(*pid) + ")");
  else
    log_warn("", "executor: spawn (" + render(pid.error()) + ")");
  return {};
}

} // namespace

namespace {

/// Set when commits failed for longer than `give_up_after_ms`; shared by
/// the engine and the store actor's policy.
struct give_up_state {
  std::mutex mtx;
  caf::error failure;
  supervisor_actor supervisor;
  std::shared_ptr<started_marks> marks;
};

} // namespace

struct engine::impl {
  caf::actor_system* sys = nullptr;
  engine_options opts;
  std::string runner_id;
  std::shared_ptr<procman::store> db;
  file_lock wait_lock;
  file_lock runner_lock;
  platform::wake_listener bell;
  std::shared_ptr<child_service> children;
  store_actor store_hdl;
  queue_actor queue_hdl;
  supervisor_actor supervisor_hdl;
  manager_actor manager_hdl;
  caf::actor ticker;
  bool output_events = false;
  std::shared_ptr<give_up_state> given_up = std::make_shared<give_up_state>();
};

namespace {

/// The store's policy for commits that keep failing: after
/// `give_up_after_ms`, record why, keep the started marks (the next runner
/// puts what was claimed and never started back in the queue) and stop the
/// supervisor as if stopped twice: executors are killed, nothing more
/// starts, records still waiting are answered with the error.
commit_failure_policy give_up_policy(uint64_t give_up_after_ms,
                                     std::shared_ptr<give_up_state> state) {
  commit_failure_policy policy;
  policy.give_up_after = std::chrono::milliseconds(give_up_after_ms);
  policy.gave_up = [state, give_up_after_ms](
                     const failure& err, std::chrono::milliseconds failing) {
    auto ms = static_cast<uint64_t>(failing.count());
    auto why = "commits failed for " + std::to_string(ms / 1000) + "."
               + std::to_string(ms % 1000 / 100) + " s in a row (limit "
               + format_duration(give_up_after_ms) + "): " + render(err);
    log_error("", why + "; giving up: killing the executors and stopping");
    std::lock_guard<std::mutex> guard{state->mtx};
    state->failure = make_error(errc::storage_failure, why);
    if (state->marks)
      state->marks->keep();
    for (int i = 0; i < 2; ++i)
      caf::anon_send(state->supervisor, atom::drain_v);
  };
  return policy;
}

} // namespace

caf::expected<std::shared_ptr<child_service>>
start_executors(engine_options& opts) {
  if (opts.exec_lease_ms == 0)
    return make_error(errc::invalid_argument,
                      "engine_options::exec_lease_ms must be above 0: every "
                      "executor holds a lease");
  if (opts.exec_path.empty())
    opts.exec_path = default_exec_path();
  auto exec = resolve_executor(opts.exec_path);
  if (!exec)
    return exec.error();
  opts.exec_path = std::move(*exec);
  auto started = start_child_service(opts);
  if (!started)
    return started.error();
  auto children = std::move(*started);
  executor_abilities can;
  if (auto err = check_executor(*children, opts.exec_path, opts.step_libs, can))
    return err;
  // An executor that does not hold leases (a stand-in that reads its
  // stdin to the end) gets none, and its stdin closes after the work.
  if (can.leases)
    children->use_leases(std::chrono::milliseconds(opts.exec_lease_ms));
  else
    log_warn("", "executor " + opts.exec_path
                   + " holds no lease (its --check --serve did not say "
                     "\"lease\"): its processes may outlive a stopped runner");
  if (auto err = choose_executor_mode(*children, opts, can.serves))
    return err;
  return children;
}

std::string default_exec_path() {
  if (auto env = std::getenv("PROCMAN_EXEC"); env && *env)
    return env;
  auto file = platform::program_file_name("procman-exec");
  std::error_code ec;
  if (auto self = platform::this_program_path(); !self.empty()) {
    auto candidate = platform::path_from_utf8(self).parent_path() / file;
    if (std::filesystem::exists(candidate, ec))
      return platform::utf8_from_path(candidate);
  }
  if (auto dir = embedded_exec_dir(); dir && *dir) {
    auto candidate = platform::path_from_utf8(dir) / file;
    if (std::filesystem::exists(candidate, ec))
      return platform::utf8_from_path(candidate);
  }
  return file;
}

engine::engine(std::unique_ptr<impl> ptr) : impl_(std::move(ptr)) {
  // nop
}

caf::expected<std::unique_ptr<engine>> engine::start(caf::actor_system& sys,
                                                     engine_options opts) {
  auto st = std::make_unique<impl>();
  st->sys = &sys;
  if (opts.parallel == 0)
    opts.parallel = std::max(1u, std::thread::hardware_concurrency());
  // A runner that cannot start its executor or load its step libraries
  // would turn every process it claims into an error: refuse to start
  // instead, before touching the store.
  auto children = start_executors(opts);
  if (!children)
    return children.error();
  st->children = std::move(*children);
  store_options so;
  so.dir = opts.store_dir;
  so.no_sync = opts.no_sync;
  so.retention_ms = opts.retention_ms;
  so.output_limit = opts.output_limit;
  so.default_timeout = 0;        // records without a timeout use the runner's
  so.ring_doorbell = !opts.wait; // a waiting engine hears itself directly
  auto db = store::open(so);
  if (!db)
    return to_error(db.error());
  st->db = std::shared_ptr<procman::store>(std::move(*db));
  auto& dir = st->db->dir();
  if (opts.wait) {
    if (auto err = st->wait_lock.try_lock(dir + "/runner.lock")) {
      if (is(err, errc::runner_busy))
        return make_error(errc::runner_busy,
                          "another runner holds the store " + dir);
      return to_error(err);
    }
  }
  st->runner_id = make_runner_id();
  if (auto err = prepare_runners_dir(dir))
    return to_error(err);
  if (auto err = st->runner_lock.try_lock(runner_lock_path(dir, st->runner_id)))
    return to_error(err);
  if (auto n = recover_lost_processes(*st->db, st->runner_id); n > 0)
    log_warn("", "ended " + std::to_string(n)
                   + " processes left running by dead runners");
  // A waiting runner purges what is past retention when it starts and
  // then every minute (a runner that only drains the queue leaves that to
  // them and to `procman purge`, so that its start stays one commit).
  if (opts.wait)
    if (auto purged = st->db->purge(); purged && *purged > 0)
      log_info("",
               "purged " + std::to_string(*purged) + " records past retention");
  auto cfg = std::make_shared<exec_config>();
  cfg->exec_path = opts.exec_path;
  cfg->script_args = opts.script_args;
  cfg->step_libs = opts.step_libs;
  cfg->runner_id = st->runner_id;
  cfg->default_timeout = opts.default_timeout;
  cfg->children = st->children;
  // Live output: reported by executors unless the store keeps none (as it
  // is when the runner starts; the store applies a later setting).
  if (auto limit = st->db->output_limit(); !limit)
    return to_error(limit.error());
  else
    cfg->output_events = st->output_events = *limit > 0;
  // What /metrics tells of this runner beside the store's counters.
  auto busy = std::make_shared<std::atomic<uint32_t>>(0);
  uint32_t slots = opts.local_work ? opts.parallel : 0;
  store_runtime runtime = [busy, slots,
                           children = st->children](store_metrics& m) {
    m.slots = slots;
    m.busy_slots = busy->load();
    m.fork_server_restarts = children ? children->fork_server_restarts() : 0;
  };
  st->store_hdl = sys.spawn<caf::detached>(
    store_service, st->db, st->runner_id,
    opts.give_up_after_ms > 0
      ? give_up_policy(opts.give_up_after_ms, st->given_up)
      : commit_failure_policy{},
    std::move(runtime));
  st->queue_hdl = sys.spawn(procman::queue, st->store_hdl, st->runner_id);
  supervisor_options sopts;
  sopts.parallel = opts.local_work ? opts.parallel : 0;
  sopts.max_processes = opts.max_processes;
  sopts.wait = opts.wait;
  sopts.grace_seconds = opts.grace_seconds;
  sopts.busy = busy;
  if (sopts.parallel > 0) {
    // After a kill -9 the next runner tells the records this one claimed
    // ahead and never started (queued again) from those it ran.
    if (auto marks = started_marks::create(dir, st->runner_id))
      sopts.marks = std::shared_ptr<started_marks>(std::move(*marks));
    else
      log_warn("", render(marks.error())
                     + "; after a kill -9 of this runner, the processes it "
                       "claimed ahead end as runner_lost");
  }
  // The doorbell is bound before the supervisor's first claim: a wake-up
  // rung in between waits in the socket until the watch below reads it,
  // instead of reaching nobody while that claim found the queue empty.
  bool bell_bound = false;
  if (opts.wait) {
    if (auto err = st->bell.bind(dir))
      log_warn("", "cannot serve the doorbell (" + render(err)
                     + "); work enqueued elsewhere starts within 1 s");
    else
      bell_bound = true;
  }
  auto marks = sopts.marks;
  st->supervisor_hdl = sys.spawn(procman::supervisor, sopts, st->queue_hdl,
                                 st->store_hdl,
                                 std::shared_ptr<const exec_config>(cfg));
  {
    // Nothing commits before the supervisor and the manager ask: the store
    // cannot have given up yet.
    std::lock_guard<std::mutex> guard{st->given_up->mtx};
    st->given_up->supervisor = st->supervisor_hdl;
    st->given_up->marks = std::move(marks);
  }
  st->manager_hdl = sys.spawn(procman::manager, st->store_hdl,
                              st->supervisor_hdl);
  // A ticker: active processes re-read their records every second; a
  // waiting engine also looks for lost runners and purges old records.
  auto sup = st->supervisor_hdl;
  auto store_hdl = st->store_hdl;
  bool wait = opts.wait;
  st->ticker = sys.spawn(
    [sup, store_hdl, wait](caf::event_based_actor* self) -> caf::behavior {
      self->monitor(sup);
      self->set_down_handler([self](const caf::down_msg&) { self->quit(); });
      self->delayed_send(self, check_interval, caf::tick_atom_v);
      auto ticks = std::make_shared<uint64_t>(0);
      return {
        [=](caf::tick_atom) {
          self->send(sup, atom::check_v);
          if (wait && ++*ticks % (recover_interval / check_interval) == 0)
            self->request(store_hdl, caf::infinite, atom::recover_v)
              .then([](uint32_t) {}, [](const caf::error&) {});
          self->delayed_send(self, check_interval, caf::tick_atom_v);
        },
      };
    });
  if (bell_bound) {
    auto* bell = &st->bell;
    st->children->watch_readable(
      static_cast<int>(bell->native_handle()), [bell, sup] {
        if (bell->wait(std::chrono::milliseconds::zero())) {
          caf::anon_send(sup, atom::wakeup_v);
          caf::anon_send(sup, atom::check_v);
        }
      });
  }
  st->opts = std::move(opts);
  log_info("", "runner " + st->runner_id + " serving " + dir + " with "
                 + std::to_string(st->opts.local_work ? st->opts.parallel : 0)
                 + " slots" + (st->opts.wait ? " (waiting)" : ""));
  return std::unique_ptr<engine>(new engine(std::move(st)));
}

engine::~engine() {
  auto& st = *impl_;
  caf::anon_send(st.supervisor_hdl, atom::drain_v);
  caf::anon_send(st.supervisor_hdl, atom::drain_v); // no grace: kill now
  await();
  caf::anon_send_exit(st.ticker, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(st.manager_hdl, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(st.queue_hdl, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(st.store_hdl, caf::exit_reason::user_shutdown);
  {
    // Every one of them must be gone before the actor system is: one still
    // alive when the scheduler stops (its exit not read yet) is kept by its
    // own timers, holds the store actor, and the system's destructor then
    // waits for the store's thread forever.
    caf::scoped_actor self{*st.sys};
    for (auto hdl : {caf::actor_cast<caf::actor>(st.ticker),
                     caf::actor_cast<caf::actor>(st.queue_hdl),
                     caf::actor_cast<caf::actor>(st.store_hdl),
                     caf::actor_cast<caf::actor>(st.manager_hdl)}) {
      self->monitor(hdl);
      self->receive([](const caf::down_msg&) {});
    }
  }
  st.children.reset();
  st.runner_lock.release_and_remove();
}

manager_actor engine::manager() const {
  return impl_->manager_hdl;
}

supervisor_actor engine::supervisor() const {
  return impl_->supervisor_hdl;
}

store_actor engine::store() const {
  return impl_->store_hdl;
}

const std::string& engine::runner_id() const {
  return impl_->runner_id;
}

const engine_options& engine::options() const {
  return impl_->opts;
}

bool engine::output_events() const {
  return impl_->output_events;
}

void engine::drain() {
  caf::anon_send(impl_->supervisor_hdl, atom::drain_v);
}

caf::error engine::failure() const {
  std::lock_guard<std::mutex> guard{impl_->given_up->mtx};
  return impl_->given_up->failure;
}

void engine::await() {
  caf::scoped_actor self{*impl_->sys};
  self->monitor(impl_->supervisor_hdl);
  self->receive([](const caf::down_msg&) {});
}

} // namespace procman
