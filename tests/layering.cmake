# Fails when a source breaks the layering of DESIGN.md:
# - only src/machine opens handles (machine/handle_access.hpp);
# - src/core reaches page tables through the handle API only, never an implementation type, and
#   its flows never read raw table memory (the oracle's and tests' peek_* accessors).
file(GLOB_RECURSE sources "${SRC}/*.cpp" "${SRC}/*.hpp")
set(bad "")
foreach(f IN LISTS sources)
  file(RELATIVE_PATH rel "${SRC}" "${f}")
  file(READ "${f}" text)
  if(NOT rel MATCHES "^machine/" AND text MATCHES "#include \"machine/handle_access.hpp\"")
    list(APPEND bad "${rel}: opens handles (only src/machine may include handle_access.hpp)")
  endif()
  if(rel MATCHES "^core/" AND text MATCHES "#include \"arch/(generic|arm64_contpte)/")
    list(APPEND bad "${rel}: core code includes an implementation header")
  endif()
  if(rel MATCHES "^core/" AND NOT rel MATCHES "^core/world\\." AND
     text MATCHES "(peek_pte|peek_pmd|live_table_for)\\(")
    list(APPEND bad "${rel}: a core flow reads raw table memory (use the handle API)")
  endif()
  if(rel MATCHES "^(arch|machine|pgtable)/" AND text MATCHES "#include \"(oracle|program|core)/")
    list(APPEND bad "${rel}: a lower layer includes an upper one")
  endif()
endforeach()
if(bad)
  string(REPLACE ";" "\n  " msg "${bad}")
  message(FATAL_ERROR "layering violations:\n  ${msg}")
endif()
list(LENGTH sources n)
message(STATUS "layering: ${n} files checked")
