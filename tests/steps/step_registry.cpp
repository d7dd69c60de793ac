#include <any>
#include <memory>
#include <stdexcept>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "fixtures/temp_dir.hpp"
#include "helpers.hpp"

using namespace procman;
using namespace procman::test;
namespace json = boost::json;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Returns its args and the services it got as its output.
class echo_step : public step {
public:
  echo_step(json::value args, std::vector<std::string> services)
    : args_(std::move(args)), services_(std::move(services)) {}

  json::object execute(const json::object&, step_context&) override {
    json::array svcs;
    for (auto& s : services_)
      svcs.emplace_back(s);
    return {{"args", args_}, {"services", std::move(svcs)}};
  }

private:
  json::value args_;
  std::vector<std::string> services_;
};

struct registry_fixture {
  procman::step_registry reg;
  service_registry services;
  recording_context ctx;

  registry_fixture() {
    reg.add("test.echo", [](const json::value& args, const service_map& svcs) {
      std::vector<std::string> names;
      for (auto& kv : svcs) {
        auto p = std::any_cast<std::shared_ptr<int>>(&kv.second);
        names.push_back(kv.first + "="
                        + (p ? std::to_string(**p) : std::string("?")));
      }
      return std::make_unique<echo_step>(args, names);
    });
    reg.add("test.picky", [](const json::value&, const service_map&) {
      throw spec_error("field \"size\" must be small");
      return std::unique_ptr<step>{};
    });
    reg.add("test.crashy", [](const json::value&, const service_map&) {
      throw std::runtime_error("factory fell over");
      return std::unique_ptr<step>{};
    });
    reg.add("test.null", [](const json::value&, const service_map&) {
      return std::unique_ptr<step>{};
    });
    services.add("db", std::make_shared<int>(42));
    services.add("mailer", std::make_shared<int>(7));
  }

  std::string make_error(const step_spec& s) {
    auto made = reg.make(s, services);
    if (made)
      BOOST_FAIL("built step " << s.name);
    return made.error().context;
  }

