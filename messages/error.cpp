#include "procman/messages/error.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace procman {

caf::error make_error(errc code, std::string context) {
  return caf::error{static_cast<uint8_t>(code), caf::atom("procman"),
                    caf::make_message(std::move(context))};
}

caf::error to_error(const failure& f) {
  if (!f)
    return {};
  if (f.os_errno != 0)
    return make_error(f.code, f.context, f.os_errno);
  return make_error(f.code, f.context);
}

failure to_failure(const caf::error& err) {
  if (!err)
    return {};
  if (err.category() == caf::atom("procman"))
    return failure{static_cast<errc>(err.code()), render(err), os_errno(err)};
  auto code = err == caf::sec::request_timeout ? errc::timeout
                                               : errc::connect_failure;
  return failure{code, render(err)};
}

caf::error make_error(errc code, std::string context, int32_t os_errno) {
  return caf::error{static_cast<uint8_t>(code), caf::atom("procman"),
                    caf::make_message(std::move(context), os_errno)};
}

int32_t os_errno(const caf::error& err) {
  if (!err || err.category() != caf::atom("procman"))
    return 0;
  auto& ctx = err.context();
  if (ctx.match_elements<std::string, int32_t>())
    return ctx.get_as<int32_t>(1);
  return 0;
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
    if (ctx.match_elements<std::string>()
        || ctx.match_elements<std::string, int32_t>())
      return ctx.get_as<std::string>(0);
    return to_string(static_cast<errc>(err.code()));
  }
  return caf::to_string(err);
}

} // namespace procman
