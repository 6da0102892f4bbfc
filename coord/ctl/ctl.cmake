# SPDX-License-Identifier: MIT
# coordctl, the admin CLI. Included from coord/CMakeLists.txt.
# coord_ctl_core holds the pure parts (output buffer, JSON, tables, argument
# rules, the status join) so that tests/unit/ctl needs no network; the
# binary is built once libcoord (target coord_client) exists.
add_library(coord_ctl_core STATIC
  ${CMAKE_CURRENT_LIST_DIR}/sbuf.c
  ${CMAKE_CURRENT_LIST_DIR}/json.c
  ${CMAKE_CURRENT_LIST_DIR}/table.c
  ${CMAKE_CURRENT_LIST_DIR}/args.c
  ${CMAKE_CURRENT_LIST_DIR}/join.c)
target_link_libraries(coord_ctl_core PUBLIC raft_base PRIVATE coord_warnings)

if(TARGET coord_client)
  add_executable(coordctl
    ${CMAKE_CURRENT_LIST_DIR}/ctl.c
    ${CMAKE_CURRENT_LIST_DIR}/kv.c
    ${CMAKE_CURRENT_LIST_DIR}/admin.c
    ${CMAKE_CURRENT_LIST_DIR}/status.c)
  target_link_libraries(coordctl PRIVATE coord_ctl_core coord_client PkgConfig::LIBUV
                        coord_warnings)
endif()
