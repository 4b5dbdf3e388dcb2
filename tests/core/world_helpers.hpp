// Helpers of the core-flow tests that build worlds on the 4K granule and run text programs.
#pragma once

#include "core/world.hpp"
#include "program/codec.hpp"
#include "program/runner.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mmfuzz::test {

inline constexpr const char *impls[] = {"generic", "arm64_contpte"};

inline machine_options opts4k(unsigned window_pmds = 2) {
    machine_options o;
    o.gran = granule::k4;
    o.window_pmds = window_pmds;
    return o;
}

inline pmd_t pmd_at(world &w, std::uint64_t addr) {
    return w.m.peek_pmd(w.m.pmd_index(addr));
}

inline void expect_no_violations(const world &w) {
    for (const violation &v : w.m.violations())
        ADD_FAILURE() << w.ops->name() << ": " << v.id << " " << v.detail;
}

/// A text program run with the oracle and a trace, and a canary if `inject` names one.
inline run_result run_text(const std::string &text, const std::string &inject = "") {
    run_options o;
    o.inject = inject;
    o.trace = true;
    return run_program(parse_text(text), o);
}

inline std::string verdict(const run_result &r) {
    return r.violation ? r.violation->invariant + ": " + r.violation->report : "pass";
}

} // namespace mmfuzz::test
