// mmfuzz bench --canaries: its outputs, as a text table, JSON and Markdown.
#include "cli/bench_canaries.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace mmfuzz::cli {

namespace {

std::string json_seconds(double s) {
    if (s == missed)
        return "null";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", s);
    return buf;
}

std::string json_string(const std::string &s) {
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + "\"";
}

/// The median of the runs; a miss counts as longer than any time.
double median(std::vector<double> v) {
    if (v.empty())
        return missed;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

/// Two significant digits without an exponent: 0.039, 2.5, 17, 107.
std::string short_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, v >= 10 ? "%.0f" : v >= 1 ? "%.1f" : "%.2g", v);
    return buf;
}

} // namespace

const char *driver_title(char d) {
    switch (d) {
    case 'a':
        return "libFuzzer + mutator";
    case 'b':
        return "libFuzzer bytes";
    case 'c':
        return "RapidCheck";
    case 'd':
        return "uniform random";
    default:
        return "biased random";
    }
}

std::string cell(double s, double cap) {
    char buf[32];
    if (s == missed)
        std::snprintf(buf, sizeof buf, ">%g", cap);
    else
        std::snprintf(buf, sizeof buf, s < 10 ? "%.2f" : "%.1f", s);
    return buf;
}

bool canary_results::measured(const canary_row &r, char d) const {
    const auto it = r.runs.find(d);
    if (it == r.runs.end())
        return false;
    return std::all_of(it->second.begin(), it->second.end(),
                       [](const hunt &h) { return h.note.empty() || h.found; });
}

double canary_results::median_of(const canary_row &r, char d, bool with_startup) {
    std::vector<double> v;
    for (const hunt &h : r.runs.at(d))
        v.push_back(h.seconds + (with_startup ? h.startup : 0));
    return median(v);
}

double canary_results::overall(char d, bool at_cap, bool with_startup) const {
    std::vector<double> v;
    for (const canary_row &r : rows) {
        const double s = measured(r, d) ? median_of(r, d, with_startup) : missed;
        v.push_back(at_cap ? std::min(s, cap) : s);
    }
    return median(v);
}

double canary_results::total(char d) const {
    double sum = 0;
    for (const canary_row &r : rows)
        sum += std::min(measured(r, d) ? median_of(r, d) : missed, cap);
    return sum;
}

double canary_results::startup(char d) const {
    std::vector<double> v;
    for (const canary_row &r : rows)
        if (const auto it = r.runs.find(d); it != r.runs.end())
            for (const hunt &h : it->second)
                if (h.seconds != missed)
                    v.push_back(h.startup);
    return v.empty() ? 0 : median(v);
}

std::string canary_json(const canary_results &res) {
    std::ostringstream o;
    o << "{\"cap_seconds\": " << res.cap << ", \"runs\": " << res.runs
      << ", \"libfuzzer_seeds\": " << (res.seeds ? "true" : "false") << ", \"canaries\": [";
    for (std::size_t i = 0; i < res.rows.size(); ++i) {
        const canary_row &r = res.rows[i];
        o << (i ? ", " : "") << "{\"name\": " << json_string(r.name)
          << ", \"invariant\": " << json_string(r.invariant) << ", \"drivers\": {";
        bool first = true;
        for (const char d : res.drivers) {
            o << (first ? "" : ", ") << "\"" << d << "\": {";
            first = false;
            if (!res.measured(r, d)) {
                o << "\"measured\": false, \"note\": " << json_string(r.runs.at(d).front().note)
                  << "}";
                continue;
            }
            o << "\"median_seconds\": " << json_seconds(canary_results::median_of(r, d))
              << ", \"seconds\": [";
            for (std::size_t k = 0; k < r.runs.at(d).size(); ++k)
                o << (k ? ", " : "") << json_seconds(r.runs.at(d)[k].seconds);
            o << "], \"wall_seconds\": [";
            for (std::size_t k = 0; k < r.runs.at(d).size(); ++k)
                o << (k ? ", " : "") << json_seconds(r.runs.at(d)[k].wall);
            o << "], \"startup_seconds\": [";
            for (std::size_t k = 0; k < r.runs.at(d).size(); ++k)
                o << (k ? ", " : "") << json_seconds(r.runs.at(d)[k].startup);
            o << "]}";
        }
        o << "}, \"reproducer_ops\": " << r.reproducer_ops
          << ", \"minimize_seconds\": " << json_seconds(r.minimize_seconds) << "}";
    }
    o << "], \"median_over_canaries\": {";
    bool first = true;
    for (const char d : res.drivers) {
        o << (first ? "" : ", ") << "\"" << d << "\": " << json_seconds(res.overall(d));
        first = false;
    }
    o << "}, \"median_startup\": {";
    first = true;
    for (const char d : res.drivers) {
        o << (first ? "" : ", ") << "\"" << d << "\": " << json_seconds(res.startup(d));
        first = false;
    }
    o << "}}\n";
    return o.str();
}

