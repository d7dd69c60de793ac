// An example host program that embeds procman.
//
//   procman-example-host STORE_DIR
//
// It starts the engine inside its own actor system, submits a three-step
// process whose middle step pauses for approval, subscribes to its state
// changes, approves it with extra data when it pauses, and prints the final
// process info as JSON. Exit 0 when the process finished.

#include <iostream>

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "procman/engine/engine.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/render.hpp"
#include "procman/messages/spec_check.hpp"

int main(int argc, char** argv) {
  using namespace procman;
  if (argc != 2) {
    std::cerr << "usage: procman-example-host STORE_DIR\n";
    return 2;
  }
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::procman>();
  caf::actor_system sys{cfg};
  engine_options opts;
  opts.store_dir = argv[1];
  opts.wait = true;
  opts.exec_path = default_exec_path();
  std::cerr << "executor " << opts.exec_path << "\n";
  auto eng = engine::start(sys, opts);
  if (!eng) {
    std::cerr << "cannot start the engine: " << render(eng.error()) << "\n";
    return 1;
  }
  auto spec = parse_spec(R"({"steps": {
      "prepare": {"class": "procman.set", "args": {"stage": "prepared"}},
      "approve": {"class": "procman.pause"},
      "publish": {"class": "procman.exec",
                  "args": {"command": ["sh", "-c", "echo published"]}}},
    "timeout": 30, "data": {"title": "Main Page"}})");
  if (!spec) {
    std::cerr << spec.error().context << "\n";
    return 1;
  }
  std::string err;
  auto manager = (*eng)->manager();
  caf::scoped_actor self{sys};
  std::string pid;
  // Subscribe before the start, to every process (the pid is not known
  // yet): a subscription made after it would miss what happened meanwhile,
  // and the process may have paused already.
  self->send(manager, atom::subscribe_v, std::string{}, caf::actor{self});
  self->request(manager, caf::infinite, start_request{*spec, {}, {}})
    .receive([&](const std::string& x) { pid = x; },
             [&](const caf::error& e) { err = render(e); });
  if (pid.empty()) {
    std::cerr << "start failed: " << err << "\n";
    return 1;
  }
  std::cerr << "started " << pid << "\n";
  process_record final_rec;
  bool done = false;
  while (!done) {
    self->receive(
      [&](atom::event, const process_event& ev) {
        if (ev.record.pid != pid)
          return;
        std::cerr << "  " << to_string(ev.kind) << " -> "
                  << to_string(ev.record.status) << "\n";
        if (ev.record.status == process_status::interrupted) {
          std::string out;
          self
            ->request(
              manager, caf::infinite,
              proceed_request{pid, R"({"approved_by": "example-host"})", {}})
            .receive([&](const std::string&) {},
                     [&](const caf::error& e) {
                       std::cerr << "proceed failed: " << render(e) << "\n";
                       done = true;
                     });
        } else if (is_terminal(ev.record.status)) {
          final_rec = ev.record;
          done = true;
        }
      },
      caf::after(std::chrono::seconds(60)) >>
        [&] {
          std::cerr << "no progress within 60 s\n";
          done = true;
        });
  }
  std::cout << boost::json::serialize(render_info(final_rec)) << "\n";
  return final_rec.status == process_status::finished ? 0 : 1;
}
