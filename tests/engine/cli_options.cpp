// Documented options, each end to end through the real procman CLI and a
// real runner (docs/usage.md): start --timeout and --key, the runner's
// --default-timeout and --output-limit, config unset, run --step-lib, the
// store chosen from $PROCMAN_STORE / $XDG_STATE_HOME / the home directory,
// and the $PROCMAN_TLS_* variables of --connect.

#include <algorithm>
#include <csignal>
#include <filesystem>

#include <boost/json.hpp>

#include "cli_fixture.hpp"
#include "remote_helpers.hpp"

using namespace procman::test;
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

struct options_fixture : cli_fixture {
  /// The error kind of a process, "" when it has none.
  std::string error_kind(const std::string& pid) {
    auto info = status(pid);
    return info.at("error").is_object()
             ? std::string(info.at("error").at("kind").as_string())
             : std::string{};
  }

  /// `argv` with procman's variables for the store taken out of the
  /// environment and `env` (NAME=VALUE) put in (through env(1)).
  static command_result with_env(const std::vector<std::string>& env,
                                 const std::vector<std::string>& argv) {
    std::vector<std::string> cmd{"env",
                                 "-u",
                                 "PROCMAN_STORE",
                                 "-u",
                                 "XDG_STATE_HOME",
                                 "-u",
                                 "PROCMAN_CONNECT"};
    cmd.insert(cmd.end(), env.begin(), env.end());
    cmd.insert(cmd.end(), argv.begin(), argv.end());
    return run_command(cmd, {}, 120);
  }
};

const std::string sleepy = shell_spec("sleep 60");
const std::string quick
  = R"({"steps": {"s": {"class": "procman.set", "args": {"ok": 1}}}})";

} // namespace

BOOST_FIXTURE_TEST_SUITE(cli_options, options_fixture)

BOOST_AUTO_TEST_CASE(start_timeout_overrides_the_specs_timeout) {
  // The spec allows ten minutes; --timeout 1 is what the process gets.
  auto pid = start(shell_spec("sleep 60", 600), {"--timeout", "1"});
  BOOST_TEST(status(pid).at("timeout") == 1);
  BOOST_TEST(runner().exit_code == 0);
  BOOST_TEST(error_kind(pid) == "timeout");
  BOOST_TEST(
    contains(std::string(status(pid).at("error").at("message").as_string()),
             "timed out after 1 s"));
  auto bad = procman({"start", quick, "--timeout", "soon"});
  BOOST_TEST(bad.exit_code == 2);
  BOOST_TEST(contains(bad.err, "--timeout"), bad.err);
}

BOOST_AUTO_TEST_CASE(
  the_runners_default_timeout_applies_to_processes_without_one) {
  auto without = start(sleepy);
  auto with = start(true_spec(60));
  BOOST_TEST(status(without).at("timeout").is_null());
  BOOST_TEST(runner({"--default-timeout", "1"}).exit_code == 0);
  BOOST_TEST(error_kind(without) == "timeout");
  BOOST_TEST(
    contains(std::string(status(without).at("error").at("message").as_string()),
             "timed out after 1 s"));
  BOOST_TEST(status_of(with) == "finished");
  auto bad = runner({"--default-timeout", "-3"});
  BOOST_TEST(bad.exit_code == 2);
  BOOST_TEST(contains(bad.err, "--default-timeout"), bad.err);
}

