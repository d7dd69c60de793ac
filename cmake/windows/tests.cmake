# The test suites that run on Windows, under Wine when cross-built (the
# toolchain file makes Wine CTest's emulator). As on Linux: one Boost.Test
# executable per folder of tests/ (test-<folder>.exe), one CTest entry per
# suite (<folder>.<suite>), each with a timeout. Boost.Test is used
# header-only (its "included" variant, in test_main.cpp).
#
# The files of a folder that are left out test what Linux alone has; the
# reason is beside each (docs/windows.md lists them all).

set(PROCMAN_TEST_TIMEOUT 300 CACHE STRING "Seconds one test suite may take")

set(tests ${PROJECT_SOURCE_DIR}/tests)
# Left out here: the files named below.
set(PROCMAN_WINDOWS_TESTS
  # area      files                                         libraries
  "messages"  "actor_system binary_codec errors_enums json_helpers serialization spec units"
              "procman_lifecycle procman_caf_errors"
  "lifecycle" "front_door jobs keys lost_and_recovery machine reports schedules timeouts"
              "procman_lifecycle procman_caf_errors"
  "protocol"  "codec"                                       "procman_lifecycle"
  "platform"  "helper paths os_lock wake_event store_dir library child termination ../fixtures/open_to_all"
              "procman_platform shell32"
  # Left out: builtin_steps (sh commands; the fixture's processes are
  # POSIX's), process_tree (Linux's /proc and subreaper).
  "steps"     "step_registry step_runner ../fixtures/temp_dir"
              "procman_lifecycle procman_caf_errors"
  # Left out: doorbell (the POSIX doorbell socket), open_posix
  # (descriptors through /proc/self/fd, errno's texts), permissions (POSIX
  # modes and owners), processes (fork; its map-growth case is map_growth
  # here).
  "persistence" "counters indexes jobs legacy_log map_growth open output runner_locks transitions ../fixtures/temp_dir ../fixtures/open_to_all"
              "procman_store procman_caf_errors"
  # Left out: executor_lifetime (a shell as the supervisor, process groups,
  # PR_SET_PDEATHSIG; on Windows the runner's Job Object ends the
  # executor).
  "exec"      "executor_acks executor_bad_input executor_protocol ../fixtures/temp_dir"
              "procman_platform Boost::json"
  "children"  "child_service ../fixtures/temp_dir"
              "procman_children Boost::json"
  # Left out: disk_faults (the full disk replaces the C library's write
  # functions; no_disk_faults.cpp fails a case that asks for it).
  "actors"    "manager process queue store_service supervisor ../fixtures/temp_dir ../../cmake/windows/no_disk_faults"
              "procman_actors"
  # The engine in the test's own actor system, and procman.exe and
  # procman-runner.exe run through the fixtures' Windows side
  # (fixtures/windows/: platform::contained_child). Left out: remote and
  # remote_tls (they serve other nodes, which Windows refuses:
  # remote.hpp's can_publish), containment, child_spawn and fork_server
  # (cgroups, the subreaper, /proc, the fork server), full_disk (a full
  # disk through the C library's write functions), stopped_runner
  # (SIGSTOP and SIGCONT), store_access (POSIX owners and modes; Windows's
  # DACL checks are platform.store_dir), runner_locks (the lock files'
  # POSIX modes; the locks themselves are persistence.runner_locks).
  "engine"    "drain cli_commands cli_run front_door hold jobs lifecycle runner runner_options json_limits observability supervision ../fixtures/temp_dir ../fixtures/background_log ../fixtures/windows/background ../fixtures/windows/command"
              "procman_engine"
  # Left out: fresh_recording and golden_rerecord (they record logs by
  # running procman-runner through the POSIX fixtures, as tests/engine).
  "replay"    "golden_logs ../fixtures/temp_dir"
              "procman_replay")

