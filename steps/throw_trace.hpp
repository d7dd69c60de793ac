// Stack traces of exceptions, taken while the throwing frames are still on
// the stack where the program allows it.
//
// procman-exec wraps the C++ personality routine (`-Wl,--wrap=
// __gxx_personality_v0`, apps/procman-exec/throw_hook.cpp): when the search
// phase of an exception finds the frame that will catch it, and that frame is
// compiled into the executor (the step runner is), the hook calls
// `note_exception_stack` before any frame is unwound. That covers throws from
// step libraries and from libstdc++ as well as from the executor's own code.
// Programs without the hook (tests, hosts embedding the library) get the
// stack at the catch site instead.

#pragma once

#include <string>

namespace procman::detail {

/// Records the current stack for the exception whose thrown object is at
/// `object` (nullptr if unknown). Async-signal-safe and allocation-free:
/// callable from inside the unwinder. Nested calls are ignored.
void note_exception_stack(const void* object) noexcept;

/// The stack of the exception being handled, as text (one frame per line):
/// the one noted for `object` (the thrown object's address; nullptr accepts
/// any) if there is one, else the stack of the caller now. Clears the noted
/// stack.
std::string take_exception_stack(const void* object);

} // namespace procman::detail
