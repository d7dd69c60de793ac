// What the executor asks of the operating system beyond the platform layer:
// its report and acknowledgement channels, its parent, and ending the tree
// of processes its steps started. exec_posix.cpp and exec_windows.cpp
// implement it; the build picks one (docs/windows.md has the table).
//
//                   POSIX                           Windows
//   the tree        a subreaper and its process     a Job Object of its own
//                   group; the runner's cgroup      (kill-on-close) that it
//                                                   joins, nested in the
//                                                   runner's
//   stop requests   SIGTERM, SIGINT, SIGHUP         platform::termination_watch
//   parent death    PR_SET_PDEATHSIG                the runner's Job Object

#pragma once

#include <atomic>
#include <string>

#include "procman/messages/failure.hpp"

namespace procman::exec {

/// One owner at a time for the end of the tree: the normal end, a lost
/// report channel, the runner's channel or a stop request (main.cpp).
extern std::atomic<bool> ending;

namespace sys {

/// Before anything else: stop requests end the tree and the executor
/// (with exit code 128 + the signal on POSIX, 128 + 15 on Windows), the
/// tree is set up to hold whatever the steps start, and the standard
/// streams carry bytes as they are.
void prepare();

/// The report channel: a private, non-inheritable copy of stdout; stdout
/// itself then goes to stderr, so that anything else writing to it (a
/// step, a library, a command that inherited it) cannot break the reports.
/// Errors: invalid_argument with the reason when there is no stdout (the
/// executor then exits with its bad-input code).
outcome<int> take_report_channel();

/// Whether the process `parent` (PROCMAN_PARENT_PID) is still this
/// executor's parent; on POSIX the executor also dies with it from now on.
bool parent_is(long parent);

/// After the work was read: a private, non-inheritable copy of stdin for
/// what the runner sends later (-1 if none); stdin itself then reads the
/// null device, so steps get no input of the runner's.
int take_ack_channel();

/// Makes the executor the leader of a process group of its own (POSIX;
/// nothing on Windows, where its Job Object holds its tree).
void lead_own_group();

/// Kills everything the executor started, and the executor with it, which
/// ends with `code` where it can choose. `runner_unable`: the runner cannot
/// do it (gone, or the lease ran out): on Linux its cgroup is killed too.
/// Async-signal-safe on POSIX.
[[noreturn]] void kill_all_and_exit(int code, bool runner_unable = false);

/// Before the final report: kills whatever the steps left running, so that
/// a process that ends leaves nothing behind.
void end_descendants();

/// Makes writes to stderr fail rather than block (nobody may read it).
void stderr_nonblocking();

} // namespace sys

} // namespace procman::exec
