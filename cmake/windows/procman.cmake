# procman for 64-bit Windows, cross-built with MinGW-w64 on Debian
# (cmake/windows/mingw-w64.cmake; scripts/test-windows builds the
# dependencies and runs the tests under Wine; docs/windows.md).
#
# The port goes folder by folder, so this build has its own list of what
# builds for Windows today: the messages and the executor protocol
# (procman_base), the platform layer (platform/ with its Windows
# implementation), the steps, the life cycle's rules, the store, the
# actors, the engine, the HTTP API, replay, remote nodes that join and
# reach others (remote/, distribution/; serving other nodes is Linux's,
# remote.hpp's can_publish says why), the three programs, and their test
# suites (docs/windows.md).
#
# Dependencies, all static, from scripts/test-windows' cache:
#   PROCMAN_WINDOWS_CAF      CAF 0.17.6 (core, io, openssl) built for Windows
#   PROCMAN_WINDOWS_LMDB     LMDB built for Windows
#   PROCMAN_WINDOWS_OPENSSL  OpenSSL built for Windows
# and Debian's Boost 1.81 headers (libboost1.81-dev), used header-only.

set(PROCMAN_WINDOWS_CAF "" CACHE PATH "CAF 0.17.6 built for Windows")
set(PROCMAN_WINDOWS_LMDB "" CACHE PATH "LMDB built for Windows")
set(PROCMAN_WINDOWS_OPENSSL "" CACHE PATH "OpenSSL built for Windows")
foreach(dep CAF LMDB OPENSSL)
  if(NOT EXISTS "${PROCMAN_WINDOWS_${dep}}/include")
    message(FATAL_ERROR "PROCMAN_WINDOWS_${dep} (\"${PROCMAN_WINDOWS_${dep}}\") "
            "holds no build for Windows; bash scripts/test-windows builds the "
            "dependencies and configures this build")
  endif()
endforeach()

# Everything linked statically: the programs run anywhere (and under Wine)
# without MinGW's runtime DLLs beside them.
string(APPEND CMAKE_EXE_LINKER_FLAGS " -static")
# Boost.JSON and CAF's templates give some objects more sections than
# PE/COFF's default limit.
add_compile_options(-Wa,-mbig-obj)
# Windows 10 and later: the Job Object and security APIs procman uses.
add_compile_definitions(_WIN32_WINNT=0x0A00 WINVER=0x0A00)
# A few POSIX C functions, as posix_compat.hpp explains.
add_compile_options(
  "$<$<COMPILE_LANGUAGE:CXX>:SHELL:-include ${CMAKE_CURRENT_LIST_DIR}/posix_compat.hpp>")

# -- dependencies ------------------------------------------------------------------

# Boost headers from the host's /usr/include. The cross compiler must not
# search /usr/include itself (its Linux headers would shadow MinGW's), so
# the include path is a directory holding only a link to boost/.
# lmdbxx (liblmdb++-dev) is one header, and CLI11 (libcli11-dev, the
# programs' command lines: apps/common/args.hpp) a folder of headers,
# taken from there the same way.
set(PROCMAN_BOOST_INCLUDE ${PROJECT_BINARY_DIR}/boost-include)
file(MAKE_DIRECTORY ${PROCMAN_BOOST_INCLUDE})
foreach(header boost lmdb++.h CLI)
  if(NOT EXISTS ${PROCMAN_BOOST_INCLUDE}/${header})
    file(CREATE_LINK /usr/include/${header} ${PROCMAN_BOOST_INCLUDE}/${header}
         SYMBOLIC)
  endif()
endforeach()
add_library(procman_boost_headers INTERFACE)
target_include_directories(procman_boost_headers SYSTEM INTERFACE
                           ${PROCMAN_BOOST_INCLUDE})
add_library(Boost::headers ALIAS procman_boost_headers)
# Boost.JSON compiled from its sources in one translation unit.
add_library(procman_boost_json STATIC
            ${PROJECT_SOURCE_DIR}/apps/procman-exec/boost_json.cpp)
target_link_libraries(procman_boost_json PUBLIC procman_boost_headers)
add_library(Boost::json ALIAS procman_boost_json)

