#include "procman/platform/library.hpp"

#include <dlfcn.h>

namespace procman::platform {

outcome<library> library::load(const std::string& path) {
  // RTLD_LOCAL: two libraries may use the same internal names. RTLD_NOW:
  // a missing symbol shows here, not in the middle of a step.
  auto handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    auto why = dlerror();
    return failure{errc::invalid_argument,
                   std::string("cannot load: ")
                     + (why ? why : "unknown dlopen error")};
  }
  return library{handle};
}

outcome<void*> library::symbol(const char* name) const {
  dlerror(); // clear
  auto sym = dlsym(handle_, name);
  if (sym == nullptr) {
    auto text = dlerror();
    return failure{errc::invalid_argument, text ? text : "no such symbol"};
  }
  return sym;
}

std::string module_path_of(const void* address) {
  Dl_info info;
  if (::dladdr(address, &info) != 0 && info.dli_fname != nullptr)
    return info.dli_fname;
  return "?";
}

} // namespace procman::platform
