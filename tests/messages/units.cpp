// Durations and sizes as users write them (one parser for every flag and
// setting), and the info text the CLI prints (percent with two decimals).

#include "procman/messages/units.hpp"

#include <string>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "procman/messages/error.hpp"
#include "procman/messages/render.hpp"

namespace json = boost::json;
using namespace procman;

BOOST_AUTO_TEST_SUITE(units)

BOOST_AUTO_TEST_CASE(durations_parse_with_or_without_a_unit) {
  auto ms = [](const char* text) {
    auto x = parse_duration(text, "option --x");
    BOOST_REQUIRE_MESSAGE(x, text);
    return *x;
  };
  BOOST_TEST(ms("30") == 30'000u);
  BOOST_TEST(ms("30s") == 30'000u);
  BOOST_TEST(ms("15m") == 900'000u);
  BOOST_TEST(ms("12h") == 43'200'000u);
  BOOST_TEST(ms("7d") == 604'800'000u);
  BOOST_TEST(ms("1.5h") == 5'400'000u);
  BOOST_TEST(ms("0.5s") == 500u);
  BOOST_TEST(ms("0s") == 0u);
  BOOST_TEST(ms("36500d") == uint64_t{36500} * 86'400'000);
}

BOOST_AUTO_TEST_CASE(bad_durations_are_refused_naming_the_flag) {
  for (auto text : {"", "s", "7x", "7 d", "-1s", "1.s", ".5s", "7dd", "1e3",
                    "36501d", "99999999999999999999s"}) {
    auto x = parse_duration(text, "option --older-than");
    BOOST_TEST_CONTEXT(text) {
      BOOST_REQUIRE(!x);
      BOOST_TEST((x.error().code == errc::invalid_argument));
      BOOST_TEST(x.error().context.rfind("option --older-than ", 0) == 0);
      BOOST_TEST(x.error().context.find(std::string("\"") + text + "\"")
                 != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(durations_and_sizes_format_shortest) {
  BOOST_TEST(format_duration(604'800'000) == "7d");
  BOOST_TEST(format_duration(5'400'000) == "90m");
  BOOST_TEST(format_duration(45'000) == "45s");
  BOOST_TEST(format_duration(0) == "0s");
  BOOST_TEST(format_size(uint64_t{1} << 20) == "1M");
  BOOST_TEST(format_size(1536 * 1024) == "1536K");
  BOOST_TEST(format_size(1000) == "1000");
}

BOOST_AUTO_TEST_CASE(sizes_parse_and_bad_ones_are_refused) {
  BOOST_TEST(*parse_size("1048576", "s") == 1'048'576u);
  BOOST_TEST(*parse_size("512K", "s") == 524'288u);
  BOOST_TEST(*parse_size("1M", "s") == 1'048'576u);
  BOOST_TEST(*parse_size("1MiB", "s") == 1'048'576u);
  BOOST_TEST(*parse_size("0", "s") == 0u);
  for (auto text : {"", "M", "1X", "1.5M", "-1", "2000G"}) {
    auto x = parse_size(text, "option --output-limit");
    BOOST_TEST_CONTEXT(text) {
      BOOST_REQUIRE(!x);
      BOOST_TEST(x.error().context.rfind("option --output-limit ", 0) == 0);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(info_text)

BOOST_AUTO_TEST_CASE(percent_is_a_plain_number_with_two_decimals) {
  process_record rec;
  rec.pid = std::string(32, 'a');
  rec.status = process_status::running;
  rec.steps.push_back(step_spec{"s", "procman.sleep", "{}", {}});
  rec.step_states.push_back(step_status::running);
  rec.progress.step = "s";
  rec.progress.message = "half";
  auto text_of = [&](double percent) {
    rec.progress.percent = percent;
    return dump_info(render_info(rec));
  };
  BOOST_TEST(text_of(60.2).find(R"("percent":60.20,)") != std::string::npos,
             text_of(60.2));
  BOOST_TEST(text_of(100).find(R"("percent":100.00,)") != std::string::npos);
  BOOST_TEST(text_of(0).find(R"("percent":0.00,)") != std::string::npos);
  BOOST_TEST(text_of(33.333).find(R"("percent":33.33,)") != std::string::npos);
  // Still JSON, and the same document otherwise.
  auto v = json::parse(text_of(60.2));
  BOOST_TEST(v.at("progress").at("percent").to_number<double>() == 60.2);
  auto plain = render_info(rec);
  plain["progress"].as_object()["percent"] = 60.2;
  BOOST_TEST(v == json::value(plain));
}

BOOST_AUTO_TEST_CASE(a_cancelled_step_shows_cancelled) {
  process_record rec;
  rec.pid = std::string(32, 'b');
  rec.status = process_status::cancelled;
  rec.steps.push_back(step_spec{"a", "procman.set", "{}", {}});
  rec.steps.push_back(step_spec{"b", "procman.sleep", "{}", {}});
  rec.steps.push_back(step_spec{"c", "procman.set", "{}", {}});
  rec.step_states = {step_status::completed, step_status::cancelled,
                     step_status::pending};
  auto info = render_info(rec);
  auto& steps = info.at("steps").as_object();
  BOOST_TEST(steps.at("a") == "completed");
  BOOST_TEST(steps.at("b") == "cancelled");
  BOOST_TEST(steps.at("c") == "pending");
}

BOOST_AUTO_TEST_SUITE_END()