add_library(procman::caf_headers INTERFACE IMPORTED)
set_target_properties(procman::caf_headers PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES ${PROCMAN_WINDOWS_CAF}/include)
set(caf_lib ${PROCMAN_WINDOWS_CAF}/lib)
# CAF's core alone (actors, messages, errors), and core, io and openssl
# (remote nodes, TLS) with what they need of Windows.
add_library(procman::caf_core INTERFACE IMPORTED)
set_target_properties(procman::caf_core PROPERTIES INTERFACE_LINK_LIBRARIES
  "procman::caf_headers;${caf_lib}/libcaf_core_static.a;ws2_32;iphlpapi;psapi")
add_library(procman::caf INTERFACE IMPORTED)
set_target_properties(procman::caf PROPERTIES INTERFACE_LINK_LIBRARIES
  "${caf_lib}/libcaf_openssl_static.a;${caf_lib}/libcaf_io_static.a;${caf_lib}/libcaf_core_static.a;ws2_32;iphlpapi;psapi;procman::caf_core;${PROCMAN_WINDOWS_OPENSSL}/lib/libssl.a;${PROCMAN_WINDOWS_OPENSSL}/lib/libcrypto.a;crypt32;user32;advapi32")
add_library(procman::lmdb INTERFACE IMPORTED)
set_target_properties(procman::lmdb PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES ${PROCMAN_WINDOWS_LMDB}/include
  INTERFACE_LINK_LIBRARIES ${PROCMAN_WINDOWS_LMDB}/lib/liblmdb.a)

# -- include paths: "procman/<folder>/<file>.hpp", as on Linux -----------------------

set(PROCMAN_BUILD_INCLUDE ${PROJECT_BINARY_DIR}/include)
file(MAKE_DIRECTORY ${PROCMAN_BUILD_INCLUDE}/procman)
# persistence/: its codec header, which some suites include; remote/: the
# TLS checks the HTTP server shares with remote nodes (tls_files.hpp).
foreach(folder messages lifecycle protocol platform steps persistence children
        logging actors door engine http apps remote replay distribution)
  if(NOT EXISTS ${PROCMAN_BUILD_INCLUDE}/procman/${folder})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder}
         ${PROCMAN_BUILD_INCLUDE}/procman/${folder} SYMBOLIC)
  endif()
endforeach()

# -- libraries ----------------------------------------------------------------------
# The same libraries as the Linux build (CMakeLists.txt), as far as the
# port goes.

