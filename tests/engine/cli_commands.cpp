// Each procman command takes its own options and no others (docs/usage.md,
// "Options by command"), through the real procman and procman-runner on a
// real store: every option of another command is refused with exit 2,
// naming the option and showing the command's usage, and the store is left
// as it was; `procman CMD --help` shows CMD's options and not the others';
// the global options go before or after the command.

#include <algorithm>
#include <map>
#include <regex>

#include "cli_fixture.hpp"

using namespace procman::test;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

/// `--name` as a whole word of `text` (not part of a longer option).
bool names_option(const std::string& text, const std::string& name) {
  return std::regex_search(text,
                           std::regex("(^|[^-a-z])" + name + "([^-a-z]|$)"));
}

/// The options of each command, as docs/usage.md lists them; a value of ""
/// marks a flag.
const std::map<std::string, std::map<std::string, std::string>> command_options
  = {
    {"start",
     {{"--data", "{}"},
      {"--timeout", "5"},
      {"--delay", "5m"},
      {"--priority", "1"},
      {"--key", "k"}}},
    {"retry", {}},
    {"schedule", {}},
    {"status", {}},
    {"proceed", {{"--data", "{}"}}},
    {"cancel", {}},
    {"hold", {}},
    {"release", {}},
    {"list", {{"--status", "queued"}, {"--limit", "5"}}},
    {"wait", {{"--timeout", "1"}}},
    {"logs", {{"--follow", ""}, {"--stream", "stdout"}}},
    {"purge", {{"--older-than", "0s"}}},
    {"config", {}},
    {"run", {{"--data", "{}"}, {"--step-lib", "/nonexistent/lib.so"}}},
    {"log", {{"--since", "0"}, {"--pid", "0"}}},
    {"replay", {}},
    {"token", {{"--scope", "read"}, {"--name", "n"}}},
    {"web",
     {{"--http", "127.0.0.1:0"},
      {"--http-max-body", "1M"},
      {"--http-header-timeout", "10s"},
      {"--http-idle-timeout", "60s"},
      {"--http-max-connections", "8"}}},
    {"help", {}},
};

/// Every command option with a value to give it.
std::map<std::string, std::string> all_options() {
  std::map<std::string, std::string> all;
  for (auto& [cmd, opts] : command_options)
    all.insert(opts.begin(), opts.end());
  return all;
}

const std::string quick
  = R"({"steps": {"s": {"class": "procman.set", "args": {"ok": 1}}}})";

struct commands_fixture : cli_fixture {
  std::string pid; ///< a queued process
  std::string log; ///< a log file to replay

  commands_fixture() {
    pid = start(quick);
    auto exported = procman({"log", "export"});
    BOOST_REQUIRE_EQUAL(exported.exit_code, 0);
    log = tmp.str() + "/store.jsonl";
    std::ofstream(log) << exported.out;
  }

  /// The words after `procman CMD` that make a command line it would carry
  /// out, changing the store where it can.
  std::vector<std::string> words(const std::string& cmd) {
    if (cmd == "start" || cmd == "run")
      return {quick};
    if (cmd == "schedule")
      return {"add", "nightly", "0 3 * * *", quick};
    if (cmd == "config")
      return {"set", "retention", "30d"};
    if (cmd == "log")
      return {"export"};
    if (cmd == "replay")
      return {log};
    if (cmd == "token")
      return {"create", "--scope", "read"};
    if (cmd == "web")
      return {"--http", "127.0.0.1:0"};
    if (cmd == "list" || cmd == "purge" || cmd == "help")
      return {};
    return {pid};
  }

