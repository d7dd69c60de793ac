#include "steps/step.hpp"

namespace procman {

step_context::~step_context() = default;
step::~step() = default;
bool step::interrupts() const { return false; }
bool interrupting_step::interrupts() const { return true; }

} // namespace procman