file(GLOB protocol_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/protocol/*.cpp)
add_library(procman_base STATIC ${PROJECT_SOURCE_DIR}/messages/types.cpp
                                ${PROJECT_SOURCE_DIR}/messages/json.cpp
                                ${PROJECT_SOURCE_DIR}/messages/log_format.cpp
                                ${PROJECT_SOURCE_DIR}/messages/render.cpp
                                ${PROJECT_SOURCE_DIR}/messages/spec_check.cpp
                                ${PROJECT_SOURCE_DIR}/messages/time.cpp
                                ${PROJECT_SOURCE_DIR}/messages/units.cpp
                                ${PROJECT_SOURCE_DIR}/messages/failure.cpp
                                ${protocol_sources})
target_include_directories(procman_base PUBLIC ${PROCMAN_BUILD_INCLUDE})
target_link_libraries(procman_base PUBLIC procman::caf_headers Boost::headers)

# The operating-system layer: platform/*.hpp, implemented by platform/windows/.
file(GLOB platform_sources CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/platform/*.cpp
     ${PROJECT_SOURCE_DIR}/platform/windows/*.cpp)
add_library(procman_platform STATIC ${platform_sources})
target_link_libraries(procman_platform PUBLIC procman_base advapi32 bcrypt ws2_32)

# The step API, registry and built-in steps.
file(GLOB steps_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/steps/*.cpp)
add_library(procman_steps STATIC ${steps_sources})
target_link_libraries(procman_steps PUBLIC procman_platform procman_base)

# The life cycle's rules (Linux: part of procman_local, with the store).
file(GLOB lifecycle_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/lifecycle/*.cpp)
add_library(procman_lifecycle STATIC ${lifecycle_sources})
target_link_libraries(procman_lifecycle PUBLIC procman_steps Boost::json)

# The store (Linux: part of procman_local, with the life cycle).
file(GLOB persistence_sources CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/persistence/*.cpp)
add_library(procman_store STATIC ${persistence_sources})
target_link_libraries(procman_store PUBLIC procman_lifecycle procman::lmdb)

# The front door's local backend (door/door.cpp, door/handlers.cpp): what
# a local CLI command runs, no CAF library (Linux: part of procman_local).
add_library(procman_local STATIC ${PROJECT_SOURCE_DIR}/door/door.cpp
            ${PROJECT_SOURCE_DIR}/door/handlers.cpp)
target_link_libraries(procman_local PUBLIC procman_store)

# procman's CAF error category, for the suites that run an actor system.
add_library(procman_caf_errors STATIC ${PROJECT_SOURCE_DIR}/messages/error.cpp)
target_link_libraries(procman_caf_errors PUBLIC procman_base procman::caf_core)

# The runner's launcher of executors: children/windows/child_service.cpp
# (CreateProcessW, a Job Object per executor) behind children/'s
# interface. The rest of children/ is Linux's (the fork server, cgroups,
# /proc).
add_library(procman_children STATIC
            ${PROJECT_SOURCE_DIR}/children/executor_launcher.cpp
            ${PROJECT_SOURCE_DIR}/children/windows/child_service.cpp)
target_link_libraries(procman_children PUBLIC procman_platform
                      procman_caf_errors)

# The log and the actors (the store service, queue, supervisor, manager,
# process actors) on CAF's core.
file(GLOB actors_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/actors/*.cpp
     ${PROJECT_SOURCE_DIR}/logging/*.cpp)
add_library(procman_actors STATIC ${actors_sources})
target_link_libraries(procman_actors PUBLIC procman_local procman_children
                      procman_caf_errors Boost::json)

# The engine (engine/engine.cpp): the actors started on a store, the
# executor found beside the program (GetModuleFileNameW) or in PATH, each
# executor contained in its Job Object (engine/windows/containment.cpp;
# Linux's engine/containment.cpp sets up cgroups and the subreaper).
add_library(procman_engine STATIC ${PROJECT_SOURCE_DIR}/engine/engine.cpp
            ${PROJECT_SOURCE_DIR}/engine/windows/containment.cpp)
target_link_libraries(procman_engine PUBLIC procman_actors)

# The HTTP API's routes and server (Boost.Beast/Asio, header-only, on
# Winsock), with HTTPS on the OpenSSL built for Windows; the page, script
# and OpenAPI document generated with Python as on Linux.
include(${PROJECT_SOURCE_DIR}/cmake/http_generated.cmake)
add_library(procman::openssl INTERFACE IMPORTED)
set_target_properties(procman::openssl PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES ${PROCMAN_WINDOWS_OPENSSL}/include
  INTERFACE_LINK_LIBRARIES "${PROCMAN_WINDOWS_OPENSSL}/lib/libssl.a;${PROCMAN_WINDOWS_OPENSSL}/lib/libcrypto.a;crypt32;user32;advapi32;ws2_32")
file(GLOB http_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/http/*.cpp)
list(REMOVE_ITEM http_sources ${PROJECT_SOURCE_DIR}/http/server.cpp)
add_library(procman_http_routes STATIC ${http_sources}
            ${PROCMAN_OPENAPI_CPP} ${PROCMAN_DASHBOARD_CPP})
target_link_libraries(procman_http_routes PUBLIC procman_local procman::openssl
                      mswsock)
add_library(procman_http STATIC ${PROJECT_SOURCE_DIR}/http/server.cpp)
target_compile_definitions(procman_http PRIVATE PROCMAN_HTTP_TLS=1)
target_link_libraries(procman_http PUBLIC procman_http_routes)

# Replaying a store's message log through the engine deterministically
# (replay/: CAF's test coordinator, the store in a temporary directory).
add_library(procman_replay STATIC ${PROJECT_SOURCE_DIR}/replay/replay.cpp)
target_link_libraries(procman_replay PUBLIC procman_engine)

# Remote nodes (remote/, remote/windows/; distribution/; the front door's
# network backend): CAF's middleman with mutual TLS on the OpenSSL built
# for Windows. A Windows node joins a store node and reaches one; it
# serves none (remote/windows/accept_guard.cpp). OpenSSL's calls from
# caf::openssl go through remote/windows/tls_error_queue.cpp's wrappers.
add_library(procman_remote STATIC ${PROJECT_SOURCE_DIR}/remote/remote.cpp
            ${PROJECT_SOURCE_DIR}/remote/windows/accept_guard.cpp
            ${PROJECT_SOURCE_DIR}/remote/windows/tls_error_queue.cpp)
target_link_libraries(procman_remote PUBLIC procman_caf_errors procman_platform
                      procman::caf procman::openssl)
target_link_options(procman_remote INTERFACE
  "LINKER:--wrap=SSL_read,--wrap=SSL_write,--wrap=SSL_accept,--wrap=SSL_connect")
file(GLOB distribution_sources CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/distribution/*.cpp)
add_library(procman_distribution STATIC ${distribution_sources}
            ${PROJECT_SOURCE_DIR}/door/remote_backend.cpp)
target_link_libraries(procman_distribution PUBLIC procman_engine procman_remote)

# -- programs ------------------------------------------------------------------------

include(${PROJECT_SOURCE_DIR}/cmake/version_target.cmake)

# procman-exec: the executor, with its Windows system layer
# (exec_windows.cpp, runner_channel_windows.cpp). No fork server (no
# fork), and no throw-time stack traces: MinGW-w64 unwinds with SEH, whose
# personality routine the POSIX hook (throw_hook.cpp) does not wrap; an
# exception's stack is taken where the step runner catches it.
set(EXEC_DIR ${PROJECT_SOURCE_DIR}/apps/procman-exec)
add_executable(procman-exec ${EXEC_DIR}/main.cpp ${EXEC_DIR}/runner_channel.cpp
               ${EXEC_DIR}/exec_windows.cpp
               ${EXEC_DIR}/runner_channel_windows.cpp)
target_link_libraries(procman-exec PRIVATE procman_steps procman_base
                      procman_version Boost::json -Wl,--export-all-symbols
                      -Wl,--exclude-libs,libgcc.a:libgcc_eh.a:libwinpthread.a:libstdc++.a:libmingwex.a:libmingw32.a:libmoldname.a:libpthread.a)
set_target_properties(procman-exec PROPERTIES ENABLE_EXPORTS ON)

# procman-runner: on a local store, with the HTTP API, or a worker node
# (--join, with mutual TLS). --publish and --listen are refused
# (nodes.cpp, by remote.hpp's can_publish), and --ready-fd by
# windows/ready.cpp.
set(RUNNER_DIR ${PROJECT_SOURCE_DIR}/apps/procman-runner)
add_executable(procman-runner ${RUNNER_DIR}/main.cpp
               ${RUNNER_DIR}/nodes.cpp ${RUNNER_DIR}/scheduler.cpp
               ${RUNNER_DIR}/windows/ready.cpp
               ${PROJECT_SOURCE_DIR}/door/manager_backend.cpp)
target_link_libraries(procman-runner PRIVATE procman_distribution procman_http
                      procman_version)

# procman, the CLI (target procman-cli, as on Linux): linked with
# everything it needs at once, as Linux's procman-remote is (Linux's lean
# CLI runs that for --connect, HTTPS and `replay`; static linking makes
# the split moot here): --connect (remote_full.cpp), `procman web` with
# HTTPS, and `replay` with the engine. `run` holds its steps' tree in a
# Job Object (windows/run_tree.cpp).
set(CLI_DIR ${PROJECT_SOURCE_DIR}/apps/procman)
add_executable(procman-cli ${CLI_DIR}/main.cpp ${CLI_DIR}/web.cpp
               ${CLI_DIR}/remote_full.cpp ${CLI_DIR}/windows/run_tree.cpp
               ${CLI_DIR}/replay_file.cpp)
target_link_libraries(procman-cli PRIVATE procman_distribution procman_http
                      procman_replay procman_version Boost::json)
set_target_properties(procman-cli PROPERTIES OUTPUT_NAME procman)

# -- tests -------------------------------------------------------------------------------

if(BUILD_TESTING)
  include(${CMAKE_CURRENT_LIST_DIR}/tests.cmake)
endif()
