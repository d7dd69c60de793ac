// A shared object that is not a step library: no procman_register_steps.
extern "C" int procman_something_else() {
  return 42;
}
