# SPDX-License-Identifier: MIT
# The LMDB state machine: the command codec (the only user of the generated
# proto/command.pb-c.h), the LMDB store and the fsm. Included at the end of
# coord/CMakeLists.txt.
find_package(PkgConfig REQUIRED)
pkg_check_modules(COORD_LMDB REQUIRED IMPORTED_TARGET lmdb)

add_library(coord_fsm STATIC
  ${CMAKE_CURRENT_LIST_DIR}/codec_cmd.c
  ${CMAKE_CURRENT_LIST_DIR}/fsm.c
  ${CMAKE_CURRENT_LIST_DIR}/storage/kvstore.c)
# raft_core for raft_conf_encode/decode (CONF entries); coord_proto stays
# PRIVATE so the generated headers are visible to codec_cmd.c only.
target_link_libraries(coord_fsm
  PUBLIC raft_core raft_base coord_base PkgConfig::COORD_LMDB
  PRIVATE coord_proto coord_warnings)
