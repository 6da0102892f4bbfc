# SPDX-License-Identifier: MIT
# Run `sim --demo`: it must exit 0 and tell of at least two leader elections.
# Usage: cmake -DSIM=<path to sim> -P demo.cmake
execute_process(COMMAND ${SIM} --demo OUTPUT_VARIABLE out RESULT_VARIABLE rc)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "sim --demo exited with ${rc}")
endif()
string(REGEX MATCHALL "elected leader" elections "${out}")
list(LENGTH elections n)
if(n LESS 2)
  message(FATAL_ERROR "sim --demo printed ${n} leader elections, expected at least 2")
endif()