# Cases of the suites above that are left out, by suite, with why. What
# they test runs on Windows too, but they run it through what Windows has
# not: POSIX commands (sh, touch, echo; cmd's twins of some of them run
# here instead), glibc's texts, throw-time stacks, a full disk.
set(PROCMAN_WINDOWS_LEFT_OUT_CASES
  # an sh script (a grandchild in a session of its own, pids through
  # files; a_lease_that_runs_out_ends_a_grandchild_too is its twin on both)
  "exec.executor_lease" "an_executor_whose_lease_is_not_renewed_kills_its_tree_and_itself"
  # sh, echo and tr; /proc/<pid>/fd
  "exec.executor_protocol" "finished_reports_every_step_and_the_output"
  "exec.executor_protocol" "output_events_carry_a_commands_output_before_its_step_ends"
  "exec.executor_protocol" "command_output_is_captured_not_reported"
  "exec.executor_protocol" "commands_inherit_no_descriptors_but_0_1_2"
  "exec.executor_examples" "hello_prints_its_documented_output"
  "exec.executor_examples" "approval_pauses_then_proceeds"
  "exec.executor_examples" "failing_reports_the_failed_step"
  # glibc's error text ("No such file or directory")
  "exec.executor_bad_input" "a_bad_step_library_path"
  # throw-time stacks: MinGW-w64 unwinds with SEH, which the executor's
  # hook (apps/procman-exec/throw_hook.cpp) does not wrap
  "exec.executor_protocol" "a_failing_step_ends_with_an_error_line_and_exit_1"
  "exec.executor_protocol" "a_library_exception_is_reported_with_a_throw_time_stack"
  # a full disk (actors/disk_faults: no_disk_faults.cpp)
  "actors.supervisor_actor" "a_slot_is_freed_at_the_executors_exit_before_its_end_is_committed"
  "actors.supervisor_actor" "a_failed_claim_is_retried_after_a_backoff"
  "actors.supervisor_actor" "a_failed_claim_after_a_short_one_does_not_end_a_runner_without_wait"
  # sh scripts as the steps' commands (counting runs in files, failing
  # until a file exists, echo into a file, seq, printf, a loop waiting for
  # a file), and in a_unique_key_returns_the_holder_until_it_ends and
  # two_runners_fire_each_due_time_of_a_schedule_once run by the test
  "engine.jobs" "a_retried_process_resumes_at_its_failed_step"
  "engine.jobs" "procman_retry_queues_an_errored_process_by_hand"
  "engine.jobs" "a_runner_killed_during_a_retry_backoff_leaves_nothing_lost_or_doubled"
  "engine.jobs" "higher_priorities_run_first_and_fifo_within_one"
  "engine.jobs" "two_runners_fire_each_due_time_of_a_schedule_once"
  "engine.jobs" "a_unique_key_returns_the_holder_until_it_ends"
  "engine.runner_process" "script_args_reach_every_executor"
  "engine.runner_process" "several_runners_never_run_one_process_twice"
  "engine.runner_process" "sigterm_lets_short_work_finish_and_records_what_was_killed"
  "engine.live_output" "logs_show_a_running_commands_output_as_it_is_written"
  "engine.live_output" "output_beyond_the_limit_drops_the_oldest_and_says_so"
  "engine.retention_purge" "purge_older_than_removes_ended_processes_and_their_output"
  # an sh script and the executor's name read from /proc/<pid>/comm
  "engine.live_output" "logs_keep_what_a_killed_executor_had_written"
  # sleep(1), a POSIX program, as the step's command
  "engine.info_text_cli" "a_cancelled_running_step_shows_cancelled"
  # valgrind, for a Linux kernel without pidfd_open
  "engine.runner_process" "a_runner_without_pidfd_still_awaits_and_kills_its_children"
  # POSIX's execute permission (on Windows a file that is not a program
  # fails to start: "Bad EXE format")
  "engine.runner_start_checks" "an_executor_that_is_not_an_executable_file_stops_the_runner"
  # env(1) and a POSIX PATH around a copy of the runner
  "engine.runner_start_checks" "a_runner_without_procman_exec_beside_it_stops_with_exit_2"
  # echo(1) in examples/hello.json; 50 MB from head(1) and tr(1) in an sh
  # script
  "engine.cli_run" "run_prints_the_last_output_and_needs_no_store"
  "engine.cli_run" "an_output_of_50_mb_is_refused_with_kind_output"
  "engine.cli_run" "a_50_mb_output_in_the_runner_ends_the_process_in_error"
  # the engine's step library (plugins/door_steps) is not built for
  # Windows: loaded by procman.exe, a DLL would have to link its import
  # library (as steps.step_plugins below)
  "engine.door_checks" "step_libraries_of_procman_step_libs_are_checked_against")

