# procman_version: the library behind --version, the project version and
# the git revision, regenerated at every build (cmake/version.cmake writes
# the file only when it changes). Included by apps/CMakeLists.txt and the
# Windows build (cmake/windows/procman.cmake).
set(PROCMAN_VERSION_CPP ${PROJECT_BINARY_DIR}/generated/procman_version.cpp)
add_custom_target(procman_version_file
  COMMAND ${CMAKE_COMMAND} -DSRC=${PROJECT_SOURCE_DIR}
          -DVERSION=${PROJECT_VERSION} -DOUT=${PROCMAN_VERSION_CPP}
          -P ${PROJECT_SOURCE_DIR}/cmake/version.cmake
  BYPRODUCTS ${PROCMAN_VERSION_CPP}
  COMMENT "" VERBATIM)
add_library(procman_version STATIC ${PROCMAN_VERSION_CPP})
add_dependencies(procman_version procman_version_file)
