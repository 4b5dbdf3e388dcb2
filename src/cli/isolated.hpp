// Running a piece of this program's own work in a child process, so that a crash or a hang in
// it (a model bug the fuzzer found: a sanitizer report, a segfault, an endless loop) ends the
// child, not the command that asked for it.
#pragma once

#include <functional>
#include <string>

namespace mmfuzz::cli {

struct isolated_result {
    bool ok = false;     ///< fn returned
    std::string output;  ///< what fn returned
    std::string failure; ///< why there is no output: the exception, the signal, the CPU limit
};

/// Runs fn in a forked child limited to cpu_seconds of CPU time and returns what it returned.
/// The child shares nothing with this process after the fork (files it writes stay written).
/// Its stdout and stderr (a sanitizer's report, say) are appended to `log` when one is given.
/// For a single-threaded process only: the child runs fn, not just async-signal-safe calls.
isolated_result run_isolated(const std::function<std::string()> &fn, unsigned cpu_seconds,
                             const std::string &log = "");

} // namespace mmfuzz::cli