# Suites of the files above that are left out, with why:
# steps.step_plugins loads step libraries into the test program itself: as
# DLLs they would have to link that program's import library, as the
# executor's do procman-exec's (not built, nor are the steps' test
# libraries).
# actors.store_service_storage_failures needs a full disk (disk_faults
# above).
# engine.executor_crashes runs sh scripts as stand-in executors (one ends
# itself with SIGSEGV); engine.process_supervision an sh script as the
# step's command.
set(PROCMAN_WINDOWS_LEFT_OUT_SUITES steps.step_plugins
    actors.store_service_storage_failures engine.executor_crashes
    engine.process_supervision)
set(PROCMAN_WINDOWS_PLUGIN_AREAS platform exec)

add_library(procman_test_main STATIC ${CMAKE_CURRENT_LIST_DIR}/test_main.cpp)
target_include_directories(procman_test_main PUBLIC ${tests})
target_link_libraries(procman_test_main PUBLIC Boost::headers)

# Every test sees the build's own Wine prefix (scripts/test-windows creates
# it once) and where the binaries are, as Windows paths: under Wine the
# drive Z: is the Linux root.
set(win_root "")
if(CMAKE_CROSSCOMPILING_EMULATOR MATCHES "wine")
  set(win_root "Z:")
endif()
set(test_env "WINEPREFIX=${PROJECT_BINARY_DIR}/wineprefix;WINEDEBUG=-all;PROCMAN_BIN_DIR=${win_root}${PROJECT_BINARY_DIR}/bin;PROCMAN_TEST_DIR=${win_root}${PROJECT_BINARY_DIR}/tests;PROCMAN_SOURCE_DIR=${win_root}${PROJECT_SOURCE_DIR}")

# Under Wine: one session (prefix, wineserver, Wine's own processes) for
# the whole run, set up before the first test and ended after the last.
set(wine_fixture)
if(win_root)
  set(session ${CMAKE_CURRENT_LIST_DIR}/wine-session)
  add_test(NAME windows.wine_up
           COMMAND ${session} up ${PROJECT_BINARY_DIR}/wineprefix)
  add_test(NAME windows.wine_down
           COMMAND ${session} down ${PROJECT_BINARY_DIR}/wineprefix)
  set_tests_properties(windows.wine_up PROPERTIES FIXTURES_SETUP wine
                                                  TIMEOUT 900)
  set_tests_properties(windows.wine_down PROPERTIES FIXTURES_CLEANUP wine)
  set(wine_fixture FIXTURES_REQUIRED wine)
endif()

