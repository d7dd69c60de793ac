#include "procman/apps/procman/run_tree.hpp"

#include <csignal>

#include <unistd.h>

#include "procman/children/process_tree.hpp"

namespace procman::cli {

namespace {

extern "C" void on_run_signal(int sig) {
  kill_tree(getpid(), false);
  signal(sig, SIG_DFL);
  raise(sig);
}

} // namespace

void hold_run_tree() {
  become_subreaper();
  for (int sig : {SIGTERM, SIGINT, SIGHUP})
    signal(sig, on_run_signal);
}

void end_run_tree() {
  end_descendants();
}

} // namespace procman::cli
