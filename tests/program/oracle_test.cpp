// Each invariant of the oracle fires on a hand-built violating state and stays quiet on the
// matching legal one. Violations are injected straight into one world's machine, or through an
// implementation that lies about what it stores.
#include "arch/generic/generic.hpp"
#include "oracle/check.hpp"
#include "oracle/invariants.hpp"
#include "pgtable/softleaf.hpp"

#include <gtest/gtest.h>

#include <numeric>

namespace mmfuzz {
namespace {

/// Two worlds running the reference, so any difference is one the test put there.
struct pair_fixture : ::testing::Test {
    pair_fixture() : a("generic", {}), b("generic", {}), chk(a, b) {
        for (world *w : {&a, &b}) {
            w->pte_alloc_map(w->page_va(0));
            w->m.clear_logs();
            w->folios.push_back(w->m.folio_alloc(4, true));
        }
    }
    /// Installs an entry through the API in both worlds, under the PTL.
    void both_set(std::uint64_t page, pte_t pte) {
        for (world *w : {&a, &b}) {
            w->m.spin_lock(w->ptl(w->page_va(page)));
            w->ops->set_pte_at(&w->m.mm, w->page_va(page), *w->pte_lookup(w->page_va(page)), pte);
            w->m.spin_unlock(w->ptl(w->page_va(page)));
        }
    }
    void raw_write(world &w, std::uint64_t page, pte_t pte) {
        w.m.write(*w.pte_lookup(w.page_va(page)), pte);
    }
    pte_t entry(std::uint64_t page = 0) const {
        return pfn_pte(a.folios[0]->pfn + page, PAGE_SHARED);
    }
    std::optional<finding> pages(const std::vector<std::uint64_t> &p) { return chk.check_pages(p); }
    world a;
    world b;
    checker chk;
};

TEST_F(pair_fixture, EquivFiresOnADifferentPfnAndNotOnEqualEntries) {
    both_set(0, entry(0));
    chk.spec.set_exact(0, true, false);
    EXPECT_FALSE(pages({0}));
    raw_write(b, 0, pfn_pte(a.folios[0]->pfn + 1, PAGE_SHARED));
    const auto f = pages({0});
    ASSERT_TRUE(f);
    EXPECT_EQ(f->invariant, "EQUIV");
}

TEST_F(pair_fixture, YoungOutsideTheIntervalIsEquiv) {
    both_set(0, pte_mkold(entry(0)));
    chk.spec.set_exact(0, false, false);
    EXPECT_FALSE(pages({0}));
    raw_write(b, 0, entry(0)); // young, which nothing explains
    ASSERT_TRUE(pages({0}));
    EXPECT_EQ(pages({0})->invariant, "EQUIV");
    ad_interval may_young{{false, false}, {true, false}};
    chk.spec.set(0, may_young);
    EXPECT_FALSE(pages({0})); // allowed over-report
}

TEST_F(pair_fixture, DirtyLossFiresWhenAKnownDirtyPageLooksClean) {
    both_set(0, pte_mkdirty(entry(0)));
    chk.spec.set_exact(0, true, true);
    EXPECT_FALSE(pages({0}));
    raw_write(b, 0, entry(0));
    const auto f = pages({0});
    ASSERT_TRUE(f);
    EXPECT_EQ(f->invariant, "DIRTY_LOSS");
    // Op results are held to the same rule.
    const auto r = chk.check_result("get_and_clear_full_ptes", pte_mkdirty(entry(0)), entry(0),
                                    chk.spec.at(0), 0);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->invariant, "DIRTY_LOSS");
}

TEST_F(pair_fixture, ContLeakFiresWhenTheApiReturnsPteCont) {
    both_set(0, entry(0));
    chk.spec.set_exact(0, true, false);
    raw_write(b, 0, pte_mkcont(entry(0)));
    const auto f = pages({0});
    ASSERT_TRUE(f);
    EXPECT_EQ(f->invariant, "CONT_LEAK");
    EXPECT_FALSE(chk.check_result("ptep_get", entry(0), entry(0), chk.spec.at(0), 0));
    EXPECT_EQ(
        chk.check_result("ptep_get", entry(0), pte_mkcont(entry(0)), chk.spec.at(0), 0)->invariant,
        "CONT_LEAK");
}

TEST_F(pair_fixture, ContBlockFiresOnAnIncompleteBlockAndNotOnAWholeOne) {
    const std::uint64_t n = b.geo().cont_ptes();
    std::vector<std::uint64_t> block;
    for (std::uint64_t i = 0; i < n; ++i) {
        raw_write(b, i, pte_mkcont(entry(i)));
        block.push_back(i);
    }
    EXPECT_FALSE(chk.check_blocks(block));
    raw_write(b, 3, pte_mkcont(pfn_pte(a.folios[0]->pfn + 4, PAGE_SHARED)));
    auto f = chk.check_blocks(block);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->invariant, "CONT_BLOCK");
    raw_write(b, 3, entry(3)); // CONT missing on one entry
    f = chk.check_blocks(block);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->invariant, "CONT_BLOCK");
}

