// Times as procman writes and reads them, and the wall clock: unix
// milliseconds in the records and the log, UTC text for people and specs.
// No CAF in here: procman-exec links it.

#pragma once

#include <cstdint>
#include <string>

#include "procman/messages/failure.hpp"

namespace procman {

/// UTC `YYYYMMDDHHMMSS` of unix milliseconds, "" for 0.
std::string timestamp(uint64_t unix_ms);

/// ISO 8601 UTC of unix milliseconds: `2026-12-01T10:00:00Z`, with
/// `.mmm` when the milliseconds are not 0.
std::string iso_time(uint64_t unix_ms);

/// Unix milliseconds of a time given as UTC `YYYYMMDDHHMMSS` or ISO 8601
/// (`2026-12-01T10:00:00Z`, fractions of a second, `+01:00` offsets).
/// errc::invalid_spec saying which forms are accepted.
outcome<uint64_t> parse_time(const std::string& text);

/// Unix milliseconds now.
uint64_t now_ms();

} // namespace procman
