# SPDX-License-Identifier: MIT
# coord_net: the peer transport's pieces: the length-prefixed framing
# (coord/frame.c) and the peer wire codec (coord/codec_peer.c, the only file
# that includes proto/peer.pb-c.h). Included from coord/CMakeLists.txt;
# needs "peer" in proto/CMakeLists.txt's COORD_PROTOS.
add_library(coord_net STATIC
  ${CMAKE_CURRENT_LIST_DIR}/frame.c
  ${CMAKE_CURRENT_LIST_DIR}/codec_peer.c)
# coord_storage for coord/log.c and the CRC-32C of every frame.
target_link_libraries(coord_net
  PUBLIC raft_base coord_storage coord_proto
  PRIVATE coord_warnings)
