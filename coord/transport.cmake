# SPDX-License-Identifier: MIT
# coord_net: the peer transport (coord/transport.c), its framing
# (coord/frame.c) and the peer wire codec (coord/codec_peer.c, the only file
# that includes proto/peer.pb-c.h). Included from coord/CMakeLists.txt; needs
# "peer" in proto/CMakeLists.txt's COORD_PROTOS.
add_library(coord_net STATIC
  ${CMAKE_CURRENT_LIST_DIR}/frame.c
  ${CMAKE_CURRENT_LIST_DIR}/codec_peer.c
  ${CMAKE_CURRENT_LIST_DIR}/transport.c
  ${CMAKE_CURRENT_LIST_DIR}/uverr.c)
target_link_libraries(coord_net
  PUBLIC raft_base coord_storage coord_proto PkgConfig::LIBUV
  PRIVATE coord_warnings)
