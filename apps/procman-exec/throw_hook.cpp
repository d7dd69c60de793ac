// Throw-time stack traces for the executor (see steps/throw_trace.hpp).
//
// Linked with -Wl,--wrap=__gxx_personality_v0, so every frame compiled into
// procman-exec (the step runner among them) uses this personality routine.
// When the search phase of an exception finds the frame that will catch it,
// nothing has been unwound yet: the stack still shows where it was thrown,
// whether in the executor, in libstdc++ or in a step library.

#include <unwind.h>

#include "procman/steps/throw_trace.hpp"

extern "C" {

_Unwind_Reason_Code
__real___gxx_personality_v0(int version, _Unwind_Action actions,
                            _Unwind_Exception_Class cls, _Unwind_Exception* ue,
                            _Unwind_Context* ctx);

_Unwind_Reason_Code
__wrap___gxx_personality_v0(int version, _Unwind_Action actions,
                            _Unwind_Exception_Class cls, _Unwind_Exception* ue,
                            _Unwind_Context* ctx) {
  auto rc = __real___gxx_personality_v0(version, actions, cls, ue, ctx);
  if ((actions & _UA_SEARCH_PHASE) != 0 && rc == _URC_HANDLER_FOUND) {
    // "GNUCC++\0": a primary C++ exception, whose thrown object follows the
    // unwind header (libstdc++'s __get_object_from_ue). Others (dependent
    // exceptions from std::rethrow_exception, foreign ones): unknown.
    constexpr _Unwind_Exception_Class gnu_cxx_primary = 0x474e5543432b2b00;
    const void* object = cls == gnu_cxx_primary ? ue + 1 : nullptr;
    procman::detail::note_exception_stack(object);
  }
  return rc;
}

} // extern "C"
