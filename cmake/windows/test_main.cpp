// The test executables' main on Windows: Boost.Test's header-only variant
// (Debian's Boost.Test libraries are Linux builds).
#define BOOST_TEST_MODULE procman
#include <boost/test/included/unit_test.hpp>
