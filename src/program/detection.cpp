#include "program/detection.hpp"

#include <cstdio>
#include <ctime>

namespace mmfuzz {

namespace {

constexpr std::string_view prefix = "mmfuzz: violation after ";

} // namespace

double own_cpu_seconds() {
    return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
}

std::string detection_line(double search_began) {
    const double now = own_cpu_seconds();
    char buf[128];
    std::snprintf(buf, sizeof buf, "%.6f CPU seconds of search (%.6f of start-up before it)\n",
                  now - search_began, search_began);
    return std::string(prefix) + buf;
}

std::optional<detection_time> parse_detection_line(std::string_view line) {
    if (line.substr(0, prefix.size()) != prefix)
        return std::nullopt;
    const std::string rest(line.substr(prefix.size()));
    detection_time t;
    int end = 0;
    if (std::sscanf(rest.c_str(), "%lf CPU seconds of search (%lf of start-up before it)%n",
                    &t.search, &t.startup, &end) != 2 ||
        end == 0 || t.search < 0 || t.startup < 0)
        return std::nullopt;
    return t;
}

} // namespace mmfuzz
