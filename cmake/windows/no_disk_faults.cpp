// The actor suites' full disk (tests/actors/disk_faults.cpp) replaces the
// C library's write functions in the test program, which a Windows program
// cannot do to the C runtime's: here a case that asks for it fails, naming
// why (those cases are left out: cmake/windows/tests.cmake).

#include <stdexcept>

namespace procman::test {

void set_disk_full(bool on) {
  if (on)
    throw std::logic_error("no full disk on Windows: the disk-fault hooks "
                           "replace the C library's write functions, which "
                           "only POSIX allows");
}

} // namespace procman::test
