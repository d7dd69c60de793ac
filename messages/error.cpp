#include "procman/messages/error.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>

namespace procman {

std::string to_string(errc x) {
  switch (x) {
    case errc::unknown_process: return "unknown_process";
    case errc::illegal_transition: return "illegal_transition";
    case errc::invalid_spec: return "invalid_spec";
    case errc::invalid_json: return "invalid_json";
    case errc::storage_failure: return "storage_failure";
    case errc::store_version: return "store_version";
    case errc::store_damaged: return "store_damaged";
    case errc::store_access: return "store_access";
    case errc::not_interrupted: return "not_interrupted";
    case errc::already_terminal: return "already_terminal";
    case errc::runner_busy: return "runner_busy";
    case errc::spawn_failure: return "spawn_failure";
    case errc::timeout: return "timeout";
    case errc::unknown_class: return "unknown_class";
    case errc::unknown_service: return "unknown_service";
    case errc::invalid_argument: return "invalid_argument";
    case errc::connect_failure: return "connect_failure";
  }
  return "unknown_error";
}

caf::error make_error(errc code, std::string context) {
  return caf::error{static_cast<uint8_t>(code), caf::atom("procman"),
                    caf::make_message(std::move(context))};
}

bool is(const caf::error& err, errc code) {
  // code() and category() dereference the error's data, which "no error"
  // does not have.
  return err && err.category() == caf::atom("procman")
         && err.code() == static_cast<uint8_t>(code);
}

std::string render(const caf::error& err) {
  if (!err)
    return "no error";
  if (err.category() == caf::atom("procman")) {
    auto& ctx = err.context();
    if (ctx.match_elements<std::string>())
      return ctx.get_as<std::string>(0);
    return to_string(static_cast<errc>(err.code()));
  }
  return caf::to_string(err);
}

} // namespace procman
