// Group commit: single transitions applied from several threads at once
// share one durable commit. The first caller that finds no commit under way
// becomes the leader: it takes every transition waiting (its own included)
// and commits them in one transaction, in the order they arrived; the
// others wait for their results, and one of those that arrived during the
// commit leads the next. A caller alone commits at once, as before, so a
// single-threaded user pays only a lock; 64 concurrent starts (the HTTP
// server's) pay one fsync between them instead of 64.
//
// Each transition gets the result it would have had alone: a refused one
// changes nothing and the others commit; a commit that fails as a whole
// gives every transition of the batch its error. Nobody is answered before
// the commit that holds its transition is durable.

#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "procman/messages/failure.hpp"
#include "procman/messages/types.hpp"

namespace procman {

class group_commit {
public:
  /// Commits transitions in one transaction, a result for each, in order.
  using commit_fn = std::function<std::vector<outcome<process_record>>(
    const std::vector<transition>&)>;

  /// Applies `t` through `commit`, together with whatever other threads
  /// apply meanwhile.
  outcome<process_record> apply(const transition& t, const commit_fn& commit);

  /// Transitions waiting for the next commit (not the one under way).
  size_t waiting();

private:
  struct waiter;

  std::mutex mtx_;
  std::condition_variable done_;
  std::vector<waiter*> waiting_;
  bool committing_ = false;
};

} // namespace procman
