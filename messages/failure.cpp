#include "procman/messages/failure.hpp"

namespace procman {

std::string render(const failure& f) {
  if (!f)
    return "no error";
  if (f.context.empty())
    return to_string(f.code);
  return f.context;
}

} // namespace procman