list(LENGTH PROCMAN_WINDOWS_TESTS n)
math(EXPR last "${n} - 1")
foreach(i RANGE 0 ${last} 3)
  math(EXPR j "${i} + 1")
  math(EXPR k "${i} + 2")
  list(GET PROCMAN_WINDOWS_TESTS ${i} area)
  list(GET PROCMAN_WINDOWS_TESTS ${j} files)
  list(GET PROCMAN_WINDOWS_TESTS ${k} libs)
  separate_arguments(files)
  separate_arguments(libs)
  set(sources)
  foreach(f ${files})
    list(APPEND sources ${tests}/${area}/${f}.cpp)
  endforeach()
  set(exe test-${area})
  add_executable(${exe} ${sources})
  target_link_libraries(${exe} PRIVATE procman_test_main ${libs})
  set_target_properties(${exe} PROPERTIES RUNTIME_OUTPUT_DIRECTORY
                                          ${PROJECT_BINARY_DIR}/tests)
  # The executor's and the launcher's suites run procman-exec, and the
  # platform suites' helper as a command.
  if(area STREQUAL "exec" OR area STREQUAL "children" OR area STREQUAL "engine")
    add_dependencies(${exe} procman-exec test-platform)
  endif()
  if(area STREQUAL "engine")
    add_dependencies(${exe} procman-runner procman-cli)
  endif()
  # Libraries the tests load: tests/<folder>/plugins/*.cpp, as on Linux.
  # The executor's step libraries (exec) link its import library: a DLL
  # cannot leave symbols to be found at load time as a shared object can.
  set(plugin_sources)
  if(area IN_LIST PROCMAN_WINDOWS_PLUGIN_AREAS)
    file(GLOB plugin_sources CONFIGURE_DEPENDS ${tests}/${area}/plugins/*.cpp)
  endif()
  foreach(src ${plugin_sources})
    get_filename_component(plugin ${src} NAME_WE)
    add_library(${plugin} MODULE ${src})
    target_link_libraries(${plugin} PRIVATE procman_base -static)
    if(area STREQUAL "exec")
      target_link_libraries(${plugin} PRIVATE procman-exec)
    endif()
    set_target_properties(${plugin} PROPERTIES PREFIX "" LIBRARY_OUTPUT_DIRECTORY
                                               ${PROJECT_BINARY_DIR}/tests/plugins)
    add_dependencies(${exe} ${plugin})
  endforeach()
  foreach(src ${sources})
    file(STRINGS ${src} suite_lines REGEX "BOOST_(AUTO|FIXTURE)_TEST_SUITE\\(")
    foreach(line ${suite_lines})
      string(REGEX REPLACE ".*_TEST_SUITE\\(([A-Za-z0-9_]+).*" "\\1" suite "${line}")
      if(${area}.${suite} IN_LIST PROCMAN_WINDOWS_LEFT_OUT_SUITES)
        continue()
      endif()
      # Left-out cases: Boost.Test's negative filters after the suite's.
      set(filters --run_test=${suite})
      list(LENGTH PROCMAN_WINDOWS_LEFT_OUT_CASES cases_n)
      if(cases_n GREATER 0)
        math(EXPR cases_last "${cases_n} - 1")
        foreach(c RANGE 0 ${cases_last} 2)
          math(EXPR c1 "${c} + 1")
          list(GET PROCMAN_WINDOWS_LEFT_OUT_CASES ${c} case_suite)
          list(GET PROCMAN_WINDOWS_LEFT_OUT_CASES ${c1} case_name)
          if(case_suite STREQUAL ${area}.${suite})
            list(APPEND filters --run_test=!${suite}/${case_name})
          endif()
        endforeach()
      endif()
      add_test(NAME ${area}.${suite}
               COMMAND ${exe} ${filters} --log_level=message)
      set_tests_properties(${area}.${suite} PROPERTIES
        TIMEOUT ${PROCMAN_TEST_TIMEOUT} ENVIRONMENT "${test_env}" ${wine_fixture})
    endforeach()
  endforeach()
endforeach()

# The programs end to end under Wine (tests/windows/end_to_end.py):
# procman.exe, procman-runner.exe and procman-exec.exe on local stores,
# with test-platform.exe's helper modes as commands and to check
# processes. 200 processes drained at --parallel 2, a pause and proceed,
# a cancel, a timeout ending a command's grandchild, a stop request,
# the runner killed hard, a Windows worker node joining a Linux store node
# over mutual TLS (the Linux build's programs in PROCMAN_LINUX_BIN_DIR,
# which scripts/test-windows builds; without them that scenario fails
# saying so), procman.exe replay of the golden logs.
set(PROCMAN_LINUX_BIN_DIR "" CACHE PATH
    "The Linux build's bin/ (procman-runner, procman): the store node of the end-to-end scenario nodes")
if(win_root)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  foreach(scenario drain waiting killed nodes worker_killed worker_stopped
                   replay)
    add_test(NAME windows.end_to_end_${scenario}
             COMMAND ${Python3_EXECUTABLE} ${tests}/windows/end_to_end.py
                     ${PROJECT_BINARY_DIR}/bin ${PROJECT_BINARY_DIR}/tests
                     ${scenario})
    set_tests_properties(windows.end_to_end_${scenario} PROPERTIES
      TIMEOUT ${PROCMAN_TEST_TIMEOUT}
      ENVIRONMENT "${test_env};PROCMAN_LINUX_BIN_DIR=${PROCMAN_LINUX_BIN_DIR}"
      ${wine_fixture})
  endforeach()
endif()
