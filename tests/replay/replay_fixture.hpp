// A Boost.Test fixture that replays message logs: golden ones from
// tests/data/, or ones a test records itself from real runs.

#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

  /// The golden logs of `dir` (a folder of tests/data, "" for itself):
  /// every *.jsonl in it, as the names `load` takes, sorted. tests/data/
  /// holds what record-golden-logs.sh records with this procman;
  /// tests/data/older/ logs that older versions recorded, which must
  /// still replay.
  static std::vector<std::string> golden_logs(const std::string& dir = "") {
    auto base = source_path("tests/data" + (dir.empty() ? "" : "/" + dir));
    std::vector<std::string> names;
    for (auto& e : std::filesystem::directory_iterator(base))
      if (e.path().extension() == ".jsonl")
        names.push_back((dir.empty() ? "" : dir + "/")
                        + e.path().filename().string());
    std::sort(names.begin(), names.end());
    BOOST_REQUIRE_MESSAGE(!names.empty(), "no golden logs in " << base);
    return names;
  }

  /// Reads tests/data/<name> (or any absolute path).
  static log_file load(const std::string& name) {
    auto path = name.rfind('/', 0) == 0 ? name
                                        : source_path("tests/data/" + name);
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
