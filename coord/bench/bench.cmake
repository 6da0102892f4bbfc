# SPDX-License-Identifier: MIT
# coordbench, the load generator of the peers benchmark (scripts/bench.sh).
# Included from coord/CMakeLists.txt, so the binary lands next to coordd in
# build/<flavour>/coord/. coord_bench_workload holds the pure workload rules
# (tests/unit/bench); the binary needs libcoord (target coord_client).
add_library(coord_bench_workload STATIC ${CMAKE_CURRENT_LIST_DIR}/workload.c)
target_link_libraries(coord_bench_workload PUBLIC raft_base PRIVATE coord_warnings)

if(TARGET coord_client)
  add_executable(coordbench ${CMAKE_CURRENT_LIST_DIR}/bench.c)
  target_link_libraries(coordbench PRIVATE coord_bench_workload coord_client PkgConfig::LIBUV
                        coord_warnings)
endif()