void print_canary_table(const canary_results &res) {
    std::printf(
        "time to detect each canary: CPU seconds, median of %zu seeds, cap %g s, %zu run(s) "
        "at a time%s\n",
        res.runs, res.cap, res.jobs, res.seeds ? "" : ", libFuzzer without seed corpus");
    std::printf("%-31s", "canary");
    for (const char d : res.drivers)
        std::printf(" %21s", ("(" + std::string(1, d) + ") " + driver_title(d)).c_str());
    std::printf("  %-12s %4s %9s\n", "invariant", "ops", "minimize");
    for (const canary_row &r : res.rows) {
        std::printf("%-31s", r.name.c_str());
        for (const char d : res.drivers)
            std::printf(" %21s", res.measured(r, d)
                                     ? cell(canary_results::median_of(r, d), res.cap).c_str()
                                     : "not measured");
        if (r.reproducer_ops > 0)
            std::printf("  %-12s %4zu %8.1fs%s\n", r.invariant.c_str(), r.reproducer_ops,
                        r.minimize_seconds,
                        r.reproducer_note.empty() ? "" : ("  (" + r.reproducer_note + ")").c_str());
        else
            std::printf("  %-12s %4s %9s\n", "-", "-", "-");
    }
    std::printf("%-31s", "median over canaries");
    for (const char d : res.drivers)
        std::printf(" %21s", cell(res.overall(d), res.cap).c_str());
    std::printf("\n");
    std::printf("process start-up, not counted above (median):");
    for (const char d : res.drivers)
        std::printf(" (%c) %.2f s", d, res.startup(d));
    std::printf("\n");
    std::printf("logs and crashes: %s\n", res.work.c_str());
}

