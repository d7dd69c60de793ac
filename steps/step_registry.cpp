#include "procman/steps/step_registry.hpp"

#include <exception>
#include <set>

#include <boost/json/value.hpp>

#include "procman/messages/json.hpp"
#include "procman/platform/library.hpp"
#include "procman/platform/paths.hpp"

namespace procman {

namespace {

std::string quoted(const std::string& x) {
  return "\"" + x + "\"";
}

std::string step_prefix(const step_spec& spec) {
  return "step " + quoted(spec.name) + ": ";
}

// Lists the known classes when the list is short enough to help.
std::string known_classes(const std::vector<std::string>& classes) {
  constexpr size_t max_listed = 12;
  if (classes.empty())
    return " (no step classes are registered)";
  if (classes.size() > max_listed)
    return " (" + std::to_string(classes.size())
           + " classes are registered; check the spelling or the step "
             "libraries)";
  std::string out = " (known: ";
  for (size_t i = 0; i < classes.size(); ++i) {
    if (i > 0)
      out += ", ";
    out += classes[i];
  }
  return out + ")";
}

} // namespace

// -- step_registry ------------------------------------------------------------

std::vector<std::string> step_registry::classes() const {
  std::vector<std::string> result;
  result.reserve(factories_.size());
  for (auto& kv : factories_)
    result.push_back(kv.first);
  return result; // std::map keeps them sorted
}

failure step_registry::check(const step_spec& spec,
                             const service_registry& services) const {
  if (factories_.count(spec.cls) == 0)
    return failure{errc::unknown_class, step_prefix(spec) + "unknown class "
                                          + quoted(spec.cls)
                                          + known_classes(classes())};
  for (auto& svc : spec.services)
    if (!services.contains(svc))
      return failure{errc::unknown_service,
                     step_prefix(spec) + "unknown service " + quoted(svc)};
  return {};
}

outcome<std::unique_ptr<step>>
step_registry::make(const step_spec& spec,
                    const service_registry& services) const {
  if (auto f = check(spec, services))
    return f;
  auto bad_args = [&](const std::string& why) {
    return failure{errc::invalid_spec, step_prefix(spec) + "bad args: " + why};
  };
  service_map resolved;
  for (auto& svc : spec.services)
    resolved[svc] = *services.find(svc);
  boost::json::value args;
  if (!spec.args.empty()) {
    auto parsed = parse_json(spec.args);
    if (!parsed)
      return bad_args(parsed.error().context);
    args = std::move(*parsed);
  }
  auto& factory = factories_.find(spec.cls)->second;
  // A factory reports bad args by throwing (the step API).
  try {
    auto result = factory(args, resolved);
    if (!result)
      return bad_args("class " + quoted(spec.cls) + " built no step");
    return result;
  } catch (const std::exception& e) {
    // spec_error is the documented way; any other exception from a factory
    // is just as much a problem with the spec.
    return bad_args(e.what());
  } catch (...) {
    return bad_args("class " + quoted(spec.cls)
                    + " threw a non-standard exception");
  }
}

failure step_registry::precheck(const std::vector<step_spec>& steps,
                                const service_registry& services,
                                std::vector<step_spec>* unchecked) const {
  auto name_space = [](const std::string& cls) {
    auto dot = cls.find('.');
    return dot == std::string::npos ? std::string{} : cls.substr(0, dot);
  };
  std::set<std::string> known_spaces;
  for (auto& kv : factories_)
    if (auto ns = name_space(kv.first); !ns.empty())
      known_spaces.insert(std::move(ns));
  for (auto& spec : steps) {
    if (factories_.count(spec.cls) == 0) {
      auto ns = name_space(spec.cls);
      if (!ns.empty() && known_spaces.count(ns) > 0)
        return check(spec, services);
      if (unchecked != nullptr)
        unchecked->push_back(spec);
      continue;
    }
    if (pure_.count(spec.cls) == 0)
      continue;
    bool have_services = true;
    for (auto& svc : spec.services)
      have_services = have_services && services.contains(svc);
    if (!have_services)
      continue;
    if (auto made = make(spec, services); !made)
      return made.error();
  }
  return {};
}

// -- step libraries -----------------------------------------------------------

failure load_step_library(const std::string& path, step_registry& reg,
                          service_registry& services) {
  auto fail = [&](const std::string& why) {
    return failure{errc::invalid_argument,
                   "step library " + quoted(path) + ": " + why};
  };
  if (path.empty())
    return fail("empty path");
  auto lib = platform::library::load(path);
  if (!lib)
    return fail(lib.error().context);
  auto sym = lib->symbol(register_steps_symbol);
  if (!sym) {
    // Never unloaded: harmless here, and a library may hold global state.
    return fail(std::string("no function ") + register_steps_symbol
                + " (declare it extern \"C\"): " + sym.error().context);
  }
  auto fn = reinterpret_cast<register_steps_fn>(*sym);
  // A registration function reports trouble by throwing (the step API).
  try {
    fn(reg, services);
  } catch (const std::exception& e) {
    return fail(std::string(register_steps_symbol) + " failed: " + e.what());
  } catch (...) {
    return fail(std::string(register_steps_symbol)
                + " failed with a non-standard exception");
  }
  // The handle stays open: the factories and steps live in the library.
  return {};
}

std::vector<std::string> split_library_list(const std::string& list) {
  return platform::split_path_list(list);
}

failure load_step_libraries(const std::string& list, step_registry& reg,
                            service_registry& services) {
  for (auto& path : split_library_list(list))
    if (auto f = load_step_library(path, reg, services))
      return f;
  return {};
}

} // namespace procman
