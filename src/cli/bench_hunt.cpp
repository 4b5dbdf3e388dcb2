// mmfuzz bench --hunt: one run of driver (d) or (e) of 'bench --canaries', a process of its own
// as the other drivers' runs are, so that each search starts in a fresh process and pays the
// same first-touch costs (page faults, the allocator's first slabs) as a fuzzer's does.
#include "cli/bench.hpp"
#include "cli/cli.hpp"

#include "arch/canary.hpp"
#include "program/codec.hpp"
#include "program/detection.hpp"
#include "program/generate.hpp"

#include <cstdio>
#include <fstream>
#include <string>

namespace mmfuzz::cli {

int bench_hunt(const std::vector<std::string> &args) {
    char driver = 0;
    std::string inject;
    unsigned long seed = 1;
    double cap = 120;
    std::size_t nr_ops = 32;
    std::string out;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const bool has = i + 1 < args.size();
        if (args[i] == "--hunt" && has) {
            const std::string &d = args[++i];
            if (d != "d" && d != "e")
                return usage_error("bench: --hunt takes driver d or e, not '" + d + "'",
                                   bench_help);
            driver = d[0];
        } else if (args[i] == "--inject" && has) {
            inject = args[++i];
        } else if (args[i] == "--seed" && has) {
            seed = std::stoul(args[++i]);
        } else if (args[i] == "--cap" && has) {
            cap = std::stod(args[++i]);
        } else if (args[i] == "--ops" && has) {
            nr_ops = std::stoul(args[++i]);
        } else if (args[i] == "--out" && has) {
            out = args[++i];
        } else {
            return usage_error("bench: unexpected argument '" + args[i] + "'", bench_help);
        }
    }
    if (driver == 0 || !canary_known(inject) || out.empty() || cap <= 0 || nr_ops == 0)
        return usage_error("bench: --hunt needs d or e, a canary (--inject NAME), a positive "
                           "--cap and --ops, and --out FILE",
                           bench_help);
    if (!output_writable("bench", out, false))
        return 2;
    run_options opts;
    opts.inject = inject;
    opts.known = read_known_findings(known_findings_file().string());

    const double began = own_cpu_seconds();
    program_header hd;
    hd.options.gran = granule::k4;
    const rand_fn rnd = seeded_rand(seed);
    while (own_cpu_seconds() - began < cap) {
        // random_program starts with three allocations: the same length in all.
        const program p = driver == 'e' ? random_program(rnd, hd, nr_ops > 3 ? nr_ops - 3 : 1)
                                        : uniform_program(rnd, hd, nr_ops);
        if (const auto v = canary_violation(p, opts)) {
            std::fputs(detection_line(began).c_str(), stderr);
            std::ofstream(out) << print_text(p);
            std::fprintf(stderr, "%s at op #%zu: %s\nreproducer: %s\n", v->invariant.c_str(),
                         v->op_index, v->summary.c_str(), out.c_str());
            return 1;
        }
    }
    std::fprintf(stderr, "bench: no violation the canary causes within %g CPU seconds\n", cap);
    return 0;
}

} // namespace mmfuzz::cli
