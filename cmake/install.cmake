# What `cmake --install build --prefix P` puts into P, and the .deb that
# `cpack -G DEB` makes of it (docs/usage.md, "Installing"):
#   bin/procman, bin/procman-runner, bin/procman-exec
#   libexec/procman/procman-remote      what procman runs for --connect, replay
#   include/procman/<folder>/*.hpp      the public headers only (below)
#   lib/libprocman.a, libprocman_local.a, libprocman_steps.a,
#   libprocman_platform.a, libprocman_base.a
#   lib/cmake/procman/                  procmanConfig.cmake and its version,
#                                       the exported targets procman::*
#   share/doc/procman/                  README.md, LICENSE, docs/*.md, examples/
#   share/man/man1/                     procman.1, procman-runner.1
#   share/bash-completion/completions/  procman, procman-runner

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS procman-cli procman-runner
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# Where procman finds it (apps/procman/remote.hpp): ../libexec/procman/.
install(TARGETS procman-remote
        RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/procman)
# As a file, so that `--strip` and the .deb leave its debug information:
# procman-exec names the frames of a throwing step's stack with file and
# line from it (apps/CMakeLists.txt).
install(PROGRAMS $<TARGET_FILE:procman-exec>
        DESTINATION ${CMAKE_INSTALL_BINDIR})

# Man pages, made by help2man from each program's --help and --version (so
# they say what the program says), and the bash completion of both programs.
find_program(PROCMAN_HELP2MAN help2man)
if(PROCMAN_HELP2MAN)
  set(PROCMAN_MAN_DIR ${PROJECT_BINARY_DIR}/man)
  set(PROCMAN_MAN_PAGES)
  foreach(prog procman procman-runner)
    if(prog STREQUAL "procman")
      set(target procman-cli)
      set(what "enqueue, inspect, proceed and cancel background processes")
    else()
      set(target procman-runner)
      set(what "run the queued processes of a procman store")
    endif()
    add_custom_command(OUTPUT ${PROCMAN_MAN_DIR}/${prog}.1
      COMMAND ${CMAKE_COMMAND} -E make_directory ${PROCMAN_MAN_DIR}
      COMMAND ${PROCMAN_HELP2MAN} --no-info --section 1 --name ${what}
              --output ${PROCMAN_MAN_DIR}/${prog}.1 $<TARGET_FILE:${target}>
      DEPENDS ${target} VERBATIM)
    list(APPEND PROCMAN_MAN_PAGES ${PROCMAN_MAN_DIR}/${prog}.1)
  endforeach()
  add_custom_target(procman_man_pages ALL DEPENDS ${PROCMAN_MAN_PAGES})
  install(FILES ${PROCMAN_MAN_PAGES} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
else()
  message(WARNING "help2man not found: no man pages are installed "
                  "(bash scripts/setup installs it)")
endif()
install(FILES completions/procman
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES completions/procman
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions
        RENAME procman-runner)

install(TARGETS procman procman_local procman_steps procman_platform procman_base
        EXPORT procmanTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The public headers: what a host includes (examples/host,
# docs/embedding.md: the engine, specs, errors, the process info, remote
# access), what a step library includes (the step API and its registry,
# docs/protocol.md), what a remote client includes (docs/distribution.md),
# and every header those include. The rest (actors, the store, children,
# the executor protocol, the life cycle) stays in the build: it may change
# in any release. tests/package checks that each installed header's
# includes are installed too.
set(PROCMAN_PUBLIC_HEADERS
    door/door.hpp
    door/manager_backend.hpp
    door/remote_backend.hpp
    engine/engine.hpp
    logging/logger.hpp
    messages/actors.hpp
    messages/defaults.hpp
    messages/errc.hpp
    messages/error.hpp
    messages/failure.hpp
    messages/fwd.hpp
    messages/output_stream.hpp
    messages/render.hpp
    messages/requests.hpp
    messages/spec_check.hpp
    messages/types.hpp
    remote/remote.hpp
    steps/step.hpp
    steps/step_registry.hpp)
foreach(header ${PROCMAN_PUBLIC_HEADERS})
  get_filename_component(folder ${header} DIRECTORY)
  install(FILES ${header}
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/procman/${folder})
endforeach()

set(PROCMAN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/procman)
install(EXPORT procmanTargets NAMESPACE procman::
        DESTINATION ${PROCMAN_CMAKE_DIR})
configure_package_config_file(cmake/procmanConfig.cmake.in
  ${PROJECT_BINARY_DIR}/procmanConfig.cmake
  INSTALL_DESTINATION ${PROCMAN_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_BINDIR)
# 0.x: a minor version may change the interface.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/procmanConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/procmanConfig.cmake
              ${PROJECT_BINARY_DIR}/procmanConfigVersion.cmake
              cmake/procmanDependencies.cmake cmake/procman_exec_dir.cpp.in
        DESTINATION ${PROCMAN_CMAKE_DIR})

file(GLOB PROCMAN_DOCS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES README.md LICENSE ${PROCMAN_DOCS}
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
# dashboard.md's screenshots, beside it.
install(DIRECTORY docs/images DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
        REGEX "examples/CMakeLists.txt$" EXCLUDE)

# -- the .deb ------------------------------------------------------------------
# One package: the programs, and what a host builds against (headers, static
# libraries, CMake package). Depends on the shared libraries the programs
# load (dpkg-shlibdeps finds them); recommends the -dev packages that
# find_package(procman) needs. Inside a host's build the host packages.

if(NOT PROJECT_IS_TOP_LEVEL)
  return()
endif()

set(PROCMAN_PACKAGE_MAINTAINER "procman maintainers <maintainers@procman.invalid>"
    CACHE STRING "Maintainer field of the .deb")
set(CPACK_PACKAGE_NAME procman)
set(CPACK_PACKAGE_VENDOR procman)
set(CPACK_PACKAGE_CONTACT ${PROCMAN_PACKAGE_MAINTAINER})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "background-process manager for C++ hosts")
set(CPACK_PACKAGE_DESCRIPTION
"A host program hands procman a process (an ordered list of named steps)
and gets a process id at once. The process waits in a durable LMDB queue;
procman-runner runs it in a short-lived procman-exec child; anyone can ask
for its status by that id. Includes the programs, the headers, the static
libraries and the CMake package (find_package(procman)). License:
GPL-3.0-only.")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
    "g++, cmake, libcaf-dev, liblmdb-dev, liblmdb++-dev, libboost1.81-dev, libboost-json1.81-dev, libssl-dev")
include(CPack)
