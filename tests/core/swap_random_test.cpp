// Random programs heavy in reclaim, swap, migration and software-leaf flows must pass on every
// granule: no false alarm from the flows' spec transitions.
#include "program/codec.hpp"
#include "program/generate.hpp"
#include "program/runner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>

namespace mmfuzz {
namespace {

/// A random program aimed at this group's flows: folios mapped with set_ptes, hardware
/// accesses, MADV_FREE, random direct ops, and the flows, most ops at pages mapped earlier so
/// that the flows find folios, swap entries and device entries to work on.
program flow_program(std::uint64_t seed, granule g, std::size_t nr_ops) {
    const rand_fn rnd = seeded_rand(seed);
    program p;
    p.header.options.gran = g;
    p.header.options.window_pmds = 1 + static_cast<unsigned>(rnd(2));
    const geometry geo = geometry_of(g);
    const std::uint64_t span = 4 * geo.cont_ptes();
    std::vector<std::uint64_t> known{0};
    std::vector<std::uint64_t> swapped{0};
    std::vector<std::uint64_t> device{0};
    auto pick = [&] { return known[rnd(known.size())]; };
    auto make = [&](op_kind k) {
        const op_desc &d = desc_of(k);
        op o{k, {}};
        for (const field_desc &f : d.used())
            o[f.s] = normalize_field(d, f, random_field(rnd, p.header, d, f));
        o[slot::addr] = pick();
        return o;
    };
    for (unsigned i = 0; i < 4; ++i) {
        op o{op_kind::folio_alloc, {}};
        o[slot::arg] = rnd(geo.cont_pte_shift + 2);
        o[slot::flags] = rnd(5) != 0 ? 1 : 0;
        p.ops.push_back(o);
    }
    constexpr std::array flows = {op_kind::shrink_folio,   op_kind::do_swap_page,
                                  op_kind::migrate_folio,  op_kind::uffd_writeprotect,
                                  op_kind::memory_failure, op_kind::migrate_device,
                                  op_kind::madvise_free,   op_kind::madvise_guard};
    while (p.ops.size() < nr_ops) {
        const std::uint64_t dice = rnd(20);
        op o;
        if (dice < 3) {
            o = op{op_kind::folio_alloc, {}};
            o[slot::arg] = rnd(geo.cont_pte_shift + 2);
            o[slot::flags] = rnd(5) != 0 ? 1 : 0;
        } else if (dice < 7) {
            o = op{op_kind::set_ptes, {}};
            o[slot::addr] = rnd(span);
            o[slot::nr] = 1 + rnd(2 * geo.cont_ptes());
            o[slot::folio] = rnd(8);
            o[slot::page] = rnd(3) == 0 ? rnd(geo.cont_ptes()) : 0;
            o[slot::arg] = rnd(4) == 0 ? rnd(prot_names.size()) : 0;
            o[slot::flags] = rnd(16) & ~(rnd(4) != 0 ? SETF_SPECIAL : 0);
            for (std::uint64_t k = 0; k < o[slot::nr]; ++k)
                known.push_back((o[slot::addr] + k) % span);
        } else if (dice < 11) {
            o = make(op_kind::hw_access);
        } else if (dice < 13) {
            o = random_op(rnd, p.header);
            if (is_flow(o.kind))
                continue; // other groups' flows are tested with their own programs
            o[slot::addr] = pick();
        } else {
            o = make(flows[rnd(flows.size())]);
            if (o.kind == op_kind::madvise_guard && rnd(2) != 0)
                o.kind = op_kind::do_swap_page; // swap-in needs more tries to hit an entry
            if (o.kind == op_kind::madvise_guard && rnd(3) != 0)
                o[slot::flags] = 1; // installing zaps: mostly remove
            if (o.kind == op_kind::madvise_guard || o.kind == op_kind::uffd_writeprotect)
                o[slot::nr] = 1 + rnd(geo.cont_ptes());
            if (o.kind == op_kind::madvise_free)
                o[slot::nr] = 1 + rnd(2 * geo.cont_ptes());
            if (o.kind == op_kind::shrink_folio)
                for (std::uint64_t k = 0; k < geo.cont_ptes(); ++k)
                    swapped.push_back((o[slot::addr] & ~(geo.cont_ptes() - 1)) + k);
            if (o.kind == op_kind::do_swap_page)
                o[slot::addr] = swapped[rnd(swapped.size())];
            if (o.kind == op_kind::migrate_device && o[slot::flags] == 0)
                device.push_back(o[slot::addr]);
            else if (o.kind == op_kind::migrate_device)
                o[slot::addr] = device[rnd(device.size())];
        }
        p.ops.push_back(o);
    }
    return p;
}

class SwapRandomTest : public ::testing::TestWithParam<granule> {};

TEST_P(SwapRandomTest, FlowProgramsPass) {
    std::size_t applied = 0;
    // Larger granules have larger tables to check: fewer programs keep the time alike.
    const std::uint64_t programs = GetParam() == granule::k4 ? 120 : 40;
    for (std::uint64_t seed = 0; seed < programs; ++seed) {
        const program p = flow_program(seed, GetParam(), 60);
        run_options ro;
        ro.trace = std::getenv("SWAP_RANDOM_TRACE") != nullptr;
        const run_result r = run_program(p, ro);
        if (ro.trace)
            std::fputs(r.trace.c_str(), stderr);
        applied += r.applied;
        ASSERT_TRUE(r.passed()) << "seed " << seed << "\n"
                                << r.violation->report << "\n"
                                << print_text(p);
    }
    EXPECT_GT(applied, programs * 30);
}

INSTANTIATE_TEST_SUITE_P(Granules, SwapRandomTest,
                         ::testing::Values(granule::k4, granule::k16, granule::k64));

} // namespace
} // namespace mmfuzz
