#include "procman/messages/types.hpp"

#include "procman/messages/errc.hpp"

namespace procman {

namespace {

template <class E, size_t N>
std::optional<E> parse_enum(const std::string& str,
                            const char* const (&names)[N], size_t offset) {
  for (size_t i = 0; i < N; ++i)
    if (str == names[i])
      return static_cast<E>(i + offset);
  return std::nullopt;
}

template <class E, size_t N>
std::string print_enum(E x, const char* const (&names)[N], size_t offset) {
  auto i = static_cast<size_t>(x);
  if (i < offset || i - offset >= N)
    return "unknown";
  return names[i - offset];
}

const char* const status_names[] = {
  "queued", "running", "interrupted", "finished", "error", "cancelled", "held"};
const char* const step_names[] = {"pending", "running", "completed", "failed",
                                  "cancelled"};
const char* const kind_names[] = {"none",        "exception", "spec",
                                  "output",      "timeout",   "crash",
                                  "runner_lost", "node_lost"};
const char* const transition_names[]
  = {"enqueue",  "claim",     "start",   "step_started", "step_completed",
     "progress", "interrupt", "proceed", "finish",       "fail",
     "cancel",   "purge",     "retry",   "schedule_add", "schedule_remove",
     "hold",     "release"};
const char* const backoff_names[] = {"exponential", "fixed"};

} // namespace

std::string to_string(process_status x) {
  return print_enum(x, status_names, 1);
}
std::string to_string(step_status x) {
  return print_enum(x, step_names, 0);
}
std::string to_string(error_kind x) {
  return print_enum(x, kind_names, 0);
}
std::string to_string(transition_kind x) {
  return print_enum(x, transition_names, 1);
}

std::string to_string(backoff_kind x) {
  return print_enum(x, backoff_names, 0);
}

template <>
std::optional<backoff_kind> from_string(const std::string& str) {
  return parse_enum<backoff_kind>(str, backoff_names, 0);
}

template <>
std::optional<process_status> from_string(const std::string& str) {
  return parse_enum<process_status>(str, status_names, 1);
}
template <>
std::optional<step_status> from_string(const std::string& str) {
  return parse_enum<step_status>(str, step_names, 0);
}
template <>
std::optional<error_kind> from_string(const std::string& str) {
  return parse_enum<error_kind>(str, kind_names, 0);
}
template <>
std::optional<transition_kind> from_string(const std::string& str) {
  return parse_enum<transition_kind>(str, transition_names, 1);
}

std::string to_string(errc x) {
  switch (x) {
    case errc::unknown_process:
      return "unknown_process";
    case errc::illegal_transition:
      return "illegal_transition";
    case errc::invalid_spec:
      return "invalid_spec";
    case errc::invalid_json:
      return "invalid_json";
    case errc::storage_failure:
      return "storage_failure";
    case errc::store_version:
      return "store_version";
    case errc::store_damaged:
      return "store_damaged";
    case errc::store_access:
      return "store_access";
    case errc::not_interrupted:
      return "not_interrupted";
    case errc::already_terminal:
      return "already_terminal";
    case errc::runner_busy:
      return "runner_busy";
    case errc::spawn_failure:
      return "spawn_failure";
    case errc::timeout:
      return "timeout";
    case errc::unknown_class:
      return "unknown_class";
    case errc::unknown_service:
      return "unknown_service";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::connect_failure:
      return "connect_failure";
    case errc::queue_empty:
      return "queue_empty";
    case errc::containment_failure:
      return "containment_failure";
    case errc::unknown_schedule:
      return "unknown_schedule";
    case errc::lease_expired:
      return "lease_expired";
    case errc::unauthorized:
      return "unauthorized";
    case errc::forbidden:
      return "forbidden";
    case errc::unknown_token:
      return "unknown_token";
  }
  return "unknown_error";
}

} // namespace procman
