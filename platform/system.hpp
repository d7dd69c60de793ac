// What procman asks of the operating system about itself: this process's
// id, the host's name, random bytes, which boot of the machine this is,
// and whether a host name means this machine alone. The store uses them for
// pids, runner ids and started marks (persistence/pids.hpp, file_lock.hpp,
// started_marks.hpp).

#pragma once

#include <cstddef>
#include <string>

namespace procman::platform {

/// This process's id (getpid, GetCurrentProcessId).
int this_process_id();

/// The path of this process's program (UTF-8).
std::string this_program_path();

/// The host's name ("host" when the system names none).
std::string host_name();

/// Fills `buf` with `size` bytes from the system's random source
/// (getrandom, BCryptGenRandom). Throws std::system_error when it fails.
void random_bytes(unsigned char* buf, size_t size);

/// A text that names this boot of the machine and changes with the next
/// one: Linux's boot_id, Windows's boot time (to 100 ns). Empty when the
/// system does not say.
std::string boot_id();

/// Whether `host` names this machine only: every address it resolves to
/// is in 127.0.0.0/8 or ::1 (false when it resolves to none).
bool is_loopback_host(const std::string& host);

} // namespace procman::platform
