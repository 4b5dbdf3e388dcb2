// The runner: deterministic, its legalized programs replay the same, and legal programs pass
// against both implementations on every granule.
#include "arch/canary.hpp"
#include "arch/registry.hpp"
#include "machine/machine.hpp"
#include "program/codec.hpp"
#include "program/generate.hpp"
#include "program/runner.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <set>
#include <thread>

namespace mmfuzz {
namespace {

program random_program(std::uint64_t seed, std::size_t ops, granule g) {
    std::mt19937_64 rng(seed);
    program p;
    p.header.options.gran = g;
    p.header.options.window_pmds = 1 + static_cast<unsigned>(rng() % 2);
    for (std::size_t i = 0; i < ops; ++i) {
        const auto descs = op_descs();
        const op_desc &d = descs[rng() % descs.size()];
        op o{d.kind, {}};
        for (const field_desc &f : d.used()) {
            std::uint64_t v = rng();
            // Small values are where the interesting structure is: nearby pages, small folios.
            if (f.s == slot::addr)
                v %= 4 * geometry_of(g).cont_ptes();
            else if (f.s == slot::nr || f.s == slot::page)
                v %= 2 * geometry_of(g).cont_ptes() + 1;
            else if (f.s == slot::folio)
                v %= 4;
            o[f.s] = normalize_field(d, f, v);
        }
        if (d.kind == op_kind::folio_alloc)
            o[slot::arg] = rng() % (geometry_of(g).cont_pte_shift + 2);
        p.ops.push_back(o);
    }
    return p;
}

class RunnerTest : public ::testing::TestWithParam<granule> {};

TEST_P(RunnerTest, SameProgramSameVerdictAndTrace) {
    const program p = random_program(7, 200, GetParam());
    run_options o;
    o.trace = true;
    const run_result a = run_program(p, o);
    const run_result b = run_program(p, o);
    EXPECT_EQ(a.trace, b.trace);
    EXPECT_EQ(a.passed(), b.passed());
    EXPECT_EQ(a.applied, b.applied);
    EXPECT_FALSE(a.trace.empty());
}

// Machines, specs and scratch lists take the buffers of the thread's last run: a program gives
// the same trace, final tables and verdict in a fresh thread as after runs of every granule,
// window size and canary in this one.
TEST_P(RunnerTest, AProgramRunsTheSameAloneAsAfterOthers) {
    const program p = random_program(7, 200, GetParam());
    run_options o;
    o.trace = true;
    o.dump = true;
    run_result alone;
    std::thread([&] { alone = run_program(p, o); }).join();
    for (const granule g : {granule::k4, granule::k16, granule::k64}) {
        for (std::uint64_t seed = 0; seed < 4; ++seed) {
            run_options other;
            other.inject = std::string(canaries()[seed * 5 % canaries().size()].name);
            run_program(random_program(seed, 150, g), other);
        }
    }
    const run_result after = run_program(p, o);
    EXPECT_EQ(alone.trace, after.trace);
    EXPECT_EQ(alone.dump, after.dump);
    ASSERT_EQ(alone.passed(), after.passed());
    if (!alone.passed())
        EXPECT_EQ(alone.violation->report, after.violation->report);
    EXPECT_FALSE(alone.dump.empty());
}

TEST_P(RunnerTest, LegalizedProgramsReplayTheSame) {
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        const program p = random_program(seed, 120, GetParam());
        run_options o;
        o.trace = true;
        const run_result first = run_program(p, o);
        const run_result again = run_program(first.legalized, o);
        EXPECT_EQ(again.noops, 0U) << "seed " << seed;
        EXPECT_EQ(again.applied, first.applied) << "seed " << seed;
        EXPECT_EQ(again.legalized, first.legalized) << "seed " << seed;
        EXPECT_EQ(again.passed(), first.passed()) << "seed " << seed;
    }
}

TEST_P(RunnerTest, RandomLegalProgramsRaiseNoFalseAlarm) {
    for (const std::string &impl : pgtable_ops_names()) {
        run_options o;
        o.optimized = impl;
        const std::uint64_t seeds = GetParam() == granule::k4 ? 60 : 12;
        for (std::uint64_t seed = 100; seed < 100 + seeds; ++seed) {
            const program p = random_program(seed, 150, GetParam());
            const run_result r = run_program(p, o);
            ASSERT_TRUE(r.passed()) << impl << " seed " << seed << "\n"
                                    << r.violation->report << "\n"
                                    << print_text(r.legalized);
            EXPECT_GT(r.applied, 0U);
        }
    }
}

/// Runs p with the canary, with and without whole_blocks, expects the same verdict (the same
/// first violation at the same op), and returns whether it found one.
bool same_verdict_with_whole_blocks(const program &p, std::string_view canary,
                                    const std::string &what) {
    run_options narrow;
    narrow.inject = std::string(canary);
    run_options whole = narrow;
    whole.whole_blocks = true;
    const run_result a = run_program(p, narrow);
    const run_result b = run_program(p, whole);
    EXPECT_EQ(a.passed(), b.passed()) << what;
    if (a.passed() || b.passed())
        return false;
    EXPECT_EQ(a.violation->invariant, b.violation->invariant) << what;
    EXPECT_EQ(a.violation->op_index, b.violation->op_index) << what;
    EXPECT_EQ(a.violation->summary, b.violation->summary) << what;
    return true;
}

// The oracle checks a block without PTE_CONT only where an op wrote: with and without that
// narrowing, every canary gives the same first violation at the same op.
TEST_P(RunnerTest, NarrowedChecksGiveTheVerdictsOfWholeBlocks) {
    const std::uint64_t seeds = GetParam() == granule::k4    ? 24
                                : GetParam() == granule::k16 ? 12
                                                             : 8;
    std::size_t fired = 0;
    for (const canary_info &c : canaries()) {
        bool seen = false;
        for (std::uint64_t seed = 300; seed < 300 + seeds; ++seed)
            seen |= same_verdict_with_whole_blocks(random_program(seed, 100, GetParam()), c.name,
                                                   std::string(c.name) + " seed " +
                                                       std::to_string(seed));
        fired += seen ? 1 : 0;
    }
    // The comparison means something only where the canaries fire.
    EXPECT_GE(fired, canaries().size() / 3) << "canaries that fired";
}

// The same on each canary's regression reproducer, which is known to fire, on its granule.
TEST(Runner, NarrowedChecksGiveTheVerdictsOfWholeBlocksOnTheCanaryReproducers) {
    for (const canary_info &c : canaries()) {
        const std::filesystem::path f = std::filesystem::path(MMFUZZ_CORPUS_DIR) / "regressions" /
                                        ("canary-" + std::string(c.name) + ".ops");
        std::ifstream in(f);
        ASSERT_TRUE(in) << f;
        const std::string text((std::istreambuf_iterator<char>(in)), {});
        EXPECT_TRUE(same_verdict_with_whole_blocks(parse_text(text, f.string()), c.name,
                                                   std::string(c.name)))
            << c.name << " fired in neither or only one";
    }
}

// The benchmark's blind baseline: every kind and the whole width of every field occur, the
// same seed gives the same program, and the legalizer makes its programs pass as they are.
TEST_P(RunnerTest, UniformProgramsAreUnbiasedAndRaiseNoFalseAlarm) {
    program_header h;
    h.options.gran = GetParam();
    const program p = uniform_program(seeded_rand(3), h, 4000);
    EXPECT_EQ(p, uniform_program(seeded_rand(3), h, 4000));
    EXPECT_NE(p, uniform_program(seeded_rand(4), h, 4000));
    std::set<op_kind> kinds;
    std::uint64_t far = 0;
    for (const op &o : p.ops) {
        kinds.insert(o.kind);
        for (const field_desc &f : desc_of(o.kind).used())
            if (f.s == slot::addr && o[slot::addr] >= std::uint64_t{1} << 16)
                ++far;
    }
    EXPECT_EQ(kinds.size(), op_descs().size());
    // Addresses are 4-byte fields: nearly all land past the first 2^16 pages before folding.
    EXPECT_GT(far, p.ops.size() / 2);
    // A known finding is a real one (corpus/known-findings.txt), not a false alarm.
    run_options ro;
    ro.known = read_known_findings(MMFUZZ_CORPUS_DIR "/known-findings.txt");
    for (std::uint64_t seed = 0; seed < 8; ++seed) {
        const run_result r = run_program(uniform_program(seeded_rand(seed), h, 64), ro);
        ASSERT_TRUE(r.passed()) << "seed " << seed << "\n" << r.violation->report;
    }
}

TEST_P(RunnerTest, AFoldedBlockKeepsHardwareDirtyThroughAZap) {
    const geometry g = geometry_of(GetParam());
    const std::uint64_t base = 0x40000000000;
    const std::string text = "mmfuzz v1 granule=" + std::string(granule_name(GetParam())) +
                             " window=1 bbml2=0 split_ptlocks=1\n"
                             "folio_alloc order=" +
                             std::to_string(g.cont_pte_shift) +
                             " anon=1\n"
                             "set_ptes addr=0x40000000000 nr=" +
                             std::to_string(g.cont_ptes()) +
                             " folio=0 page=0 prot=rw flags=young\n"
                             "hw_access addr=" +
                             std::to_string(base + 2 * g.page_size()) +
                             " write=1 slot=5 value=0x77\n"
                             "get_and_clear_full_ptes addr=0x40000000000 nr=" +
                             std::to_string(g.cont_ptes()) + " full=1\n";
    const program p = parse_text(text);
    run_options o;
    o.trace = true;
    const run_result r = run_program(p, o);
    ASSERT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.applied, 4U);
    // The zap's gathered result carries the dirty bit hardware set through another entry.
    const std::size_t zap = r.trace.find("get_and_clear_full_ptes");
    ASSERT_NE(zap, std::string::npos);
    EXPECT_NE(r.trace.find("dirty", zap), std::string::npos) << r.trace;
}

