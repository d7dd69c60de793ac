// Boost.JSON compiled into the executor from its sources.
//
// Debian's libboost_json.a hides most symbols (428 of 578 have hidden
// visibility), so a step library could not resolve Boost.JSON against the
// executor; compiled here, the symbols are exported (ENABLE_EXPORTS) and a
// step library needs no Boost.JSON of its own. Same headers, same version.
#include <boost/json/src.hpp>
