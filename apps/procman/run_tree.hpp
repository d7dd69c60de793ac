// `procman run` ends what its steps started, even commands that left its
// process group or console: the build picks run_tree.cpp (POSIX: a child
// subreaper, so that orphans stay its descendants, and termination
// signals that kill them) or windows/run_tree.cpp (a Job Object with
// kill-on-close that the CLI joins, so that its end ends them).

#pragma once

namespace procman::cli {

/// Before the steps run: from now on what they start stays in this
/// process's tree, and a termination request ends the tree with it.
void hold_run_tree();

/// After the steps: ends whatever they left running.
void end_run_tree();

} // namespace procman::cli
