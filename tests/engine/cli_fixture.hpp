// Shared by the engine's integration tests: a temporary store and helpers
// that run the real procman and procman-runner binaries against it.

#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "fixtures/background.hpp"
#include "fixtures/temp_dir.hpp"

namespace procman::test {

struct cli_fixture {
  temp_dir tmp;
  std::string store;

  cli_fixture() : store(tmp.str() + "/store") {
    // nop
  }

  command_result procman(std::vector<std::string> args,
                         const std::string& input = {}, double timeout = 60) {
    args.insert(args.begin(), {bin("procman"), "--store", store});
    return run_command(args, input, timeout);
  }

  command_result runner(std::vector<std::string> args = {},
                        double timeout = 120) {
    args.insert(args.begin(), {bin("procman-runner"), "--store", store});
    return run_command(args, {}, timeout);
  }

  /// A runner in the background; its log goes to <tmp>/<name>.log.
  std::unique_ptr<background>
  background_runner(std::vector<std::string> args,
                    const std::string& name = "runner") {
    args.insert(args.begin(), {bin("procman-runner"), "--store", store});
    return std::make_unique<background>(args, tmp.str() + "/" + name + ".log");
  }

  /// Enqueues `spec` (inline JSON) and returns the pid.
  std::string start(const std::string& spec,
                    std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"start", spec};
    args.insert(args.end(), extra.begin(), extra.end());
    auto res = procman(args);
    BOOST_REQUIRE_MESSAGE(res.exit_code == 0,
                          "procman start failed: " + res.err);
    auto pid = res.out.substr(0, res.out.find('\n'));
    BOOST_REQUIRE_EQUAL(pid.size(), 32u);
    return pid;
  }

  boost::json::object status(const std::string& pid) {
    auto res = procman({"status", pid});
    BOOST_REQUIRE_MESSAGE(res.exit_code == 0,
                          "procman status failed: " + res.err);
    return boost::json::parse(res.out).as_object();
  }

  std::string status_of(const std::string& pid) {
    return std::string(status(pid).at("status").as_string());
  }

  /// Waits until the process has `status` (polling the CLI).
  bool await_status(const std::string& pid, const std::string& want,
                    double timeout_s = 20) {
    return eventually([&] { return status_of(pid) == want; }, timeout_s);
  }
};

/// The text of a spec file, to pass inline.
inline std::string ex_spec_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

/// A procman.exec step running `cmd`.
inline boost::json::object command_step(const step_command& cmd) {
  boost::json::array argv(cmd.argv.begin(), cmd.argv.end());
  boost::json::object args{{"command", std::move(argv)}};
  if (!cmd.env.empty()) {
    boost::json::object env;
    for (auto& [name, value] : cmd.env)
      env[name] = value;
    args["env"] = std::move(env);
  }
  return {{"class", "procman.exec"}, {"args", std::move(args)}};
}

/// A one-step spec running `cmd` through procman.exec (a step named "sh").
inline std::string command_spec(const step_command& cmd, int timeout = 0) {
  boost::json::object spec{{"steps", {{"sh", command_step(cmd)}}}};
  if (timeout > 0)
    spec["timeout"] = timeout;
  return boost::json::serialize(spec);
}

/// A one-step spec running a shell command through procman.exec.
inline std::string shell_spec(const std::string& script, int timeout = 0) {
  return command_spec({{"sh", "-c", script}, {}}, timeout);
}

/// A one-step spec whose command succeeds at once, on either system
/// (succeeding_command); on POSIX it is shell_spec("true").
inline std::string true_spec(int timeout = 0) {
  return command_spec(succeeding_command(), timeout);
}

} // namespace procman::test