BOOST_AUTO_TEST_CASE(the_runners_output_limit_overrides_the_stores_setting) {
  // seq 1 3000 writes 13,893 bytes; the runner keeps the last 1K of them,
  // and the store's setting stays as it was.
  auto pid = start(shell_spec("seq 1 3000"));
  BOOST_TEST(runner({"--output-limit", "1K"}).exit_code == 0);
  BOOST_REQUIRE(status_of(pid) == "finished");
  auto logs = procman({"logs", pid});
  BOOST_TEST(logs.exit_code == 0);
  BOOST_TEST(logs.out.size() <= 1024u);
  BOOST_TEST(logs.out.size() > 900u);
  BOOST_TEST(logs.out.substr(logs.out.size() - 5) == "3000\n");
  BOOST_TEST(contains(logs.err, "bytes of earlier output were dropped"),
             logs.err);
  BOOST_TEST(procman({"config", "get", "output-limit"}).out == "1M\n");
  // 0 keeps none.
  auto none = start(shell_spec("seq 1 3000"));
  BOOST_TEST(runner({"--output-limit", "0"}).exit_code == 0);
  BOOST_TEST(procman({"logs", none}).out.empty());
  auto bad = runner({"--output-limit", "lots"});
  BOOST_TEST(bad.exit_code == 2);
  BOOST_TEST(contains(bad.err, "--output-limit"), bad.err);
}

BOOST_AUTO_TEST_CASE(config_unset_returns_a_setting_to_its_default) {
  BOOST_REQUIRE(procman({"config", "set", "retention", "30d"}).exit_code == 0);
  BOOST_REQUIRE(procman({"config", "set", "output-limit", "4M"}).exit_code
                == 0);
  BOOST_TEST(json::parse(procman({"config"}).out)
             == json::parse(R"({"retention": "30d", "output-limit": "4M"})"));
  auto r = procman({"config", "unset", "retention"});
  BOOST_TEST(r.exit_code == 0, r.err);
  BOOST_TEST(r.out == "7d\n");
  BOOST_TEST(procman({"config", "get", "retention"}).out == "7d\n");
  BOOST_TEST(procman({"config", "get", "output-limit"}).out == "4M\n");
  BOOST_TEST(procman({"config", "unset", "output-limit"}).out == "1M\n");
  BOOST_TEST(json::parse(procman({"config"}).out)
             == json::parse(R"({"retention": "7d", "output-limit": "1M"})"));
  // `purge` goes by the setting: the default again.
  BOOST_TEST(json::parse(procman({"purge"}).out).at("older_than") == "7d");
  auto bad = procman({"config", "unset", "colour"});
  BOOST_TEST(bad.exit_code == 2);
  BOOST_TEST(contains(bad.err, "colour"), bad.err);
}

BOOST_AUTO_TEST_CASE(run_step_lib_loads_a_step_library_for_the_run) {
  auto spec
    = R"({"steps": {"j": {"class": "test.json"}}, "data": {"counter": 1}})";
  auto lib = test_path("plugins/exec_test_plugin.so");
  auto r = procman({"run", spec, "--step-lib", lib});
  BOOST_TEST(r.exit_code == 0, r.err);
  auto out = json::parse(r.out).as_object();
  BOOST_TEST(out.at("counter") == 2);
  BOOST_TEST(out.at("context").at("step") == "j");
  // Without it the class is unknown.
  auto without = procman({"run", spec});
  BOOST_TEST(without.exit_code == 1);
  BOOST_TEST(contains(without.err, "test.json"), without.err);
  auto missing = procman({"run", spec, "--step-lib", tmp.str() + "/none.so"});
  BOOST_TEST(missing.exit_code != 0);
  BOOST_TEST(contains(missing.err, tmp.str() + "/none.so"), missing.err);
}

