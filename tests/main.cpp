#define BOOST_TEST_MODULE procman
#include <boost/test/unit_test.hpp>
