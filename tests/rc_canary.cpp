// Driver (c) of 'mmfuzz bench --canaries': RapidCheck's differential property over the
// generators of props/gen.hpp, with the canary MMFUZZ_INJECT names enabled in the contpte
// world. It fails on the first violation the canary causes (one the same program also shows at
// the same op without the canary is passed over). RC_PARAMS sets seed, max_success and noshrink;
// MMFUZZ_KNOWN lists known findings. Exit status 1 when the property failed; the CPU time the
// search took is printed at the failure (program/detection.hpp).
#include "gen.hpp"

#include "arch/canary.hpp"
#include "program/detection.hpp"
#include "program/runner.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

int main() {
    using namespace mmfuzz;
    const double search_began = own_cpu_seconds();
    const char *inject = std::getenv("MMFUZZ_INJECT");
    if (inject == nullptr || !canary_from_name(inject)) {
        std::cerr << "rc_canary: MMFUZZ_INJECT must name a canary\n";
        return 2;
    }
    run_options opts;
    opts.inject = inject;
    if (const char *k = std::getenv("MMFUZZ_KNOWN"))
        opts.known = read_known_findings(k);
    run_options without = opts;
    without.inject.clear();
    const bool ok = rc::check("the contpte world with " + opts.inject + " agrees", [&] {
        const program p = *props::gen_program(granule::k4);
        const run_result r = run_program(p, opts);
        if (!r.violation || !caused_by_canary(p, *r.violation, without))
            return;
        std::cerr << detection_line(search_began);
        RC_LOG() << "legalized reproducer:\n" << print_text(r.legalized);
        RC_FAIL(r.violation->invariant + " at op #" + std::to_string(r.violation->op_index));
    });
    return ok ? 0 : 1;
}