TEST_F(pair_fixture, OnlyBlocksOfNormalEntriesAreHeldToOneFolio) {
    // The same 16 frames mapped twice: special entries on block 0, normal ones on block 1, each
    // block with PTE_CONT in world b. Then the folio is split, as split_folio() does when it
    // finds it through a normal mapping: rmap does not see special entries, which keep their
    // PTE_CONT over frames of several folios now.
    const std::uint64_t n = b.geo().cont_ptes();
    std::vector<std::uint64_t> special_block(n);
    std::vector<std::uint64_t> normal_block(n);
    std::iota(special_block.begin(), special_block.end(), 0);
    std::iota(normal_block.begin(), normal_block.end(), n);
    for (std::uint64_t i = 0; i < n; ++i) {
        both_set(i, pte_mkspecial(entry(i)));
        both_set(n + i, entry(i));
        raw_write(b, i, pte_mkcont(pte_mkspecial(entry(i))));
        raw_write(b, n + i, pte_mkcont(entry(i)));
    }
    EXPECT_FALSE(chk.check_blocks(special_block));
    EXPECT_FALSE(chk.check_blocks(normal_block));
    EXPECT_TRUE(chk.foldable(0).valid);
    EXPECT_TRUE(chk.foldable(n).valid);
    for (world *w : {&a, &b})
        w->m.folio_split(w->folios[0], 0);
    EXPECT_FALSE(chk.check_blocks(special_block));
    EXPECT_TRUE(chk.foldable(0).valid);
    const auto f = chk.check_blocks(normal_block);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->invariant, "CONT_BLOCK");
    EXPECT_NE(f->detail.find("entry 1 "), std::string::npos) << f->detail;
    EXPECT_FALSE(chk.foldable(n).present);
}

TEST_F(pair_fixture, SoftleafRoundtripFiresOnStrayBits) {
    const pte_t swp = pte_swp_mkexclusive(softleaf_to_pte(swp_entry(2, 77)));
    both_set(0, swp);
    EXPECT_FALSE(pages({0}));
    const pte_t stray = __pte(pte_val(swp) | bit(4));
    raw_write(a, 0, stray);
    raw_write(b, 0, stray);
    const auto f = pages({0});
    ASSERT_TRUE(f);
    EXPECT_EQ(f->invariant, "SOFTLEAF_ROUNDTRIP");
}

// A SOFTLEAF_ROUNDTRIP report says whether the entry lost a flag the op stream gave it or has
// one it never gave.
TEST_F(pair_fixture, FlagReportsSayWhichWayTheFlagWent) {
    const pte_t plain = softleaf_to_pte(swp_entry(2, 77));
    const auto detail = [&](pte_t seen, flag_expect uffd_wp, flag_expect exclusive) {
        both_set(0, seen);
        chk.spec.begin_op();
        chk.spec.expect_flags(0, uffd_wp, exclusive);
        const auto f = pages({0});
        EXPECT_TRUE(f);
        EXPECT_EQ(f ? f->invariant : "", "SOFTLEAF_ROUNDTRIP");
        return f ? f->detail : std::string();
    };
    EXPECT_NE(detail(plain, flag_expect::set, flag_expect::unknown).find("lost the uffd-wp bit"),
              std::string::npos);
    EXPECT_NE(detail(pte_swp_mkuffd_wp(plain), flag_expect::clear, flag_expect::unknown)
                  .find("is uffd-wp, which the op stream never made it"),
              std::string::npos);
    EXPECT_NE(detail(plain, flag_expect::unknown, flag_expect::set).find("lost the exclusive"),
              std::string::npos);
    EXPECT_NE(detail(pte_swp_mkexclusive(plain), flag_expect::unknown, flag_expect::clear)
                  .find("is exclusive, which the op stream never made it"),
              std::string::npos);
    both_set(0, pte_swp_mkuffd_wp(plain));
    chk.spec.begin_op();
    chk.spec.expect_flags(0, flag_expect::set, flag_expect::clear);
    EXPECT_FALSE(pages({0}));
}

/// An implementation that shows core code a software leaf where it stores something else.
class masking_ops : public generic_pgtable {
  public:
    using generic_pgtable::generic_pgtable;
    using generic_pgtable::ptep_get;
    pte_t ptep_get(hw_ptep ptep) override {
        const pte_t raw = generic_pgtable::ptep_get(ptep);
        return pte_valid(raw) ? softleaf_to_pte(swp_entry(1, 9)) : raw;
    }
};

