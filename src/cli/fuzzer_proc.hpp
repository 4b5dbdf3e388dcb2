// Finding the fuzz preset's binaries and running libFuzzer as a child process: what 'mmfuzz
// campaign' and 'mmfuzz bench' share.
#pragma once

#include <csignal>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace mmfuzz::cli {

/// The folder of this mmfuzz binary.
std::filesystem::path self_dir();

/// The fuzz preset's binary `name` (mm_diff_fuzzer, mm_diff_fuzzer_bytes, ...), "" if none exists.
/// With `dir`: DIR/name, then DIR/fuzz/name. Without: $MMFUZZ_FUZZER itself for mm_diff_fuzzer
/// (as given, even if missing), the binary beside it for the others, then the one built beside
/// this mmfuzz (its fuzz/ folder, then its own folder).
std::string find_fuzz_binary(const std::string &name, const std::string &dir = "");

/// The flags of a libFuzzer .options file ("[libfuzzer]" then "key = value" lines) as
/// "-key=value"; a relative dict is resolved against the file's folder. Empty if it is missing.
std::vector<std::string> libfuzzer_options_flags(const std::filesystem::path &options_file);

struct child_spec {
    std::vector<std::string> argv; ///< argv[0] is the path of the binary
    std::vector<std::string> env;  ///< "NAME=value" added to this process's environment
    std::filesystem::path log;     ///< stdout and stderr of the child
    bool append_log = false;       ///< else the log is truncated first
    double limit = 0;              ///< SIGKILL after this many seconds (0: no limit)
    /// SIGKILL once the child has used this many seconds of CPU time, user and system (0: no
    /// limit): on a shared machine the CPU time a run needs does not depend on the load.
    double cpu_limit = 0;
    /// Told each line of output as it arrives (may be empty).
    std::function<void(const std::string &)> on_line;
    /// When set, the child runs in a process group of its own, which gets SIGTERM once *stop
    /// is non-zero (this process's signal handler sets it) or this process dies. libFuzzer's
    /// -fork parent and its jobs all stop cleanly on SIGTERM; on SIGINT the parent does not
    /// (sent alone it carries on, with its jobs it dies of a broken pipe), and a signal sent to
    /// this process alone (kill, timeout, a CI runner) would not reach the child at all. Limits
    /// then kill the whole group.
    const volatile std::sig_atomic_t *stop = nullptr;
    /// Without address-space layout randomization (personality ADDR_NO_RANDOMIZE), so that a
    /// libFuzzer seed takes the same path from run to run: some compares the fuzz target
    /// traces are of addresses, and libFuzzer's CMP mutation copies their values into inputs.
    bool fixed_layout = false;
};

struct child_result {
    int status = 0;         ///< exit status, or 128 + signal
    double seconds = 0;     ///< wall-clock
    double cpu_seconds = 0; ///< user + system CPU time of the child
    bool timed_out = false; ///< killed at `limit`
    bool cpu_out = false;   ///< killed at `cpu_limit`
};

/// Runs the child to its end (or its time limit). Without `stop` it stays in this process
/// group, so a Ctrl-C at the terminal reaches it too.
child_result run_child(const child_spec &spec);

/// User + system CPU seconds this thread has used.
double thread_cpu_seconds();

/// Values of one libFuzzer status line ("#1234 ... cov: 5 corp: 6 exec/s: 7 ...").
struct fuzzer_status {
    std::string execs = "0";
    std::string cov = "0";
    std::string corp = "0";
    std::string rate = "0";
    std::string crashes = "0";
};
/// Updates s from line when it is a status line; others are ignored.
void parse_status(const std::string &line, fuzzer_status &s);

/// The value of a libFuzzer final statistic ("stat::average_exec_per_sec: 1234") in a log,
/// the last one when there are several; -1 when it is missing.
double final_stat(const std::filesystem::path &log, const std::string &name);

} // namespace mmfuzz::cli
