# procman's dependencies that ship no CMake package: CAF 0.17 (libcaf-dev),
# LMDB (liblmdb-dev) and lmdbxx (liblmdb++-dev). Used by procman's own build
# and by the installed procmanConfig.cmake, so that both find them the same
# way. Threads must be found first.
#
# Defines the imported targets
#   procman::caf_headers  CAF's headers (the messages need them, not the libraries)
#   procman::caf          CAF core, io and openssl
#   procman::lmdb         LMDB and the lmdbxx header
# unless procman_missing_dependencies lists what was not found. They are
# GLOBAL when procman_dependencies_global is set, so that a host that builds
# procman with add_subdirectory() can link what refers to them.

set(procman_missing_dependencies)
find_path(CAF_INCLUDE_DIR caf/all.hpp)
find_library(CAF_CORE_LIB caf_core)
find_library(CAF_IO_LIB caf_io)
find_library(CAF_OPENSSL_LIB caf_openssl)
find_path(LMDBXX_INCLUDE_DIR lmdb++.h)
find_library(LMDB_LIB lmdb)
foreach(_procman_item "CAF_INCLUDE_DIR;caf/all.hpp (libcaf-dev)"
                      "CAF_CORE_LIB;libcaf_core (libcaf-dev)"
                      "CAF_IO_LIB;libcaf_io (libcaf-dev)"
                      "CAF_OPENSSL_LIB;libcaf_openssl (libcaf-dev)"
                      "LMDBXX_INCLUDE_DIR;lmdb++.h (liblmdb++-dev)"
                      "LMDB_LIB;liblmdb (liblmdb-dev)")
  list(GET _procman_item 0 _procman_var)
  list(GET _procman_item 1 _procman_what)
  if(NOT ${_procman_var})
    list(APPEND procman_missing_dependencies "${_procman_what}")
  endif()
endforeach()
unset(_procman_item)
unset(_procman_var)
unset(_procman_what)

if(NOT procman_missing_dependencies AND NOT TARGET procman::caf)
  set(_procman_scope)
  if(procman_dependencies_global)
    set(_procman_scope GLOBAL)
  endif()
  add_library(procman::caf_headers INTERFACE IMPORTED ${_procman_scope})
  set_target_properties(procman::caf_headers PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}")
  add_library(procman::caf INTERFACE IMPORTED ${_procman_scope})
  set_target_properties(procman::caf PROPERTIES
    INTERFACE_LINK_LIBRARIES "procman::caf_headers;${CAF_CORE_LIB};${CAF_IO_LIB};${CAF_OPENSSL_LIB};Threads::Threads")
  add_library(procman::lmdb INTERFACE IMPORTED ${_procman_scope})
  set_target_properties(procman::lmdb PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${LMDBXX_INCLUDE_DIR}"
    INTERFACE_LINK_LIBRARIES "${LMDB_LIB}")
  unset(_procman_scope)
endif()
