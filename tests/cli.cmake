# Runs the mmfuzz CLI the way a user would and checks exit codes and messages.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")

function(expect code regex)
  execute_process(COMMAND ${MMFUZZ} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL code)
    message(FATAL_ERROR "mmfuzz ${ARGN}: exit ${rc}, expected ${code}\n${out}${err}")
  endif()
  if(NOT "${out}${err}" MATCHES "${regex}")
    message(FATAL_ERROR "mmfuzz ${ARGN}: output does not match '${regex}':\n${out}${err}")
  endif()
endfunction()

expect(2 "usage: mmfuzz COMMAND")
expect(0 "replay FILE" --help)
expect(2 "unknown command 'frobnicate'" frobnicate)
expect(0 "EQUIV +both worlds" invariants)
expect(0 "unfold_drops_dirty +arch +contpte_convert\\(\\) unfolding[^\n]*\nptep_get_leaks_cont" canaries)
expect(0 "split_drops_dirty +core " canaries)
expect(2 "canaries: unexpected argument '--all'" canaries --all)
expect(0 "usage: mmfuzz replay" replay --help)
expect(2 "no input file" replay)
expect(2 "cannot open" replay "${WORK}/missing.ops")

file(WRITE "${WORK}/bad.ops" "mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\nset_ptes nr=2 prot=rwq\n")
expect(2 "bad.ops:2:20: expected a protection" replay "${WORK}/bad.ops")

expect(0 "ops: pass" replay --quiet "${SRC}/corpus/seeds/fold-and-access.ops")
expect(0 "set_ptes addr=0x40000000000 nr=16" replay "${SRC}/corpus/seeds/fold-and-access.ops")
expect(0 "-- arm64_contpte final tables" replay --dump "${SRC}/corpus/seeds/fold-and-access.ops")

# A binary input prints as its text reproducer (bytes 01 00 00 00: CMake strings hold no NUL).
execute_process(COMMAND printf "\\001\\000\\000\\000" OUTPUT_FILE "${WORK}/in.bin")
expect(0 "mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1" print "${WORK}/in.bin")

# minimize never overwrites an existing file without --force, and refuses a passing input.
file(WRITE "${WORK}/keep.ops" "precious\n")
expect(2 "exists; not overwriting" minimize "${SRC}/corpus/seeds/fold-and-access.ops" -o "${WORK}/keep.ops")
file(READ "${WORK}/keep.ops" kept)
if(NOT kept STREQUAL "precious\n")
  message(FATAL_ERROR "minimize overwrote ${WORK}/keep.ops")
endif()
expect(2 "cannot write ${WORK}/no-dir/m.ops: no folder ${WORK}/no-dir" minimize
       "${SRC}/corpus/regressions/canary-unfold_drops_dirty.ops" -o "${WORK}/no-dir/m.ops")
expect(2 "passes: nothing to minimize" minimize "${SRC}/corpus/seeds/fold-and-access.ops" -o "${WORK}/new.ops")
expect(2 "unknown canary 'nope'" replay --inject nope "${SRC}/corpus/seeds/fold-and-access.ops")
expect(2 "--time SECONDS" campaign)
expect(2 "campaign: --time needs a number, found 'abc'" campaign --time abc)
expect(2 "campaign: --jobs N needs N > 0" campaign --time 5 --jobs 0)
expect(2 "campaign: --granule takes 4K, 16K or 64K, found '8K'" campaign --time 5 --granule 8K)
expect(2 "campaign: --seeds ${WORK}/no-seeds: no such folder" campaign --time 5 --seeds "${WORK}/no-seeds")

# A folder is replayed file by file (a campaign's crashes/); print and minimize take files only.
file(MAKE_DIRECTORY "${WORK}/crashes" "${WORK}/none")
file(COPY "${SRC}/corpus/seeds/fold-and-access.ops" "${SRC}/corpus/seeds/madv-free.ops"
     DESTINATION "${WORK}/crashes")
expect(0 "fold-and-access.ops: pass\n[^\n]*madv-free.ops: pass" replay --quiet "${WORK}/crashes")
expect(2 "none: no files in it" replay --quiet "${WORK}/none")
expect(2 "crashes: is a directory" print "${WORK}/crashes")
expect(2 "crashes: is a directory" minimize "${WORK}/crashes" -o "${WORK}/m.ops")

# bench: argument errors, a results file it would overwrite, and a throughput run one of whose
# random programs reaches a known finding (EQUIV clear_young_dirty_ptes): such a program is
# replaced, not reported as a violation.
expect(2 "unknown granule '8K'" bench --granule 8K)
file(WRITE "${WORK}/keep.md" "precious\n")
expect(2 "keep.md exists; not overwriting" bench --seconds 0.1 --fuzzer-seconds 0 --markdown "${WORK}/keep.md")
file(READ "${WORK}/keep.md" kept)
if(NOT kept STREQUAL "precious\n")
  message(FATAL_ERROR "bench overwrote ${WORK}/keep.md")
endif()
expect(2 "cannot write ${WORK}/no-dir/b.md: no folder ${WORK}/no-dir" bench --seconds 0.1
       --fuzzer-seconds 0 --markdown "${WORK}/no-dir/b.md")
expect(0 "oracle overhead" bench --passes 1 --direct --ops 128 --fuzzer-seconds 0)

# bench --canaries times drivers (c) and (d), each a process of its own, by the search time it
# prints at the violation, with its start-up (never zero for a process) apart.
expect(0 "\"c\": {\"median_seconds\": [0-9.]+, .*\"startup_seconds\": \\[[0-9.]+\\]}.*\"d\": {\"median_seconds\": [0-9.]+.*\"median_startup\": {\"c\": [0-9.]+, \"d\": 0\\.[0-9]*[1-9]"
       bench --canaries --drivers cd --runs 1 --cap 30 --only ptep_get_leaks_cont --json
       --work "${WORK}/canaries")
# One run of (d) alone: the program it found is kept and replays as a violation with the canary.
expect(1 "violation after [0-9.]+ CPU seconds of search.*CONT_LEAK at op #[0-9]+: .*reproducer: "
       bench --hunt d --inject ptep_get_leaks_cont --seed 2 --cap 30 --out "${WORK}/hunt.ops")
expect(1 "CONT_LEAK" replay --quiet --inject ptep_get_leaks_cont "${WORK}/hunt.ops")
expect(2 "hunt.ops exists; not overwriting" bench --hunt e --inject ptep_get_leaks_cont
       --out "${WORK}/hunt.ops")
expect(2 "--hunt takes driver d or e, not 'a'" bench --hunt a --inject ptep_get_leaks_cont
       --out "${WORK}/other.ops")
expect(2 "--hunt needs d or e, a canary" bench --hunt d --inject no_such_canary
       --out "${WORK}/other.ops")