  /// What the store holds, as the CLI shows it: processes, schedules,
  /// settings and the message log (without the export's header, which
  /// carries the time of the export).
  std::string snapshot() {
    std::string all;
    for (std::vector<std::string> argv :
         {std::vector<std::string>{"list", "--limit", "1000"},
          {"schedule", "list"},
          {"token", "list"},
          {"config"},
          {"log", "export"}}) {
      auto r = procman(argv);
      BOOST_REQUIRE_MESSAGE(r.exit_code == 0,
                            "procman " + argv[0] + ": " + r.err);
      auto out = argv[0] == "log" ? r.out.substr(r.out.find('\n') + 1) : r.out;
      all += argv[0] + ":\n" + out;
    }
    return all;
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(cli_commands, commands_fixture)

BOOST_AUTO_TEST_CASE(every_command_refuses_the_options_of_the_others) {
  auto before = snapshot();
  size_t refused = 0;
  for (auto& [cmd, own] : command_options) {
    for (auto& [opt, value] : all_options()) {
      if (own.count(opt))
        continue;
      std::vector<std::string> argv{cmd};
      for (auto& w : words(cmd))
        argv.push_back(w);
      argv.push_back(opt);
      if (!value.empty())
        argv.push_back(value);
      auto r = procman(argv, {}, 30);
      auto line = "procman " + cmd + " ... " + opt;
      BOOST_TEST(r.exit_code == 2,
                 line << ": exit " << r.exit_code << ", " << r.err);
      BOOST_TEST(names_option(r.err, opt), line << ": " << r.err);
      BOOST_TEST(contains(r.err, "usage: procman " + cmd),
                 line << ": " << r.err);
      BOOST_TEST(r.out.empty(), line << ": " << r.out);
      ++refused;
    }
    BOOST_TEST(snapshot() == before, "the store changed after procman " << cmd);
  }
  BOOST_TEST_MESSAGE(refused << " command lines refused");
  BOOST_TEST(refused > 150u);
  BOOST_TEST(status_of(pid) == "queued");
}

BOOST_AUTO_TEST_CASE(a_refusal_names_the_command_the_option_belongs_to) {
  auto r = procman({"cancel", pid, "--limit", "5"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "procman: option --limit does not go with cancel; "
                             "it is an option of list"),
             r.err);
  r = procman({"status", pid, "--bogus"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "procman: unknown option --bogus for status"),
             r.err);
  BOOST_TEST(contains(r.err, "usage: procman status PID"), r.err);
  // A command's own option before the command.
  r = procman({"--limit", "5", "list"});
  BOOST_TEST(r.exit_code == 2);
  BOOST_TEST(contains(r.err, "option --limit is an option of list: give it "
                             "after the command"),
             r.err);
  BOOST_TEST(status_of(pid) == "queued");
}

BOOST_AUTO_TEST_CASE(help_of_a_command_shows_its_options_and_not_the_others) {
  for (auto& [cmd, own] : command_options) {
    for (auto argv : {std::vector<std::string>{cmd, "--help"},
                      std::vector<std::string>{"help", cmd}}) {
      auto r = procman(argv);
      auto line = "procman " + argv[0] + " " + argv[1];
      BOOST_TEST(r.exit_code == 0, line << ": " << r.err);
      BOOST_TEST(r.out.rfind("usage: procman " + cmd, 0) == 0u, line << ":\n"
                                                                     << r.out);
      for (auto& [opt, value] : all_options())
        BOOST_TEST(names_option(r.out, opt) == (own.count(opt) > 0),
                   line << " and " << opt << ":\n"
                        << r.out);
    }
  }
}

BOOST_AUTO_TEST_CASE(global_options_go_before_or_after_the_command) {
  auto p = bin("procman");
  for (auto argv :
       {std::vector<std::string>{p, "--store", store, "status", pid},
        std::vector<std::string>{p, "status", pid, "--store", store},
        std::vector<std::string>{p, "status", "--store=" + store, pid}}) {
    auto r = run_command(argv);
    BOOST_TEST(r.exit_code == 0, r.err);
    BOOST_TEST(contains(r.out, pid), r.out);
  }
  auto v = run_command({p, "status", pid, "--version"});
  BOOST_TEST(v.exit_code == 0, v.err);
  BOOST_TEST(v.out.rfind("procman ", 0) == 0u, v.out);
  // --connect and --store still exclude each other, in any order.
  auto both = run_command(
    {p, "status", pid, "--connect", "127.0.0.1:1", "--store", store});
  BOOST_TEST(both.exit_code == 2);
  BOOST_TEST(contains(both.err,
                      "options --store and --connect exclude each other"),
             both.err);
}

BOOST_AUTO_TEST_CASE(the_runner_refuses_unknown_options) {
  for (auto argv :
       {std::vector<std::string>{"--limit", "5"},
        std::vector<std::string>{"--data={}"},
        std::vector<std::string>{"--bogus"}, std::vector<std::string>{"-x"},
        std::vector<std::string>{"--wait=1"}}) {
    auto r = runner(argv, 60);
    auto opt = argv[0].substr(0, argv[0].find('='));
    BOOST_TEST(r.exit_code == 2,
               opt << ": exit " << r.exit_code << ", " << r.err);
    BOOST_TEST(contains(r.err, "procman-runner: "), r.err);
    BOOST_TEST(names_option(r.err, opt), opt << ": " << r.err);
    BOOST_TEST(contains(r.err, "usage: procman-runner"), r.err);
  }
  // It ran nothing: the process is still queued.
  BOOST_TEST(status_of(pid) == "queued");
}

BOOST_AUTO_TEST_SUITE_END()
