# SPDX-License-Identifier: MIT
# coordd, the node daemon: coord/main.c over coord_node and coord_server.
if(TARGET coord_server)
  add_executable(coordd ${CMAKE_CURRENT_LIST_DIR}/main.c)
  target_link_libraries(coordd PRIVATE coord_node coord_server coord_warnings)
endif()
