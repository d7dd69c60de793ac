// Shared helpers of the persistence tests: a store in a temporary directory
// with a hand-driven clock, spec builders, and checks that print procman's
// error text when they fail.

#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "procman/messages/error.hpp"
#include "procman/messages/spec_check.hpp"
#include "procman/messages/types.hpp"
#include "procman/persistence/codec.hpp"
#include "procman/persistence/store.hpp"

#include "fixtures/temp_dir.hpp"

namespace procman::test {

/// `{"steps": {"s0": {"class": "echo"}, ...}, "data": {"n": 1}}` with
/// `steps` steps, plus `"timeout"` when non-zero.
inline std::string spec_json(size_t steps = 3, uint32_t timeout = 0,
                             const std::string& data = R"({"n":1})") {
  std::string out = R"({"steps":{)";
  for (size_t i = 0; i < steps; ++i) {
    if (i > 0)
      out += ',';
    out += "\"s" + std::to_string(i) + R"(":{"class":"echo","args":[)"
           + std::to_string(i) + "]}";
  }
  out += "},\"data\":" + data;
  if (timeout != 0)
    out += ",\"timeout\":" + std::to_string(timeout);
  out += '}';
  return out;
}

inline transition make_transition(transition_kind kind,
                                  const std::string& pid = {}) {
  transition t;
  t.kind = kind;
  t.pid = pid;
  t.source = "test";
  return t;
}

/// An enqueue of the spec in `json`. A text that is not a spec leaves the
/// spec empty (no steps), which the store refuses.
inline transition enqueue_of(const std::string& json,
                             const std::string& pid = {}) {
  auto t = make_transition(transition_kind::enqueue, pid);
  if (auto spec = parse_spec(json))
    t.spec = std::move(*spec);
  return t;
}

/// Unwraps `x`, failing the test case with the error text otherwise.
template <class T>
T must(outcome<T> x, const char* what = "operation") {
  if (!x)
    BOOST_FAIL(std::string{what} + " failed: " + render(x.error()));
  return std::move(*x);
}

/// Options of a store in `dir` that does not sync (tests only).
inline store_options fast(const std::string& dir) {
  store_options opts;
  opts.dir = dir;
  opts.no_sync = true;
  return opts;
}

/// The encoded bytes of a record: equal bytes, equal records.
inline std::vector<char> bytes_of(const process_record& x) {
  std::vector<char> buf;
  codec::encode(x, buf);
  return buf;
}

struct store_fixture {
  temp_dir tmp;
  uint64_t clock_ms = 1'600'000'000'000;
  std::unique_ptr<store> st;

  store_fixture() { st = must(store::open(options()), "store::open"); }

  store_options options() {
    store_options opts;
    opts.dir = tmp.str() + "/store";
    opts.no_sync = true;
    opts.clock = [this] { return clock_ms; };
    return opts;
  }

  process_record enqueue(size_t steps = 3) {
    return must(st->apply(enqueue_of(spec_json(steps))), "enqueue");
  }

  process_record apply(transition t) {
    return must(st->apply(t), to_string(t.kind).c_str());
  }

  process_record apply(transition_kind kind, const std::string& pid) {
    return apply(make_transition(kind, pid));
  }

  uint64_t last_seq() { return must(st->stats(), "stats").last_seq; }

  /// Brings a fresh process into `s` through legal transitions.
  process_record make_in(process_status s) {
    using tk = transition_kind;
    auto rec = enqueue();
    auto& pid = rec.pid;
    if (s == process_status::queued)
      return rec;
    auto claim = make_transition(tk::claim, pid);
    claim.runner = "r1";
    rec = apply(claim);
    switch (s) {
      case process_status::running:
        return rec;
      case process_status::interrupted: {
        auto t = make_transition(tk::interrupt, pid);
        t.step = 0;
        t.output = R"({"asked":true})";
        return apply(t);
      }
      case process_status::finished: {
        auto t = make_transition(tk::finish, pid);
        t.output = R"({"done":1})";
        return apply(t);
      }
      case process_status::error: {
        auto t = make_transition(tk::fail, pid);
        t.error.kind = error_kind::exception;
        t.error.message = "boom";
        return apply(t);
      }
      case process_status::cancelled:
        apply(tk::cancel, pid);
        return apply(tk::cancel, pid);
      default:
        return rec;
    }
  }
};

} // namespace procman::test