TEST_F(pair_fixture, SoftleafNotValidFiresWhenHardwareWouldSeeAPresentEntry) {
    const pte_t swp = softleaf_to_pte(swp_entry(1, 9));
    both_set(0, swp);
    b.ops = std::make_unique<masking_ops>(b.m);
    EXPECT_FALSE(pages({0}));
    raw_write(b, 0, entry(0));
    const auto f = pages({0});
    ASSERT_TRUE(f);
    EXPECT_EQ(f->invariant, "SOFTLEAF_NOT_VALID");
}

TEST_F(pair_fixture, PmdWellformedFiresOnALeafOfASmallFolio) {
    const std::uint64_t base = a.page_va(a.geo().ptrs_per_pte());
    EXPECT_FALSE(chk.check_pmds({0, 1}));
    for (world *w : {&a, &b})
        w->m.write(w->m.pmd_off(base), mk_huge_pmd(w->folios[0]->pfn, PAGE_SHARED));
    const auto f = chk.check_pmds({1});
    ASSERT_TRUE(f);
    EXPECT_EQ(f->invariant, "PMD_WELLFORMED");
}

TEST_F(pair_fixture, MonitorsAreSurfacedWithTheirIds) {
    EXPECT_FALSE(chk.check_monitors());
    b.ops->set_pte_at(&b.m.mm, b.page_va(0), *b.pte_lookup(b.page_va(0)), entry(0)); // no PTL
    const auto f = chk.check_monitors();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->invariant, "LOCK");
}

TEST_F(pair_fixture, AuditRecountsMapcountAndRss) {
    both_set(0, entry(0));
    for (world *w : {&a, &b})
        w->m.mm.rss.anon = 1;
    chk.spec.set_exact(0, true, false);
    EXPECT_FALSE(chk.audit());
    raw_write(a, 1, entry(1)); // mapped behind page_table_check's back
    raw_write(b, 1, entry(1));
    chk.spec.set_exact(1, true, false);
    for (world *w : {&a, &b})
        w->m.mm.rss.anon = 2;
    auto f = chk.audit();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->invariant, "MAPCOUNT");
    for (world *w : {&a, &b}) {
        w->m.page(w->folios[0]->pfn + 1).anon_map_count = 1;
        w->m.mm.rss.anon = 5;
    }
    f = chk.audit();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->invariant, "RSS");
}

TEST_F(pair_fixture, AuditFiresOnAFreedSlotAForkChildNames) {
    for (world *w : {&a, &b}) {
        w->swap_slots.resize(3);
        w->swap_slots[2] = swap_slot{.content = 0x77, .child_refs = 1};
    }
    EXPECT_FALSE(chk.audit());
    b.swap_slots[2].content.reset();
    const auto f = chk.audit();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->invariant, "COW");
}

TEST(AdSpec, ForgetsOnlyFlagsTheOpDidNotSetAcrossManyOps) {
    ad_spec s(8);
    s.begin_op();
    s.expect_flags(1, flag_expect::set, flag_expect::clear);
    s.expect_flags(2, flag_expect::set, flag_expect::set);
    s.forget_flags_not_set_in_op(0, 8);
    EXPECT_EQ(s.expected_uffd_wp(1), flag_expect::set);
    EXPECT_EQ(s.expected_exclusive(2), flag_expect::set);
    // 256 ops later (a wrap of a one-byte op counter) page 1 was set long ago, page 2
    // is kept by the current op.
    for (int i = 0; i < 256; ++i)
        s.begin_op();
    EXPECT_FALSE(s.flags_set_in_op(1));
    s.keep_flags(2);
    s.forget_flags_not_set_in_op(0, 3);
    EXPECT_EQ(s.expected_uffd_wp(1), flag_expect::unknown);
    EXPECT_EQ(s.expected_exclusive(1), flag_expect::unknown);
    EXPECT_EQ(s.expected_uffd_wp(2), flag_expect::set);
    EXPECT_EQ(s.expected_exclusive(2), flag_expect::set);
    // A range running past the end stops at the last page.
    s.begin_op();
    s.forget_flags_not_set_in_op(2, 100);
    EXPECT_EQ(s.expected_uffd_wp(2), flag_expect::unknown);
}

TEST(Invariants, CatalogueHasTheDesignIdsWithDocs) {
    for (const char *id :
         {"EQUIV", "DIRTY_LOSS", "CONT_LEAK", "CONT_BLOCK", "BBM", "TLB_STALE",
          "SOFTLEAF_ROUNDTRIP", "SOFTLEAF_NOT_VALID", "PMD_WELLFORMED", "MAPCOUNT", "COW", "RSS",
          "LOCK", "UPDATE_MMU_WALK", "LIVENESS", "RESTORE", "CONTENT", "API"})
        EXPECT_TRUE(is_invariant(id)) << id;
    for (const auto &i : invariants())
        EXPECT_FALSE(i.doc.empty());
    EXPECT_FALSE(is_invariant("NOPE"));
}

} // namespace
} // namespace mmfuzz
