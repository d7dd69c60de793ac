// The store's state (store.hpp's `store::impl`), shared by the units that
// implement `store`: store.cpp (transitions, schedules, purge, settings)
// and store_reads.cpp (reads, API tokens). Internal: not installed.

#pragma once

#include <utility>

#include "procman/messages/time.hpp"
#include "procman/persistence/group_commit.hpp"
#include "procman/persistence/store.hpp"
#include "procman/persistence/transaction.hpp"
#include "procman/persistence/transitions.hpp"

namespace procman {

struct store::impl {
  using tx = tables::tx;

  store_options opts;
  tables::database db;
  /// Single applies from several threads share commits.
  group_commit group;

  uint64_t now() const { return opts.clock ? opts.clock() : now_ms(); }

  /// What `body(tx)` returns, read in one transaction.
  template <class F>
  auto read(F&& body) -> outcome<decltype(body(std::declval<tx&>()))> {
    decltype(body(std::declval<tx&>())) out{};
    if (auto err = db.read([&](const tx& t) { out = body(t); }))
      return err;
    return out;
  }

  /// What `body(tx)` finds (a std::optional), read in one transaction;
  /// `missing()`, a failure, when it finds nothing.
  template <class F, class M>
  auto find(F&& body, M&& missing)
    -> outcome<typename decltype(body(std::declval<tx&>()))::value_type> {
    auto x = read(std::forward<F>(body));
    if (!x)
      return x.error();
    if (!*x)
      return missing();
    return std::move(**x);
  }

  /// tables::transitions::apply with the options' default timeout.
  outcome<process_record> apply(const tx& x, transition& t, uint64_t now,
                                bool& ring, bool& repeated) {
    return tables::transitions::apply(x, t, now, opts.default_timeout, ring,
                                      repeated);
  }
};

} // namespace procman