  std::unique_ptr<step> must_make(const step_spec& s) {
    auto made = reg.make(s, services);
    if (!made)
      BOOST_FAIL(made.error().context);
    return std::move(*made);
  }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(step_registry, registry_fixture)

BOOST_AUTO_TEST_CASE(add_contains_and_classes) {
  BOOST_TEST(reg.contains("test.echo"));
  BOOST_TEST(!reg.contains("test.nope"));
  std::vector<std::string> expected{"test.crashy", "test.echo", "test.null",
                                    "test.picky"};
  BOOST_TEST(reg.classes() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(add_replaces_an_earlier_factory) {
  reg.add("test.echo", [](const json::value&, const service_map&) {
    throw spec_error("replaced");
    return std::unique_ptr<step>{};
  });
  BOOST_TEST(make_error(spec("x", "test.echo"))
             == R"(step "x": bad args: replaced)");
  BOOST_TEST(reg.classes().size() == 4u);
}

BOOST_AUTO_TEST_CASE(make_parses_args_and_resolves_services) {
  auto s
    = must_make(spec("x", "test.echo", R"({"n": [1, 2]})", {"db", "mailer"}));
  auto out = s->execute({}, ctx);
  BOOST_TEST(json::serialize(out)
             == R"({"args":{"n":[1,2]},"services":["db=42","mailer=7"]})");
  // Empty args text counts as null.
  auto empty = must_make(spec("y", "test.echo", ""));
  BOOST_TEST(empty->execute({}, ctx).at("args").is_null());
}

BOOST_AUTO_TEST_CASE(unknown_class_names_the_step_and_lists_classes) {
  BOOST_TEST(
    make_error(spec("third", "test.nope"))
    == R"(step "third": unknown class "test.nope" (known: test.crashy, test.echo, test.null, test.picky))");
  auto checked = reg.check(spec("third", "test.nope"), services);
  BOOST_TEST((checked.code == errc::unknown_class));
  BOOST_TEST(checked.context == make_error(spec("third", "test.nope")));
  BOOST_TEST(!reg.check(spec("third", "test.echo"), services));
}

BOOST_AUTO_TEST_CASE(unknown_class_with_many_classes_gives_a_count) {
  for (int i = 0; i < 20; ++i)
    reg.add("bulk." + std::to_string(i),
            [](const json::value&, const service_map&) {
              return std::unique_ptr<step>{};
            });
  auto err = make_error(spec("s", "bulk.x"));
  BOOST_TEST(contains(
    err, R"(step "s": unknown class "bulk.x" (24 classes are registered)"));
  procman::step_registry empty;
  auto none = empty.make(spec("s", "a"), services);
  BOOST_REQUIRE(!none);
  BOOST_TEST(
    none.error().context
    == R"(step "s": unknown class "a" (no step classes are registered))");
}

BOOST_AUTO_TEST_CASE(unknown_service_names_the_step_and_service) {
  BOOST_TEST(make_error(spec("send", "test.echo", "null", {"db", "smtp"}))
             == R"(step "send": unknown service "smtp")");
}

BOOST_AUTO_TEST_CASE(malformed_args_text_is_bad_args) {
  auto err = make_error(spec("x", "test.echo", "{nope"));
  BOOST_TEST(contains(err, R"(step "x": bad args: malformed JSON at offset)"));
}

BOOST_AUTO_TEST_CASE(factory_exceptions_become_bad_args) {
  BOOST_TEST(make_error(spec("x", "test.picky"))
             == R"(step "x": bad args: field "size" must be small)");
  BOOST_TEST(make_error(spec("y", "test.crashy"))
             == R"(step "y": bad args: factory fell over)");
  BOOST_TEST(make_error(spec("z", "test.null"))
             == R"(step "z": bad args: class "test.null" built no step)");
}

BOOST_AUTO_TEST_CASE(precheck_refuses_what_the_registry_can_tell) {
  procman::step_registry builtins;
  register_builtin_steps(builtins);
  // An unknown class of a namespace the registry knows.
  auto f = builtins.precheck({spec("x", "procman.nope")}, services);
  BOOST_TEST((f.code == errc::unknown_class));
  BOOST_TEST(f.context.rfind(R"(step "x": unknown class "procman.nope")", 0)
             == 0);
  // Bad args of a built-in: its factory only reads them.
  f = builtins.precheck({spec("ok", "procman.set", "{}"),
                         spec("nap", "procman.sleep", R"({"seconds": "x"})")},
                        services);
  BOOST_TEST((f.code == errc::invalid_spec));
  BOOST_TEST(contains(f.context, R"(step "nap": bad args: )"));
  BOOST_TEST(contains(f.context, "seconds"));
  // Good ones pass.
  BOOST_TEST(!builtins.precheck(
    {spec("ok", "procman.sleep", R"({"seconds": 1})")}, services));
}

BOOST_AUTO_TEST_CASE(precheck_leaves_what_it_cannot_tell_unchecked) {
  procman::step_registry builtins;
  register_builtin_steps(builtins);
  std::vector<step_spec> unchecked;
  // Another namespace may come from a library only a runner loads.
  BOOST_TEST(!builtins.precheck({spec("a", "acme.resize"), spec("b", "bare")},
                                services, &unchecked));
  BOOST_REQUIRE_EQUAL(unchecked.size(), 2u);
  BOOST_TEST(unchecked[0].name == "a");
  // A class registered with `add` may have side effects in its factory:
  // it is known, its args are not checked (test.crashy would throw).
  bool called = false;
  reg.add("test.counting", [&](const json::value&, const service_map&) {
    called = true;
    return std::unique_ptr<step>{};
  });
  unchecked.clear();
  BOOST_TEST(
    !reg.precheck({spec("c", "test.counting"), spec("d", "test.crashy")},
                  services, &unchecked));
  BOOST_TEST(!called);
  BOOST_TEST(unchecked.empty());
  // An unknown class of a library's namespace is refused.
  auto f = reg.precheck({spec("e", "test.nope")}, services);
  BOOST_TEST((f.code == errc::unknown_class));
}

BOOST_AUTO_TEST_SUITE_END()

// -- step libraries loaded into this (dynamically linked) test program --------

namespace {

struct plugin_fixture {
  procman::step_registry reg;
  service_registry services;
  recording_context ctx;
  std::string lib = test_path("plugins/steps_test_plugin.so");
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(step_plugins, plugin_fixture)

BOOST_AUTO_TEST_CASE(a_library_registers_steps_and_services) {
  BOOST_TEST_REQUIRE(!load_step_library(lib, reg, services));
  BOOST_TEST(reg.contains("test.upper"));
  BOOST_TEST(reg.contains("test.throw"));
  BOOST_TEST(services.contains("plugin.greeting"));
  BOOST_TEST(*services.get<std::string>("plugin.greeting")
             == "hello from the plug-in");
}

BOOST_AUTO_TEST_CASE(json_passes_both_ways) {
  BOOST_TEST_REQUIRE(!load_step_library(lib, reg, services));
  auto made = reg.make(spec("up", "test.upper", R"({"key": "name"})"),
                       services);
  BOOST_REQUIRE(made);
  auto& s = *made;
  auto out = s->execute({{"name", "ada"}, {"n", 1}}, ctx);
  BOOST_TEST(out.at("name").as_string() == "ADA");
  BOOST_TEST(out.at("n").as_int64() == 1);
  BOOST_TEST(json::serialize(out.at("from_plugin"))
             == R"({"list":[1,2.5E0,"three",null],"nested":{"ok":true}})");
  // The host changes what the library built.
  out["from_plugin"].as_object()["nested"].as_object()["host"] = "was here";
  BOOST_TEST(out.at("from_plugin").at("nested").at("host").as_string()
             == "was here");
  BOOST_TEST_REQUIRE(ctx.reports.size() == 1u);
  BOOST_TEST(ctx.reports[0].second == "half way in the plug-in");
}

BOOST_AUTO_TEST_CASE(library_services_reach_library_steps) {
  BOOST_TEST_REQUIRE(!load_step_library(lib, reg, services));
  auto made = reg.make(spec("svc", "test.service", "null", {"plugin.greeting"}),
                       services);
  BOOST_REQUIRE(made);
  auto& s = *made;
  BOOST_TEST(s->execute({}, ctx).at("greeting").as_string()
             == "hello from the plug-in");
}

BOOST_AUTO_TEST_CASE(library_exceptions_are_std_exceptions_with_stack) {
  BOOST_TEST_REQUIRE(!load_step_library(lib, reg, services));
  observer_log log;
  auto r = run_steps({spec("kaboom", "test.throw")}, 0, {}, reg, services,
                     log.observer(), {});
  BOOST_TEST(r.outcome == step_run_result::failed);
  BOOST_TEST((r.error.kind == error_kind::exception));
  BOOST_TEST(r.error.step == "kaboom");
  BOOST_TEST(r.error.message == R"(Step "kaboom" failed: plugin exploded)");
  BOOST_TEST(!r.error.stack.empty());
}

BOOST_AUTO_TEST_CASE(library_spec_error_is_recognised_across_the_boundary) {
  BOOST_TEST_REQUIRE(!load_step_library(lib, reg, services));
  observer_log log;
  auto r = run_steps({spec("late", "test.lazy_spec")}, 0, {}, reg, services,
                     log.observer(), {});
  BOOST_TEST((r.error.kind == error_kind::spec));
  BOOST_TEST(r.error.message
             == R"(step "late": bad args: field "late" checked at run time)");
}

BOOST_AUTO_TEST_CASE(a_missing_library_names_the_path_and_reason) {
  auto err
    = load_step_library("/nonexistent/libsteps.so", reg, services).context;
  BOOST_TEST(
    contains(err, R"(step library "/nonexistent/libsteps.so": cannot load: )"));
  BOOST_TEST(contains(err, "No such file or directory"));
}

BOOST_AUTO_TEST_CASE(a_library_without_the_symbol_is_refused) {
  auto bad = test_path("plugins/steps_no_register.so");
  auto err = load_step_library(bad, reg, services).context;
  BOOST_TEST(contains(err, "step library \"" + bad
                             + "\": no function procman_register_steps"));
  BOOST_TEST(reg.classes().empty());
}

BOOST_AUTO_TEST_CASE(a_file_that_is_no_library_is_refused) {
  temp_dir dir;
  auto path = (dir.path / "fake.so").string();
  FILE* f = std::fopen(path.c_str(), "w");
  for (int i = 0; i < 100; ++i) // long enough not to be "too short"
    std::fputs("not an ELF file\n", f);
  std::fclose(f);
  auto err = load_step_library(path, reg, services).context;
  BOOST_TEST(contains(err, "step library \"" + path + "\": cannot load: "));
  BOOST_TEST(contains(err, "invalid ELF header"));
}

BOOST_AUTO_TEST_CASE(lists_split_on_colons_and_stop_at_the_first_error) {
  BOOST_TEST(!load_step_libraries("::" + lib + ":", reg, services));
  BOOST_TEST(reg.contains("test.upper"));
  procman::step_registry reg2;
  auto f = load_step_libraries(lib + ":/nonexistent/b.so:/nonexistent/c.so",
                               reg2, services);
  BOOST_TEST((f.code == errc::invalid_argument));
  auto& err = f.context;
  BOOST_TEST(contains(err, R"(step library "/nonexistent/b.so")"));
  BOOST_TEST(!contains(err, "c.so"));
  BOOST_TEST(reg2.contains("test.upper"));
  BOOST_TEST(!load_step_libraries("", reg2, services));
}

BOOST_AUTO_TEST_SUITE_END()
