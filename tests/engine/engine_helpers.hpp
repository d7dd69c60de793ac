// Shared by the tests that run an engine in their own actor system.

#pragma once

#include <memory>
#include <string>

#include <boost/test/unit_test.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "procman/engine/engine.hpp"
#include "procman/messages/error.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/platform/programs.hpp"

#include "fixtures/temp_dir.hpp"
#include "fixtures/timing.hpp"

namespace procman::test {

/// A temporary directory and an actor system that knows procman's types,
/// for tests that run an engine in their own process.
struct actor_system_fixture {
  temp_dir tmp;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;

  actor_system_fixture() {
    cfg.add_message_types<caf::id_block::procman>();
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

/// Parses a spec that a test writes inline; fails the test if it does not.
inline process_spec test_spec(const std::string& text) {
  auto spec = parse_spec(text);
  if (!spec)
    BOOST_FAIL(spec.error().context);
  return std::move(*spec);
}

/// Starts an engine with two slots on `<dir>/store`, running build/bin's
/// procman-exec (procman-exec.exe on Windows); fails the test if it cannot.
inline std::unique_ptr<engine> start_test_engine(caf::actor_system& sys,
                                                 const std::string& dir,
                                                 bool wait = true) {
  engine_options opts;
  opts.store_dir = dir + "/store";
  opts.exec_path = bin(platform::program_file_name("procman-exec"));
  opts.wait = wait;
  opts.parallel = 2;
  auto eng = engine::start(sys, opts);
  BOOST_REQUIRE_MESSAGE(eng,
                        "engine::start: " << (eng ? "" : render(eng.error())));
  return std::move(*eng);
}

} // namespace procman::test
