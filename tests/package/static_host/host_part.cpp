#include <string>

#include "procman/engine/engine.hpp"

std::string executor_path() {
  return procman::default_exec_path();
}
