# SPDX-License-Identifier: MIT
# Run one seed twice with `sim` and fail unless both output lines match:
# the simulator is deterministic (same events, same final state hash).
# Usage: cmake -DSIM=<path to sim> -DSEED=<seed> -P replay.cmake
foreach(i 1 2)
  execute_process(COMMAND ${SIM} --seed ${SEED} --nodes 5
                  OUTPUT_VARIABLE out${i} RESULT_VARIABLE rc${i})
  if(NOT rc${i} EQUAL 0)
    message(FATAL_ERROR "sim --seed ${SEED} failed (run ${i}):\n${out${i}}")
  endif()
endforeach()
if(NOT out1 STREQUAL out2)
  message(FATAL_ERROR "seed ${SEED} is not reproducible:\n${out1}\n${out2}")
endif()
message(STATUS "seed ${SEED} replays identically: ${out1}")
