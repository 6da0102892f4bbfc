# SPDX-License-Identifier: MIT
# coord_node: one node on a libuv loop (coord/node.c): the Raft core, the log
# writer, the apply thread over the LMDB state machine and the transport.
add_library(coord_node STATIC ${CMAKE_CURRENT_LIST_DIR}/node.c)
target_link_libraries(coord_node
  PUBLIC raft_core coord_storage coord_fsm coord_net coord_base PkgConfig::LIBUV Threads::Threads
  PRIVATE coord_warnings)
