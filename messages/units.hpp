// Durations and sizes as users write them on command lines and in store
// settings: `30s`, `15m`, `12h`, `7d`; `512K`, `1M`, `2G`. No CAF.

#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "procman/messages/failure.hpp"

namespace procman {

/// Milliseconds of a duration: a number (a fraction is allowed), then
/// optionally `s`, `m`, `h` or `d` (seconds, minutes, hours, days; none:
/// seconds), e.g. `30`, `30s`, `1.5m`, `12h`, `7d`; at most 36500d; rounded
/// to the millisecond. Every duration procman reads parses so (`start
/// --delay`, `purge --older-than`, `--retention`, `--give-up-after`, the
/// retention setting).
/// Refuses (errc::invalid_argument) anything else, naming `what`:
/// `--older-than must be a duration such as 30, 30s, 15m, 12h or 7d, not
/// "7x"`.
outcome<uint64_t> parse_duration(std::string_view text,
                                 const std::string& what);

/// The shortest form of a duration in that syntax: `7d`, `90m`, `45s`;
/// `0s` for 0 (milliseconds below a second are dropped).
std::string format_duration(uint64_t ms);

/// Bytes of a size: a whole number, optionally followed by `K`, `M` or `G`
/// (powers of 1024; `k`, `KiB` and `KB` are read alike), e.g. `1048576`,
/// `512K`, `1M`. Refuses anything else, naming `what`.
outcome<uint64_t> parse_size(std::string_view text, const std::string& what);

/// The shortest form of a size in that syntax: `1M`, `1536K`, `1000`.
std::string format_size(uint64_t bytes);

} // namespace procman
