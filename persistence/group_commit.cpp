#include "procman/persistence/group_commit.hpp"

#include <exception>
#include <optional>

namespace procman {

struct group_commit::waiter {
  const transition* t;
  std::optional<outcome<process_record>> result;
};

outcome<process_record> group_commit::apply(const transition& t,
                                            const commit_fn& commit) {
  waiter self{&t, std::nullopt};
  std::unique_lock<std::mutex> guard{mtx_};
  waiting_.push_back(&self);
  while (!self.result) {
    if (committing_) {
      done_.wait(guard);
      continue;
    }
    // Lead: commit everything waiting, this caller's transition included.
    committing_ = true;
    auto batch = std::move(waiting_);
    waiting_.clear();
    guard.unlock();
    std::vector<transition> ts;
    ts.reserve(batch.size());
    for (auto* w : batch)
      ts.push_back(*w->t);
    std::vector<outcome<process_record>> results;
    try {
      results = commit(ts);
    } catch (const std::exception& e) {
      results.clear();
      for (size_t i = 0; i < ts.size(); ++i)
        results.emplace_back(make_failure(errc::storage_failure,
                                          std::string{"commit: "} + e.what()));
    }
    guard.lock();
    for (size_t i = 0; i < batch.size(); ++i)
      batch[i]->result = i < results.size()
                           ? std::move(results[i])
                           : outcome<process_record>{make_failure(
                             errc::storage_failure, "commit: no result")};
    committing_ = false;
    done_.notify_all();
  }
  return std::move(*self.result);
}

size_t group_commit::waiting() {
  std::lock_guard<std::mutex> guard{mtx_};
  return waiting_.size();
}

} // namespace procman
