# SPDX-License-Identifier: MIT
# libcoord (coord_client, built as libcoord.a): the C client library of
# coordd's client port. client.c is the asynchronous core, sync.c the
# blocking face, codec.c the only file that includes proto/coord.pb-c.h.
# Framing comes from coord/frame.c in coord_net. Included from
# coord/CMakeLists.txt; needs "coord" in proto/CMakeLists.txt's COORD_PROTOS.
add_library(coord_client STATIC
  ${CMAKE_CURRENT_LIST_DIR}/client.c
  ${CMAKE_CURRENT_LIST_DIR}/codec.c
  ${CMAKE_CURRENT_LIST_DIR}/sync.c)
set_target_properties(coord_client PROPERTIES OUTPUT_NAME coord)
target_link_libraries(coord_client
  PUBLIC raft_base coord_proto coord_net PkgConfig::LIBUV
  PRIVATE coord_warnings)
