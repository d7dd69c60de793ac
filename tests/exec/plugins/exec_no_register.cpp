// A shared object that is not a step library: no procman_register_steps.
extern "C" int procman_not_a_step_library() {
  return 7;
}
