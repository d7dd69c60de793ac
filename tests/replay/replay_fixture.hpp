// A Boost.Test fixture that replays message logs: golden ones from
// tests/data/, or ones a test records itself from real runs.

#pragma once

#include <fstream>
#include <string>

#include <boost/test/unit_test.hpp>

#include "procman/logging/logger.hpp"
#include "procman/messages/log_format.hpp"
#include "procman/replay/replay.hpp"

#include "fixtures/temp_dir.hpp"

namespace procman::test {

struct replay_fixture {
  temp_dir tmp;

  replay_fixture() {
    // The engine under replay logs as it would in a runner; keep it quiet.
    logger::set_level(log_level::error);
  }

  /// Reads tests/data/<name> (or any path containing '/').
  static log_file load(const std::string& name) {
    auto path = name.find('/') == std::string::npos
                  ? source_path("tests/data/" + name)
                  : name;
    std::ifstream in(path);
    BOOST_REQUIRE_MESSAGE(in, "cannot read " << path);
    auto log = read_log(in);
    if (!log)
      BOOST_FAIL(path << ": " << log.error().context);
    return std::move(*log);
  }

  /// Replays `log` and narrates the verdict.
  static replay_report replay(const log_file& log) {
    auto report = replay_log(log);
    BOOST_TEST_MESSAGE(describe(report));
    return report;
  }

  static replay_report replay(const std::string& name) {
    return replay(load(name));
  }
};

} // namespace procman::test