/// A flow whose batch runs from one folio into the next calls get_and_clear_full_ptes() against
/// its contract: with the oracle, a violation of its own at that op; without it (the bare
/// baseline of the benchmark), the error the API raised.
TEST(Runner, AnApiPreconditionBrokenByAFlowIsAViolation) {
    const program p = parse_text("mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n"
                                 "folio_alloc order=3 anon=1\n"
                                 "folio_alloc order=3 anon=0\n"
                                 "set_ptes addr=0x40000000000 nr=8 folio=0 page=0 prot=rw\n"
                                 "set_ptes addr=0x40000008000 nr=8 folio=1 page=0 prot=rw\n"
                                 "zap_pte_range addr=0x40000000000 nr=16\n");
    run_options o;
    EXPECT_TRUE(run_program(p, o).passed());
    o.inject = "pte_batch_crosses_folio";
    const run_result r = run_program(p, o);
    ASSERT_FALSE(r.passed());
    EXPECT_EQ(r.violation->invariant, "API");
    EXPECT_EQ(r.violation->op_index, 4U);
    EXPECT_NE(r.violation->report.find("get_and_clear_full_ptes"), std::string::npos)
        << r.violation->report;
    EXPECT_EQ(r.legalized.ops.size(), 5U);
    o.oracle = false;
    EXPECT_THROW(run_program(p, o), api_misuse);
}

INSTANTIATE_TEST_SUITE_P(AllGranules, RunnerTest,
                         ::testing::Values(granule::k4, granule::k16, granule::k64),
                         [](const auto &info) {
                             return "g" + std::string(granule_name(info.param));
                         });

} // namespace
} // namespace mmfuzz