BOOST_AUTO_TEST_CASE(the_store_is_procman_store_else_xdg_state_home_else_home) {
  auto home = tmp.str() + "/home";
  auto xdg = tmp.str() + "/xdg";
  auto explicit_store = tmp.str() + "/explicit";
  fs::create_directories(home);
  fs::create_directories(xdg);
  // Starts a process and runs it with the same environment; returns the
  // pid, and checks it finished in the store at `where`.
  auto start_and_run = [&](const std::vector<std::string>& env,
                           const std::string& where) {
    auto s = with_env(env, {bin("procman"), "start", quick});
    BOOST_REQUIRE_MESSAGE(s.exit_code == 0, s.err);
    auto pid = s.out.substr(0, 32);
    auto r = with_env(env, {bin("procman-runner")});
    BOOST_TEST(r.exit_code == 0, r.err);
    auto w = run_command({bin("procman"), "--store", where, "status", pid});
    BOOST_TEST(w.exit_code == 0, w.err);
    BOOST_TEST(contains(w.out, "\"status\":\"finished\""), w.out);
    return pid;
  };
  auto in_home = start_and_run({"HOME=" + home},
                               home + "/.local/state/procman");
  BOOST_TEST(fs::exists(home + "/.local/state/procman/data.mdb"));
  auto in_xdg = start_and_run({"HOME=" + home, "XDG_STATE_HOME=" + xdg},
                              xdg + "/procman");
  start_and_run({"HOME=" + home, "XDG_STATE_HOME=" + xdg,
                 "PROCMAN_STORE=" + explicit_store},
                explicit_store);
  // An empty variable counts as unset.
  start_and_run({"HOME=" + home, "XDG_STATE_HOME=", "PROCMAN_STORE="},
                home + "/.local/state/procman");
  // Each store holds only its own processes; --store wins over them all.
  auto r
    = with_env({"HOME=" + home, "XDG_STATE_HOME=" + xdg,
                "PROCMAN_STORE=" + explicit_store},
               {bin("procman"), "--store", xdg + "/procman", "status", in_xdg});
  BOOST_TEST(r.exit_code == 0, r.err);
  r = with_env({"HOME=" + home, "XDG_STATE_HOME=" + xdg},
               {bin("procman"), "status", in_home});
  BOOST_TEST(r.exit_code == 1);
  BOOST_TEST(contains(r.err, "no process " + in_home), r.err);
}

BOOST_AUTO_TEST_CASE(
  connect_takes_its_certificates_from_the_procman_tls_variables) {
  test_pki pki{tmp.str() + "/pki"};
  auto node = background_runner([&] {
    std::vector<std::string> args{"--listen", "127.0.0.1:0", "--parallel", "0"};
    auto tls = pki.args("runner", "ca-a");
    args.insert(args.end(), tls.begin(), tls.end());
    return args;
  }());
  auto where = "127.0.0.1:" + std::to_string(published_port(*node));
  auto vars = [&](const std::string& leaf, const std::string& ca) {
    auto f = pki.files(leaf, ca);
    return std::vector<std::string>{"PROCMAN_TLS_CERT=" + f.cert,
                                    "PROCMAN_TLS_KEY=" + f.key,
                                    "PROCMAN_TLS_CA=" + f.ca};
  };
  auto s = with_env(vars("host", "ca-a"),
                    {bin("procman"), "--connect", where, "start", quick});
  BOOST_REQUIRE_MESSAGE(s.exit_code == 0, s.err);
  auto pid = s.out.substr(0, 32);
  BOOST_TEST(status_of(pid) == "queued"); // in the node's store
  auto st = with_env(vars("host", "ca-a"),
                     {bin("procman"), "--connect", where, "status", pid});
  BOOST_TEST(st.exit_code == 0, st.err);
  BOOST_TEST(contains(st.out, "\"pid\":\"" + pid + "\""), st.out);
  // A certificate of another CA in the variables is refused, and so is no
  // certificate at all; options win over the variables.
  auto stranger = with_env(vars("stranger", "ca-a"),
                           {bin("procman"), "--connect", where, "status", pid});
  BOOST_TEST(stranger.exit_code == 1);
  auto none = with_env({}, {bin("procman"), "--connect", where, "status", pid});
  BOOST_TEST(none.exit_code == 1);
  auto host = pki.args("host", "ca-a");
  std::vector<std::string> argv{bin("procman"), "--connect", where};
  argv.insert(argv.end(), host.begin(), host.end());
  argv.insert(argv.end(), {"status", pid});
  auto flags = with_env(vars("stranger", "ca-a"), argv);
  BOOST_TEST(flags.exit_code == 0, flags.err);
  node->stop();
  BOOST_TEST(node->wait(60));
}

