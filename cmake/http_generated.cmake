# The HTTP API's generated sources, for the Linux and the Windows build:
# /api/v1/openapi.json (docs/openapi.yaml as JSON, python3-yaml) and the
# dashboard at "/" (its page, script and style sheet as C++ literals).
# Sets PROCMAN_OPENAPI_CPP and PROCMAN_DASHBOARD_CPP.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
set(PROCMAN_OPENAPI_CPP ${PROJECT_BINARY_DIR}/generated/openapi_json.cpp)
add_custom_command(OUTPUT ${PROCMAN_OPENAPI_CPP}
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/http/openapi_json.py
          ${PROJECT_SOURCE_DIR}/docs/openapi.yaml ${PROCMAN_OPENAPI_CPP}
  DEPENDS ${PROJECT_SOURCE_DIR}/docs/openapi.yaml
          ${PROJECT_SOURCE_DIR}/http/openapi_json.py
  COMMENT "" VERBATIM)
set(PROCMAN_DASHBOARD_FILES ${PROJECT_SOURCE_DIR}/http/dashboard/index.html
    ${PROJECT_SOURCE_DIR}/http/dashboard/dashboard.js
    ${PROJECT_SOURCE_DIR}/http/dashboard/dashboard.css)
set(PROCMAN_DASHBOARD_CPP ${PROJECT_BINARY_DIR}/generated/dashboard_files.cpp)
add_custom_command(OUTPUT ${PROCMAN_DASHBOARD_CPP}
  COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/http/dashboard_files.py
          ${PROCMAN_DASHBOARD_CPP} ${PROCMAN_DASHBOARD_FILES}
  DEPENDS ${PROCMAN_DASHBOARD_FILES}
          ${PROJECT_SOURCE_DIR}/http/dashboard_files.py
  COMMENT "" VERBATIM)
