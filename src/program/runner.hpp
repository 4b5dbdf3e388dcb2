// The runner: applies a program to two worlds in lockstep, runs the oracle after every op and
// an audit at the end, and returns a verdict. Same input, same verdict and same trace.
#pragma once

#include "program/op.hpp"

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace mmfuzz {

struct run_options {
    std::string reference = "generic";
    std::string optimized = "arm64_contpte";
    /// Off: apply ops to both worlds without any check (the benchmark's bare baseline).
    bool oracle = true;
    /// Record one trace line per op.
    bool trace = false;
    /// A canary bug to enable by name ("" for none): arch canaries in the optimized world,
    /// core canaries in both.
    std::string inject;
    /// Render both worlds' final tables into run_result::dump.
    bool dump = false;
    /// Known findings, "INVARIANT op" or "INVARIANT op words" (e.g. "BBM modify_prot translation
    /// size change"): a violation of that invariant at that op, whose detail contains the words
    /// if there are any, ends the run there, counted in run_result::known instead of failing, so
    /// a campaign keeps looking for new ones. The words keep a finding from hiding another of
    /// the same invariant at the same op.
    std::vector<std::string> known;
    /// Stop after this many ops (minimization); all when unset.
    std::optional<std::size_t> max_ops;
    /// Check every page of each CONT block a direct op touched, as after a flow; by default a
    /// block without PTE_CONT adds only its written pages (checker::touched_set). The verdicts
    /// must be the same (a test holds the default to that).
    bool whole_blocks = false;
};

struct verdict_violation {
    std::string invariant;
    std::size_t op_index = 0; ///< == program size for the end-of-program audit
    std::string summary;      ///< one line
    std::string report;       ///< views, spec interval and table map
};

struct run_result {
    std::optional<verdict_violation> violation;
    std::size_t applied = 0;
    std::size_t noops = 0;
    /// Violations matching run_options::known that were passed over.
    std::size_t known = 0;
    std::string trace;
    std::string dump;
    /// The ops as applied, each in its legal form; no-ops dropped. Replays the same.
    program legalized;
    [[nodiscard]] bool passed() const { return !violation.has_value(); }
};

run_result run_program(const program &p, const run_options &opts = {});

/// Whether `v`, a violation of p with a canary enabled, is the canary's: run with `without`
/// (the same options, no canary), p passes or fails elsewhere (another invariant, or op).
bool caused_by_canary(const program &p, const verdict_violation &v, const run_options &without);

/// The violation the canary of `with` (run_options::inject) causes in p, if any.
std::optional<verdict_violation> canary_violation(const program &p, const run_options &with);

/// Reads a known-findings file: one "INVARIANT op [words of the detail]" per line, '#'
/// comments.
std::vector<std::string> read_known_findings(const std::string &path);

} // namespace mmfuzz
