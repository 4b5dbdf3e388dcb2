# Replays a canary reproducer without its canary: the '# inject:' and '# expect:' lines are
# dropped and the program must pass, so the violation the file records is the canary's.
# -DMMFUZZ=<mmfuzz> -DFILE=<reproducer> -DWORK=<scratch dir>
file(READ "${FILE}" text)
if(NOT text MATCHES "(^|\n)# inject: [a-z_]+")
  message(FATAL_ERROR "${FILE} has no '# inject:' line")
endif()
string(REGEX REPLACE "(^|\n)# (inject|expect):[^\n]*" "" stripped "${text}")
get_filename_component(name "${FILE}" NAME)
file(MAKE_DIRECTORY "${WORK}")
file(WRITE "${WORK}/${name}" "# expect: pass\n${stripped}")
execute_process(COMMAND ${MMFUZZ} replay --quiet "${WORK}/${name}" RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES ": pass \\(as expected\\)")
  message(FATAL_ERROR "${FILE} without its canary: exit ${rc}\n${out}${err}")
endif()
