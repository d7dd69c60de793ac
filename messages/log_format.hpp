// The exported message log: JSON Lines, as `procman log export` writes and
// `procman replay` reads them (docs/log-format.md).
//
//   {"format": "procman-log", "version": 1, "store": "...",
//    "exported_at": "...", "since": 0, "pid": null}
//   {"type": "entry", "seq": 1, "time": 1764286501123, "source": "client",
//    "event": "enqueue", "pid": "...", "status_after": "queued",
//    "payload": {...}}
//   ...
//   {"type": "record", "record": {...}}     one per process named above

#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "procman/messages/failure.hpp"
#include "procman/messages/types.hpp"

namespace procman {

constexpr const char* log_format_name = "procman-log";
constexpr int log_format_version = 1;

/// A parsed log file.
struct log_file {
  int version = log_format_version;
  std::string store;
  uint64_t since = 0;
  std::string pid; ///< the export's pid filter, "" for all
  std::vector<log_entry> entries;
  std::vector<process_record> records;
};

/// The header line.
boost::json::object log_header(const std::string& store, uint64_t since,
                               const std::string& pid, uint64_t now_ms);

/// One entry line. Fields that the event does not use are left out.
boost::json::object log_line(const log_entry& e);

/// One record line.
boost::json::object record_line(const process_record& r);

/// Parses an entry line (the object of `log_line`). Fails
/// (errc::invalid_json, invalid_spec) naming the field.
outcome<log_entry> parse_log_line(const boost::json::object& o);

/// Reads the `payload` of an entry line into the typed fields of `t` (by
/// `t.kind`): enqueue the spec, start `{"timeout": S}`, proceed the data,
/// interrupt and finish the output; other kinds have none. Fails
/// (errc::invalid_spec, errc::invalid_json) naming the problem.
failure read_payload(transition& t, const boost::json::value& payload);

/// A `fail` written before transitions had `exec_path`, `spawn_errno` and
/// `garbage` says a failed start ("cannot start executor <path>: <errno
/// text>") or garbage on the report channel ("executor wrote garbage on
/// its report channel: <line>") only in its message: fills those fields
/// from it. Only readers of old entries use it; nothing else reads
/// messages.
void upgrade_failure(transition& t);

/// Reads a whole log file. Failures name the line ("line 12: field
/// \"event\" has unknown value ...").
outcome<log_file> read_log(std::istream& in);

} // namespace procman