BOOST_AUTO_TEST_CASE(
  start_key_on_a_store_directory_returns_the_holder_until_it_ends) {
  auto pid = start(quick, {"--key", "nightly"});
  auto again = procman({"start", quick, "--key", "nightly"});
  BOOST_TEST(again.exit_code == 0);
  BOOST_TEST(again.out == pid + "\n");
  BOOST_TEST(contains(again.err, "holds the key \"nightly\" already"),
             again.err);
  // --key wins over the spec's key.
  auto spec_key
    = R"({"steps": {"s": {"class": "procman.set"}}, "key": "other"})";
  BOOST_TEST(start(spec_key, {"--key", "nightly"}) == pid);
  auto other = start(R"({"steps": {"s": {"class": "procman.set"}}})",
                     {"--key", "weekly"});
  BOOST_TEST(other != pid);
  BOOST_TEST(runner().exit_code == 0);
  BOOST_TEST(status_of(pid) == "finished");
  // Free again once the holder ended.
  auto fresh = start(quick, {"--key", "nightly"});
  BOOST_TEST(fresh != pid);
  auto no_value = procman({"start", quick, "--key"});
  BOOST_TEST(no_value.exit_code == 2);
  BOOST_TEST(contains(no_value.err, "--key"), no_value.err);
}

BOOST_AUTO_TEST_CASE(
  an_empty_key_and_numbers_with_blanks_or_signs_are_refused) {
  auto listed = [&] { return procman({"list", "--limit", "1000"}).out; };
  auto before = listed();
  auto empty_key = procman({"start", quick, "--key", ""});
  BOOST_TEST(empty_key.exit_code == 2);
  BOOST_TEST(contains(empty_key.err, "option --key needs a key"),
             empty_key.err);
  for (auto bad : {" 3", "+3", "3 ", ""}) {
    auto limit = procman({"list", "--limit", bad});
    BOOST_TEST(limit.exit_code == 2, "--limit \"" << bad << "\"");
    BOOST_TEST(contains(limit.err, "option --limit must be a whole number"),
               limit.err);
    auto priority = procman({"start", quick, "--priority", bad});
    BOOST_TEST(priority.exit_code == 2, "--priority \"" << bad << "\"");
    BOOST_TEST(contains(priority.err,
                        "option --priority must be a whole number"),
               priority.err);
  }
  BOOST_TEST(procman({"start", quick, "--priority", "-3"}).exit_code == 0);
  // Nothing but the last start was enqueued.
  auto after = procman({"list", "--limit", "1000"});
  BOOST_TEST(std::count(after.out.begin(), after.out.end(), '\n')
             == std::count(before.begin(), before.end(), '\n') + 1);
}

BOOST_AUTO_TEST_CASE(
  connect_and_replay_run_procman_remote_and_say_when_it_is_missing) {
  // procman links no CAF: --connect and replay run
  // ../libexec/procman/procman-remote. A procman copied without it says
  // so and exits 1; local commands still work.
  auto lone = tmp.str() + "/lone/bin";
  std::filesystem::create_directories(lone);
  std::filesystem::copy_file(bin("procman"), lone + "/procman");
  auto remote = run_command(
    {lone + "/procman", "--connect", "127.0.0.1:9", "status", "x"});
  BOOST_TEST(remote.exit_code == 1);
  BOOST_TEST(contains(remote.err, "libexec/procman/procman-remote"),
             remote.err);
  auto replay = run_command({lone + "/procman", "replay", "-"});
  BOOST_TEST(replay.exit_code == 1);
  BOOST_TEST(contains(replay.err, "procman-remote"), replay.err);
  auto local = run_command({lone + "/procman", "--store", store, "list"});
  BOOST_TEST(local.exit_code == 0, local.err);
  // Beside the build's procman it is found and reached: a refused
  // connection is its error, not a missing program.
  auto found
    = run_command({bin("procman"), "--connect", "127.0.0.1:9", "status", "x"});
  BOOST_TEST(found.exit_code == 1);
  BOOST_TEST(!contains(found.err, "cannot run"), found.err);
  BOOST_TEST(contains(found.err, "127.0.0.1:9"), found.err);
}

BOOST_AUTO_TEST_SUITE_END()
