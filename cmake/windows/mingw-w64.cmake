# CMake toolchain file: procman for 64-bit Windows with Debian's MinGW-w64
# cross compiler (g++-mingw-w64-x86-64-posix; the -posix compilers have
# std::thread and std::mutex). scripts/test-windows uses it;
# docs/windows.md describes the build.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
# Test programs run under Wine (CTest prefixes each test's command with it).
find_program(PROCMAN_WINE wine)
if(PROCMAN_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${PROCMAN_WINE})
endif()