std::string canary_markdown(const canary_results &res, const std::vector<std::string> &args,
                            const load_samples &load) {
    const double cap = res.cap;
    auto md_cell = [&](const canary_row &r, char d) {
        return res.measured(r, d) ? cell(canary_results::median_of(r, d), cap) : "n/m";
    };
    std::ostringstream o;
    o << "### Time to detect each canary\n\n"
      << markdown_context(args, load) << "\n"
      << "CPU seconds (user + system) of the driver's search until the first violation the "
         "canary causes, from the moment its search begins (the fuzz target's first input, "
         "rc_canary's main, the first random program of (d) and (e)) to the violation, so "
         "that neither the process's start-up nor its crash report is counted (the median "
         "start-up is in the figures below); median of "
      << res.runs << " seeds (1.." << res.runs
      << "), each run one single-threaded process without address-space randomization, " << res.jobs
      << " at a time, capped at " << cap << " CPU seconds: \">" << cap
      << "\" is a miss in the median run, \"n/m\" a driver not measured. Drivers: ";
    for (std::size_t i = 0; i < res.drivers.size(); ++i)
        o << (i ? ", " : "") << "(" << res.drivers[i] << ") " << driver_title(res.drivers[i]);
    o << (res.seeds ? "" : "; libFuzzer without the seed corpus")
      << ". Reproducer: op count after `mmfuzz minimize` of the first input (a) found, else "
         "(e), else (d), and the CPU seconds minimization took.\n\n| canary | caught as |";
    for (const char d : res.drivers)
        o << " (" << d << ") |";
    // The random baselines (a) is compared with.
    std::string baselines;
    for (const char d : {'d', 'e'})
        if (res.has('a') && res.has(d))
            baselines += d;
    for (const char d : baselines)
        o << " " << d << " ÷ a |";
    o << " reproducer ops | minimize s |\n|---|---|";
    for (std::size_t i = 0; i < res.drivers.size() + baselines.size(); ++i)
        o << "---:|";
    o << "---:|---:|\n";
    for (const canary_row &r : res.rows) {
        o << "| `" << r.name << "` | " << (r.invariant.empty() ? "-" : r.invariant) << " |";
        for (const char d : res.drivers)
            o << " " << md_cell(r, d) << " |";
        for (const char b : baselines) {
            const double a =
                std::min(res.measured(r, 'a') ? canary_results::median_of(r, 'a') : cap, cap);
            const double d =
                std::min(res.measured(r, b) ? canary_results::median_of(r, b) : cap, cap);
            o << " " << short_number(d / std::max(a, 0.01)) << " |";
        }
        if (r.reproducer_ops > 0) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.2f", r.minimize_seconds);
            o << " " << r.reproducer_ops << (r.reproducer_note.empty() ? "" : " (*)") << " | "
              << buf << " |\n";
        } else {
            o << " - | - |\n";
        }
    }
    o << "\nEach seed (1.." << res.runs
      << "): CPU seconds, wall-clock seconds in brackets:\n\n| canary |";
    for (const char d : res.drivers)
        o << " (" << d << ") |";
    o << "\n|---|";
    for (std::size_t i = 0; i < res.drivers.size(); ++i)
        o << "---|";
    o << "\n";
    for (const canary_row &r : res.rows) {
        o << "| `" << r.name << "` |";
        for (const char d : res.drivers) {
            o << " ";
            const std::vector<hunt> &hs = r.runs.at(d);
            for (std::size_t k = 0; k < hs.size(); ++k) {
                char wall[32];
                std::snprintf(wall, sizeof wall, " [%.0f]", hs[k].wall);
                o << (k ? ", " : "")
                  << (hs[k].note.empty() || hs[k].found ? cell(hs[k].seconds, cap) + wall : "n/m");
            }
            o << " |";
        }
        o << "\n";
    }
    std::vector<std::string> notes;
    for (const canary_row &r : res.rows) {
        if (!r.reproducer_note.empty())
            notes.push_back("(*) `" + r.name + "`: " + r.reproducer_note);
        for (const auto &[d, hs] : r.runs)
            for (std::size_t k = 0; k < hs.size(); ++k)
                if (!hs[k].note.empty() && !hs[k].found && res.has(d))
                    notes.push_back("n/m: `" + r.name + "` (" + std::string(1, d) + ") seed " +
                                    std::to_string(k + 1) + ": " + hs[k].note);
    }
    for (const std::string &n : notes)
        o << "\n" << n << "\n";

    // The figures the targets of issue 8 are stated in.
    const std::size_t n = res.rows.size();
    o << "\n| figure | measured | target (issue 8) | met |\n|---|---:|---:|---|\n";
    if (res.has('a')) {
        std::size_t in60 = 0;
        std::size_t in5 = 0;
        for (const canary_row &r : res.rows) {
            const double s = res.measured(r, 'a') ? canary_results::median_of(r, 'a') : missed;
            in60 += s <= 60 ? 1 : 0;
            in5 += s <= 5 ? 1 : 0;
        }
        o << "| canaries (a) finds within 60 s (median of " << res.runs << ") | " << in60 << " of "
          << n << " | all | "
          << (in60 == n ? "yes" : "no (" + std::to_string(n - in60) + " missed)") << " |\n"
          << "| canaries (a) finds within 5 s | " << in5 << " of " << n << " | most | "
          << (2 * in5 > n ? "yes" : "no") << " |\n";
    }
    for (const char d : res.drivers)
        o << "| median over canaries, (" << d << ") | " << cell(res.overall(d), cap)
          << " s | | |\n";
    for (const char d : res.drivers) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.2f", res.startup(d));
        o << "| process start-up of (" << d << "), not counted, median over runs | " << buf
          << " s | | |\n";
    }
    for (const char d : res.drivers)
        o << "| total over canaries, (" << d << "), a miss counted as " << cap << " s | "
          << short_number(res.total(d)) << " s | | |\n";
    for (const char b : baselines)
        o << "| (" << b << ") ÷ (a), totals over all canaries | "
          << short_number(res.total(b) / std::max(res.total('a'), 0.01)) << "× ("
          << short_number(res.total(b)) << " s ÷ " << short_number(res.total('a'))
          << " s) | (no target) | - |\n";
    for (const char b : baselines) {
        const double a = res.overall('a', true);
        const double d = res.overall(b, true);
        const double times = d / std::max(a, 0.01);
        const std::string by = std::string("(") + b + ")";
        const std::string met =
            times >= 3   ? "yes"
            : times >= 1 ? "no: (a) is only " + short_number(times) + "× faster"
                         : "no: " + by + " is " + short_number(1 / times) + "× faster than (a)";
        o << "| " << by << " ÷ (a), medians over all canaries, a miss counted as " << cap << " s | "
          << short_number(times) << "× (" << short_number(d) << " s ÷ " << short_number(a)
          << " s) | " << (b == 'd' ? "≥ 3×" : "(no target)") << " | " << (b == 'd' ? met : "-")
          << " |\n";
        const double a_all = res.overall('a', true, true);
        const double d_all = res.overall(b, true, true);
        o << "| " << by << " ÷ (a), the same with each process's start-up counted | "
          << short_number(d_all / std::max(a_all, 0.01)) << "× (" << short_number(d_all) << " s ÷ "
          << short_number(a_all) << " s) | | |\n";
    }
    std::size_t largest = 0;
    std::string largest_name;
    std::vector<std::string> unminimized;
    for (const canary_row &r : res.rows) {
        if (r.reproducer_ops == 0)
            unminimized.push_back(r.name);
        if (r.reproducer_ops > largest) {
            largest = r.reproducer_ops;
            largest_name = r.name;
        }
    }
    o << "| largest minimized reproducer | ";
    if (largest > 0)
        o << largest << " ops (`" << largest_name << "`)";
    else
        o << "-";
    o << " | ≤ 12 ops | "
      << (largest > 0 && largest <= 12 ? "yes"
          : largest > 12               ? "no"
                                       : "-")
      << " |\n";
    if (!unminimized.empty()) {
        o << "\nNo reproducer (none of (a), (e), (d) found it):";
        for (const std::string &u : unminimized)
            o << " `" << u << "`";
        o << ".\n";
    }
    return o.str();
}

} // namespace mmfuzz::cli
