// The differential property: any program, legalized, runs on the reference and the arm64
// contpte world with no violation. RapidCheck shrinks a failure to a minimal program and prints
// it as a text reproducer.
#include "gen.hpp"

#include "arch/registry.hpp"
#include "program/runner.hpp"

namespace mmfuzz {
namespace {

void check_differential(const program &p, const std::string &optimized) {
    run_options o;
    o.optimized = optimized;
    o.known = read_known_findings(MMFUZZ_SOURCE_DIR "/corpus/known-findings.txt");
    const run_result r = run_program(p, o);
    if (r.violation) {
        RC_LOG() << r.violation->report << "\nlegalized reproducer:\n" << print_text(r.legalized);
        RC_FAIL(r.violation->invariant + " at op #" + std::to_string(r.violation->op_index));
    }
}

RC_GTEST_PROP(Differential, ReferenceAndContpteAgree4K, ()) {
    check_differential(*props::gen_program(granule::k4), "arm64_contpte");
}

RC_GTEST_PROP(Differential, ReferenceAndContpteAgree16K, ()) {
    check_differential(*props::gen_program(granule::k16), "arm64_contpte");
}

RC_GTEST_PROP(Differential, ReferenceAndContpteAgree64K, ()) {
    check_differential(*props::gen_program(granule::k64), "arm64_contpte");
}

/// The spec self-check: the reference, against itself, always lands inside the interval.
RC_GTEST_PROP(Differential, ReferenceLandsInsideTheSpec, ()) {
    check_differential(*props::gen_program(granule::k4), "generic");
}

/// A legalized program replays the same verdict with nothing left to legalize.
RC_GTEST_PROP(Differential, LegalizedProgramsReplayTheSame, ()) {
    const program p = *props::gen_program(granule::k4);
    const run_result first = run_program(p);
    const run_result again = run_program(first.legalized);
    RC_ASSERT(again.noops == 0U);
    RC_ASSERT(again.legalized == first.legalized);
    RC_ASSERT(again.passed() == first.passed());
}

} // namespace
} // namespace mmfuzz
