// The time a driver process took to find a violation, as 'mmfuzz bench --canaries' measures it:
// CPU seconds of the search alone, from the moment the driver begins its work (the fuzz
// target's first input, rc_canary's main) to the violation. The process's start-up before that
// (loading, the sanitizers' and libFuzzer's set-up) and its crash report after it are left out,
// as the in-process drivers have neither.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mmfuzz {

/// CPU seconds (user + system, all threads) this process has used.
double own_cpu_seconds();

struct detection_time {
    double search = 0;  ///< CPU seconds from the start of the search to the violation
    double startup = 0; ///< CPU seconds the process used before the search began
};

/// The line a driver prints at its first violation, given own_cpu_seconds() when its search
/// began: "mmfuzz: violation after S CPU seconds of search (T of start-up before it)\n".
std::string detection_line(double search_began);

/// The times of a detection_line(), or nullopt when `line` is not one.
std::optional<detection_time> parse_detection_line(std::string_view line);

} // namespace mmfuzz
