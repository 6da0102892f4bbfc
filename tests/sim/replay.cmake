# SPDX-License-Identifier: MIT
# The simulator is deterministic: one seed run twice prints the same line
# (same events, same final state hash), the full --trace output of two runs
# is identical too, and tracing does not change the run.
# Usage: cmake -DSIM=<path to sim> -DSEED=<seed> [-DSTORAGE=real] -P replay.cmake
# With STORAGE=real, each run has its own temporary directory: its name
# must not show in the line or the trace.
set(extra)
if(DEFINED STORAGE)
  set(extra --storage ${STORAGE})
endif()
foreach(i 1 2)
  execute_process(COMMAND ${SIM} --seed ${SEED} --nodes 5 ${extra}
                  OUTPUT_VARIABLE line${i} RESULT_VARIABLE rc${i})
  execute_process(COMMAND ${SIM} --seed ${SEED} --nodes 5 --trace ${extra}
                  OUTPUT_VARIABLE trace${i} RESULT_VARIABLE trc${i})
  if(NOT rc${i} EQUAL 0 OR NOT trc${i} EQUAL 0)
    message(FATAL_ERROR "sim --seed ${SEED} failed (run ${i}):\n${line${i}}")
  endif()
endforeach()
if(NOT line1 STREQUAL line2)
  message(FATAL_ERROR "seed ${SEED} is not reproducible:\n${line1}${line2}")
endif()
if(NOT trace1 STREQUAL trace2)
  message(FATAL_ERROR "seed ${SEED}: two --trace runs differ")
endif()
string(FIND "${trace1}" "${line1}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "seed ${SEED}: tracing changed the run:\n${line1}")
endif()
message(STATUS "seed ${SEED} replays identically: ${line1}")
