# SPDX-License-Identifier: MIT
# coord_net: the peer transport's pieces. For now the length-prefixed
# framing (coord/frame.c). Included from coord/CMakeLists.txt.
add_library(coord_net STATIC
  ${CMAKE_CURRENT_LIST_DIR}/frame.c)
target_link_libraries(coord_net
  PUBLIC raft_base
  PRIVATE coord_warnings)
