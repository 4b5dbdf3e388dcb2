// mmfuzz bench: what its throughput part (bench.cpp) and its canary part (bench_canaries.cpp)
// share.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#ifndef MMFUZZ_SOURCE_DIR
#define MMFUZZ_SOURCE_DIR "."
#endif

namespace mmfuzz::cli {

extern const char *const bench_help;

int bench_canaries(const std::vector<std::string> &args);
/// One run of driver (d) or (e) of bench --canaries, as its own process (bench_hunt.cpp).
int bench_hunt(const std::vector<std::string> &args);

/// The source tree (corpus/seeds, the dictionary, the known findings).
inline std::filesystem::path source_dir() {
    return MMFUZZ_SOURCE_DIR;
}

/// The findings campaigns and the benchmark pass over by default.
inline std::filesystem::path known_findings_file() {
    return source_dir() / "corpus" / "known-findings.txt";
}

/// A fresh folder under the temporary directory.
std::filesystem::path fresh_work_dir();

/// The 1-minute load average, sampled while a benchmark runs (the machine may be shared).
class load_samples {
  public:
    /// Adds the current 1-minute load average and returns it (-1 if unreadable).
    double sample();
    /// Adds one taken earlier (a resumed run's).
    void add(double v) { values_.push_back(v); }
    /// "0.52 (one sample)" or "min 0.5, mean 1.1, max 2.0 over 12 samples".
    [[nodiscard]] std::string describe() const;

  private:
    std::vector<double> values_;
};

/// Markdown lines naming the machine (cores, CPU model), this mmfuzz's build, the date, the
/// load average and the exact command.
std::string markdown_context(const std::vector<std::string> &args, const load_samples &load);

/// Writes the file (never replacing one that appeared meanwhile unless force; then the text
/// goes to stdout). Returns the exit status.
int write_markdown(const std::string &path, bool force, const std::string &text);

/// "1,234,567".
std::string thousands(double v);

} // namespace mmfuzz::cli
