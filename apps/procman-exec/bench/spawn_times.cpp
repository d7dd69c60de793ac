// Times how long programs take from spawn to exit, each with the same file
// on stdin and /dev/null as stdout, interleaved round by round so that load
// from elsewhere on the machine affects all of them alike.
//
//   procman-exec-spawn-times RUNS INPUT PROGRAM[=INPUT]...
//
// A program given as PROGRAM=FILE gets FILE on stdin instead of INPUT (the
// same program with two inputs).
//
// Prints per program: median, mean, 10th and 90th percentile in µs, and the
// median relative to the first program.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s RUNS INPUT PROGRAM[=INPUT]...\n", argv[0]);
    return 2;
  }
  int runs = std::atoi(argv[1]);
  std::vector<std::string> programs(argv + 3, argv + argc);
  std::vector<std::string> inputs(programs.size(), argv[2]);
  for (size_t p = 0; p < programs.size(); ++p)
    if (auto eq = programs[p].find('='); eq != std::string::npos) {
      inputs[p] = programs[p].substr(eq + 1);
      programs[p].resize(eq);
    }
  std::vector<std::vector<double>> samples(programs.size());
  int null_fd = open("/dev/null", O_WRONLY);
  for (int round = -10; round < runs; ++round) { // 10 rounds of warm-up
    for (size_t p = 0; p < programs.size(); ++p) {
      int in_fd = open(inputs[p].c_str(), O_RDONLY);
      posix_spawn_file_actions_t fa;
      posix_spawn_file_actions_init(&fa);
      posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
      posix_spawn_file_actions_adddup2(&fa, null_fd, 1);
      char* args[] = {programs[p].data(), nullptr};
      pid_t pid;
      auto t0 = std::chrono::steady_clock::now();
      if (posix_spawn(&pid, args[0], &fa, nullptr, args, environ) != 0) {
        std::perror(args[0]);
        return 1;
      }
      int status = 0;
      waitpid(pid, &status, 0);
      auto t1 = std::chrono::steady_clock::now();
      posix_spawn_file_actions_destroy(&fa);
      close(in_fd);
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::fprintf(stderr, "%s failed\n", args[0]);
        return 1;
      }
      if (round >= 0)
        samples[p].push_back(
          std::chrono::duration<double, std::micro>(t1 - t0).count());
    }
  }
  double base = 0;
  std::printf("%10s %10s %10s %10s %8s  program (%d runs each)\n", "median",
              "mean", "p10", "p90", "ratio", runs);
  for (size_t p = 0; p < programs.size(); ++p) {
    auto& s = samples[p];
    std::sort(s.begin(), s.end());
    auto at = [&](double q) {
      return s[static_cast<size_t>(q * (s.size() - 1))];
    };
    double mean = std::accumulate(s.begin(), s.end(), 0.0) / s.size();
    if (p == 0)
      base = at(0.5);
    std::printf("%8.0f µs %7.0f µs %7.0f µs %7.0f µs %7.2fx  %s\n", at(0.5),
                mean, at(0.1), at(0.9), at(0.5) / base, programs[p].c_str());
    if (inputs[p] != argv[2])
      std::printf("%59s< %s\n", "", inputs[p].c_str());
  }
  return 0;
}
