#include "spawn.hpp"

#include <csignal>

#include "procman/platform/paths.hpp"

namespace procman::platform::posix {

outcome<pid_t> spawn(const std::vector<std::string>& argv,
                     std::vector<std::string> env,
                     const posix_spawn_file_actions_t* fa, bool own_group) {
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t all;
  sigset_t none;
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  if (own_group) {
    posix_spawnattr_setpgroup(&attr, 0);
    flags |= POSIX_SPAWN_SETPGROUP;
  }
  posix_spawnattr_setflags(&attr, flags);
  std::vector<char*> envp;
  for (auto& e : env)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  auto rc = posix_spawnp(&pid, argv.at(0).c_str(), fa, &attr, args.data(),
                         envp.data());
  posix_spawnattr_destroy(&attr);
  if (rc != 0)
    return failure{errc::spawn_failure, error_text(rc), rc};
  return pid;
}

} // namespace procman::platform::posix
