// mmfuzz bench --canaries: what the measurement (bench_canaries.cpp) hands to its outputs
// (bench_report.cpp).
#pragma once

#include "cli/bench.hpp"
#include "program/op.hpp"

#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mmfuzz::cli {

constexpr double missed = std::numeric_limits<double>::infinity();

const char *driver_title(char d);
/// Seconds with two decimals under 10, one above, ">CAP" for a miss.
std::string cell(double s, double cap);

struct hunt {
    /// CPU seconds (user + system) of the driver's search until it found the canary: for a
    /// driver process, from the start of its search (program/detection.hpp) to the violation.
    double seconds = missed;
    double startup = 0;           ///< CPU seconds of the driver process before its search began
    double wall = 0;              ///< wall-clock seconds of the run
    std::optional<program> found; ///< the failing input, when the driver leaves one
    std::string invariant;
    std::string found_file; ///< where `found` is kept (in the work folder)
    std::string note;       ///< why a run is not a measurement
};

struct canary_row {
    std::string name;
    std::map<char, std::vector<hunt>> runs;
    std::string invariant;
    std::size_t reproducer_ops = 0;
    double minimize_seconds = 0;
    std::string reproducer_note;
};

/// What the outputs need besides the rows.
struct canary_results {
    std::vector<canary_row> rows;
    std::string drivers;
    std::size_t runs = 0;
    std::size_t jobs = 1; ///< measurements run at a time
    double cap = 0;
    bool seeds = true;
    std::filesystem::path work;

    /// Whether every run of driver d was a measurement (its binary was there, ...).
    [[nodiscard]] bool measured(const canary_row &r, char d) const;
    /// The median of d's runs on r, each with its process's start-up when `with_startup`; a
    /// miss counts as longer than any time.
    [[nodiscard]] static double median_of(const canary_row &r, char d, bool with_startup = false);
    /// The median over canaries of each canary's median; misses (and drivers not measured)
    /// count as longer than any time, or as the cap when `at_cap`.
    [[nodiscard]] double overall(char d, bool at_cap = false, bool with_startup = false) const;
    /// The sum over canaries of each canary's median, a miss counted as the cap: where the
    /// median is set by the canaries every driver finds at once, the total shows the hard ones.
    [[nodiscard]] double total(char d) const;
    /// The median start-up of d's processes over the runs that found their canary (part of no
    /// time above); 0 for the in-process drivers.
    [[nodiscard]] double startup(char d) const;
    [[nodiscard]] bool has(char d) const { return drivers.find(d) != std::string::npos; }
};

std::string canary_json(const canary_results &res);
void print_canary_table(const canary_results &res);
std::string canary_markdown(const canary_results &res, const std::vector<std::string> &args,
                            const load_samples &load);

} // namespace mmfuzz::cli
