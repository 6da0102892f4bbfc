# SPDX-License-Identifier: MIT
# coord_server: coordd's client port (coord/server.c) and its codec
# (coord/codec_client.c, the only file that includes proto/coord.pb-c.h).
# Included from coord/CMakeLists.txt. It calls the node (coord/node.h) but
# does not contain it: coordd links coord_node (node.cmake) as well, and the
# unit tests link a fake node instead.
add_library(coord_server STATIC
  ${CMAKE_CURRENT_LIST_DIR}/codec_client.c
  ${CMAKE_CURRENT_LIST_DIR}/server.c)
target_link_libraries(coord_server
  PUBLIC coord_net coord_fsm coord_base coord_proto PkgConfig::LIBUV
  PRIVATE coord_warnings)
