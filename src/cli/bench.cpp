// mmfuzz bench: the benchmark. Speed and detection figures are measured here, never in tests.
#include "cli/cli.hpp"

#include "arch/canary.hpp"
#include "program/codec.hpp"
#include "program/generate.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>

namespace mmfuzz::cli {

namespace {

constexpr const char *bench_help =
    R"(usage: mmfuzz bench [--seconds S] [--ops N] [--granule 4K|16K|64K] [--json]
                     [--list-canaries]

Throughput of the differential runner on one core: random legal programs of N ops (default 32)
applied to the reference and the arm64 contpte world, with every oracle on, and bare (both
worlds, no checks). Reports ops/s and the oracle's overhead factor. Build with the release
preset for representative figures. --passes N runs exactly N passes over the 256 programs
instead of a time box, so that 'valgrind --tool=callgrind' counts are repeatable.
)";

struct throughput {
    double ops_per_s = 0;
    double programs_per_s = 0;
    std::size_t ops = 0;
};

/// Runs the programs for `seconds`, or exactly `passes` times over them when passes > 0 (for
/// instruction counts under callgrind, which do not depend on the machine's load).
throughput measure(const std::vector<program> &progs, bool oracle, double seconds,
                   std::size_t passes) {
    run_options o;
    o.oracle = oracle;
    std::size_t ops = 0;
    std::size_t runs = 0;
    const auto t0 = std::chrono::steady_clock::now();
    double elapsed = 0;
    for (std::size_t pass = 0; passes > 0 ? pass < passes : elapsed < seconds; ++pass) {
        for (const program &p : progs) {
            const run_result r = run_program(p, o);
            ops += p.ops.size();
            ++runs;
            if (oracle && r.violation) {
                std::cerr << "bench: unexpected violation\n"
                          << r.violation->report << print_text(p) << "\n";
                std::exit(1);
            }
        }
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    return {static_cast<double>(ops) / elapsed, static_cast<double>(runs) / elapsed, ops};
}

} // namespace

bool canary_known(const std::string &name) {
    return canary_from_name(name).has_value();
}

int cmd_bench(const std::vector<std::string> &args) {
    if (wants_help(args)) {
        std::cout << bench_help;
        return 0;
    }
    double seconds = 3;
    std::size_t passes = 0;
    bool bare_only = false;
    bool oracle_only = false;
    std::size_t nr_ops = 32;
    bool json = false;
    granule g = granule::k4;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const bool has = i + 1 < args.size();
        if (args[i] == "--seconds" && has)
            seconds = std::stod(args[++i]);
        else if (args[i] == "--ops" && has)
            nr_ops = std::stoul(args[++i]);
        else if (args[i] == "--passes" && has)
            passes = std::stoul(args[++i]);
        else if (args[i] == "--bare-only")
            bare_only = true;
        else if (args[i] == "--oracle-only")
            oracle_only = true;
        else if (args[i] == "--json")
            json = true;
        else if (args[i] == "--granule" && has) {
            const auto gg = granule_from_name(args[++i]);
            if (!gg)
                return usage_error("bench: unknown granule '" + args[i] + "'", bench_help);
            g = *gg;
        } else if (args[i] == "--list-canaries") {
            for (const canary_info &c : canaries())
                std::cout << c.name << "  " << c.bug_class << "\n";
            return 0;
        } else {
            return usage_error("bench: unexpected argument '" + args[i] + "'", bench_help);
        }
    }
    program_header h;
    h.options.gran = g;
    std::vector<program> progs;
    const rand_fn rnd = seeded_rand(12345);
    for (int i = 0; i < 256; ++i)
        progs.push_back(random_program(rnd, h, nr_ops > 3 ? nr_ops - 3 : 1));
    const throughput bare = oracle_only ? throughput{} : measure(progs, false, seconds, passes);
    const throughput full = bare_only ? throughput{} : measure(progs, true, seconds, passes);
    const double overhead = bare.ops_per_s / full.ops_per_s;
    if (json) {
        std::printf("{\"granule\": \"%s\", \"ops_per_program\": %zu, \"ops_per_s_oracle\": %.0f, "
                    "\"ops_per_s_bare\": %.0f, \"oracle_overhead\": %.2f}\n",
                    std::string(granule_name(g)).c_str(), nr_ops, full.ops_per_s, bare.ops_per_s,
                    overhead);
    } else {
        std::printf("throughput (one core, %s granule, random programs of %zu ops)\n",
                    std::string(granule_name(g)).c_str(), nr_ops);
        std::printf("  with all oracles  %12.0f ops/s  (%.0f programs/s)\n", full.ops_per_s,
                    full.programs_per_s);
        std::printf("  bare application  %12.0f ops/s  (%.0f programs/s)\n", bare.ops_per_s,
                    bare.programs_per_s);
        std::printf("  oracle overhead   %12.2fx\n", overhead);
    }
    return 0;
}

} // namespace mmfuzz::cli
