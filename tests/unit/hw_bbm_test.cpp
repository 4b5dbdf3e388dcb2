// The break-before-make monitor: each rule, positive and negative, with and without
// BBML2_NOABORT, at PTE and PMD level (machine/bbm.hpp).
#include "fixture.hpp"
#include "machine/bbm.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace mmfuzz {
namespace {

using test::test_world;

std::size_t count_id(const machine &m, std::string_view id) {
    return static_cast<std::size_t>(std::count_if(m.violations().begin(), m.violations().end(),
                                                  [&](const violation &v) { return v.id == id; }));
}

// ---- the rule table --------------------------------------------------------------------------

constexpr pteval_t base_pte = pte_val(pfn_pte(0x1000, PAGE_SHARED));

const char *live(pteval_t o, pteval_t n, bool bbml2 = false) {
    return bbm::change_needs_bbm(o, n, false, false, bbml2);
}
const char *broken(pteval_t o, pteval_t n, bool bbml2 = false) {
    return bbm::change_needs_bbm(o, n, true, false, bbml2);
}

TEST(BbmRules, SafeInPlaceChanges) {
    const pte_t p{base_pte};
    EXPECT_EQ(live(base_pte, pte_mkold(p).pte), nullptr);             // aging, in place on arm64
    EXPECT_EQ(live(pte_mkold(p).pte, base_pte), nullptr);             // hardware or software AF set
    EXPECT_EQ(live(base_pte, pte_mkdirty(p).pte), nullptr);           // DBM dirty, PTE_DIRTY
    EXPECT_EQ(live(pte_mkdirty(p).pte, pte_mkclean(p).pte), nullptr); // MADV_FREE clean
    EXPECT_EQ(live(base_pte, pte_wrprotect(p).pte), nullptr);         // RDONLY/WRITE
    EXPECT_EQ(live(base_pte, pte_val(pte_mkuffd_wp(p))), nullptr);    // software bit
    EXPECT_EQ(live(base_pte, base_pte ^ PTE_PXN), nullptr);
    EXPECT_EQ(live(base_pte & ~PTE_NG, base_pte), nullptr); // global -> non-global
    EXPECT_EQ(live(pte_mkcont(p).pte, pte_mkold(pte_mkcont(p)).pte), nullptr); // CONT kept
    EXPECT_EQ(live(base_pte, (base_pte & ~PTE_ATTRINDX_MASK) | PTE_ATTRINDX(bbm::MT_NORMAL_TAGGED)),
              nullptr);
}

TEST(BbmRules, ChangesThatNeedBreakBeforeMake) {
    const pte_t p{base_pte};
    EXPECT_NE(live(base_pte, pte_advance_pfn(p, 1).pte), nullptr);
    EXPECT_NE(live(base_pte, pte_mkcont(p).pte), nullptr);
    EXPECT_NE(live(pte_mkcont(p).pte, base_pte), nullptr);
    EXPECT_NE(live(base_pte, base_pte & ~PTE_NG), nullptr); // nG -> global
    EXPECT_NE(live(base_pte, (base_pte & ~PTE_ATTRINDX_MASK) | PTE_ATTRINDX(4)), nullptr);
    EXPECT_NE(live(base_pte, base_pte & ~PTE_SHARED), nullptr);
    EXPECT_NE(live(base_pte, base_pte & ~PTE_UXN), nullptr);
    EXPECT_NE(live(base_pte, base_pte & ~PTE_USER), nullptr);
    EXPECT_NE(live(base_pte, base_pte | PTE_GP), nullptr);
}

TEST(BbmRules, AcrossAnUnflushedBreak) {
    const pte_t p{base_pte};
    // mprotect: modify_prot_start clears without a flush, commit writes the new permissions.
    EXPECT_EQ(broken(base_pte, base_pte & ~PTE_UXN), nullptr);
    EXPECT_EQ(broken(base_pte, base_pte | PTE_GP), nullptr);
    EXPECT_EQ(broken(base_pte, pte_wrprotect(p).pte), nullptr);
    // What the TLB may still hold conflicts with the new translation.
    EXPECT_NE(broken(base_pte, pte_advance_pfn(p, 1).pte), nullptr);
    EXPECT_NE(broken(base_pte, base_pte & ~PTE_NG), nullptr);
    EXPECT_NE(broken(base_pte, base_pte & ~PTE_SHARED), nullptr);
    // contpte_convert without its intermediate flush: only under BBML2_NOABORT.
    EXPECT_NE(broken(base_pte, pte_mkcont(p).pte), nullptr);
    EXPECT_EQ(broken(base_pte, pte_mkcont(p).pte, true), nullptr);
    EXPECT_NE(broken(base_pte, pte_advance_pfn(pte_mkcont(p), 1).pte, true), nullptr);
    // A block replaced by pages of the same frames.
    EXPECT_NE(bbm::change_needs_bbm(pte_val(pmd_pte(mk_huge_pmd(0x1000, PAGE_SHARED))), base_pte,
                                    true, true, false),
              nullptr);
    EXPECT_EQ(bbm::change_needs_bbm(pte_val(pmd_pte(mk_huge_pmd(0x1000, PAGE_SHARED))), base_pte,
                                    true, true, true),
              nullptr);
}

// ---- the monitor on the machine ----------------------------------------------------------------

class HwBbm : public ::testing::TestWithParam<granule> {
  protected:
    HwBbm() : w(GetParam()) {}
    void put(test_world &t, std::size_t index, pte_t pte) { t.m.write(t.ptep(index), pte); }
    test_world w;
};

TEST_P(HwBbm, ALivePfnChangeIsReported) {
    folio *a = w.alloc(0);
    folio *b = w.alloc(0);
    put(w, 0, test_world::mk(a));
    EXPECT_TRUE(w.m.violations().empty());
    put(w, 0, test_world::mk(b));
    ASSERT_EQ(w.m.violations().size(), 1U);
    EXPECT_EQ(w.m.violations()[0].id, "BBM");
    EXPECT_NE(w.m.violations()[0].detail.find("PFN"), std::string::npos);
}

TEST_P(HwBbm, BreakFlushMakeIsQuietAndBreakMakeIsNot) {
    folio *a = w.alloc(0);
    folio *b = w.alloc(0);
    put(w, 0, test_world::mk(a));
    put(w, 0, pte_t{0});
    EXPECT_EQ(w.m.bbm_unflushed_breaks(), 1U);
    w.m.flush_tlb_page(w.addr(0));
    EXPECT_EQ(w.m.bbm_unflushed_breaks(), 0U);
    put(w, 0, test_world::mk(b));
    EXPECT_TRUE(w.m.violations().empty());
    put(w, 0, pte_t{0});
    w.m.flush_tlb_page(w.addr(1)); // another page: does not cover the break
    put(w, 0, test_world::mk(a));
    ASSERT_EQ(count_id(w.m, "BBM"), 1U);
    EXPECT_NE(w.m.violations()[0].detail.find("no flush"), std::string::npos);
}

TEST_P(HwBbm, TheKernelsInPlaceUpdatesAreNotViolations) {
    folio *f = w.map_folio(0, 2);
    w.lock();
    w.ops->ptep_test_and_clear_young(&w.vma, w.addr(0), w.ptep(0));
    w.ops->ptep_set_access_flags(&w.vma, w.addr(1), w.ptep(1),
                                 pte_mkyoung(pte_mkdirty(test_world::mk(f, 1))), 1);
    w.ops->wrprotect_ptes(&w.m.mm, w.addr(0), w.ptep(0), 4);
    w.ops->clear_young_dirty_ptes(&w.vma, w.addr(0), w.ptep(0), 4,
                                  CYDP_CLEAR_YOUNG | CYDP_CLEAR_DIRTY);
    w.unlock();
    EXPECT_TRUE(w.m.hw_access(w.addr(2), false).ok()); // hardware AF set
    // mprotect: start (clear, no flush), commit a new prot, flush at the end.
    w.lock();
    const pte_t old = w.ops->modify_prot_start_ptes(&w.vma, w.addr(0), w.ptep(0), 4);
    w.ops->modify_prot_commit_ptes(&w.vma, w.addr(0), w.ptep(0), old,
                                   pte_modify(old, PAGE_READONLY_EXEC), 4);
    w.unlock();
    w.m.flush_tlb_range(w.addr(0), w.addr(4));
    EXPECT_TRUE(w.m.violations().empty());
    EXPECT_EQ(w.m.bbm_unflushed_breaks(), 0U);
}

TEST_P(HwBbm, ContpteConvertNeedsItsFlushUnlessBbml2) {
    for (const bool bbml2 : {false, true}) {
        for (const bool flush : {false, true}) {
            test_world t(GetParam(), "generic", machine_options{.bbml2_noabort = bbml2});
            const std::size_t n = t.geo().cont_ptes();
            folio *f = t.alloc(t.geo().cont_pte_shift);
            for (std::size_t i = 0; i < n; ++i)
                put(t, i, test_world::mk(f, i));
            for (std::size_t i = 0; i < n; ++i) // contpte_convert: zero every entry
                put(t, i, pte_t{0});
            if (flush)
                t.m.flush_tlb(flush_kind::range, t.addr(0), t.addr(n), t.geo().page_size(), true);
            for (std::size_t i = 0; i < n; ++i) // then repaint the block with CONT
                put(t, i, pte_mkcont(test_world::mk(f, i)));
            const bool expect = !bbml2 && !flush;
            EXPECT_EQ(count_id(t.m, "BBM"), expect ? n : 0U)
                << "bbml2=" << bbml2 << " flush=" << flush;
        }
    }
}

TEST_P(HwBbm, ContBitChangeOnALiveEntry) {
    folio *f = w.alloc(0);
    put(w, 0, test_world::mk(f));
    put(w, 0, pte_mkcont(test_world::mk(f)));
    EXPECT_EQ(count_id(w.m, "BBM"), 1U);
    // With BBML2_NOABORT the size may change in place (split_contpte()), the PFN still may not.
    test_world t(GetParam(), "generic", machine_options{.bbml2_noabort = true});
    folio *g = t.alloc(1);
    put(t, 0, test_world::mk(g));
    put(t, 0, pte_mkcont(test_world::mk(g)));
    EXPECT_TRUE(t.m.violations().empty());
    put(t, 0, pte_mkcont(test_world::mk(g, 1)));
    EXPECT_EQ(count_id(t.m, "BBM"), 1U);
}

TEST_P(HwBbm, PermissionChangesAcrossAnUnflushedBreakButNotInPlace) {
    folio *f = w.alloc(0);
    const pte_t ro = test_world::mk(f, 0, PAGE_READONLY);
    const pte_t rx = test_world::mk(f, 0, PAGE_READONLY_EXEC);
    put(w, 0, ro);
    put(w, 0, pte_t{0});
    put(w, 0, rx); // mprotect(PROT_EXEC) without a flush in between
    EXPECT_TRUE(w.m.violations().empty());
    put(w, 0, ro); // UXN set in place: pgattr_change_is_safe() says no
    EXPECT_EQ(count_id(w.m, "BBM"), 1U);
}

TEST_P(HwBbm, StagedTablesAreExempt) {
    folio *a = w.alloc(0);
    folio *b = w.alloc(0);
    const pgtable_t t = w.m.pte_alloc_one();
    const staged_ptep s = w.m.pte_offset_staged(t, w.addr(0));
    w.m.write(s, test_world::mk(a));
    w.m.write(s, test_world::mk(b));
    EXPECT_TRUE(w.m.violations().empty());
    EXPECT_EQ(w.m.bbm_unflushed_breaks(), 0U);
}

TEST_P(HwBbm, SplittingABlockNeedsTheFlushOfPmdpInvalidate) {
    for (const bool flush : {true, false}) {
        test_world t(GetParam());
        const std::uint64_t base = t.m.window_start() + t.geo().pmd_size();
        const hw_pmdp pmdp = t.m.pmd_off(base);
        folio *f = t.alloc(t.geo().pmd_order());
        t.m.write(pmdp, mk_huge_pmd(f->pfn, PAGE_SHARED));
        t.m.write(pmdp, pmd_mkinvalid(t.m.read(pmdp))); // pmdp_invalidate
        if (flush)
            t.m.flush_pmd_tlb_range(base, base + t.geo().pmd_size());
        const pgtable_t table = t.m.pte_alloc_one();
        const staged_ptep s = t.m.pte_offset_staged(table, base);
        for (std::size_t i = 0; i < t.geo().ptrs_per_pte(); ++i)
            t.m.write(staged_pte_add(s, static_cast<std::ptrdiff_t>(i)), test_world::mk(f, i));
        t.m.write(pmdp, pmd_mktable(table.pfn)); // pmd_populate publishes every entry at once
        EXPECT_EQ(count_id(t.m, "BBM"), flush ? 0U : 1U) << flush; // one report per publication
    }
}

TEST_P(HwBbm, AnEmptyTableOverABrokenBlockIsNotAMakeButItsEntriesAre) {
    const std::uint64_t base = w.m.window_start() + w.geo().pmd_size();
    const hw_pmdp pmdp = w.m.pmd_off(base);
    folio *f = w.alloc(w.geo().pmd_order());
    folio *g = w.alloc(0);
    w.m.write(pmdp, mk_huge_pmd(f->pfn, PAGE_SHARED));
    w.m.write(pmdp, pmd_t{0}); // zap without the flush yet
    const pgtable_t table = w.m.pte_alloc_one();
    w.m.write(pmdp, pmd_mktable(table.pfn));
    EXPECT_TRUE(w.m.violations().empty());
    const auto pte = w.m.pte_offset_map(pmdp, base + w.geo().page_size());
    ASSERT_TRUE(pte.has_value());
    w.m.write(*pte, test_world::mk(g)); // the block may still be cached here
    EXPECT_EQ(count_id(w.m, "BBM"), 1U);
    // A PMD-stride flush covers the whole block, even pages between its addresses...
    EXPECT_EQ(w.m.bbm_unflushed_breaks(), w.geo().ptrs_per_pte() - 1);
    w.m.flush_pmd_tlb_range(base, base + w.geo().pmd_size());
    EXPECT_EQ(w.m.bbm_unflushed_breaks(), 0U);
    w.m.write(hw_pte_add(*pte, 1), test_world::mk(g, 0, PAGE_READONLY));
    EXPECT_EQ(count_id(w.m, "BBM"), 1U);
    // ...but not a page entry between its addresses.
    w.m.write(*pte, pte_t{0});
    w.m.flush_pmd_tlb_range(base, base + w.geo().pmd_size());
    EXPECT_EQ(w.m.bbm_unflushed_breaks(), 1U);
}

TEST_P(HwBbm, ATableUnlinkedWithoutAWalkCacheFlush) {
    const std::uint64_t base = w.m.window_start();
    // A last-level flush does not reach the walk cache: a new table there is a violation.
    w.m.write(w.pmdp, pmd_t{0});
    w.m.flush_tlb(flush_kind::range, base, base + w.geo().pmd_size(), w.geo().page_size(), true);
    const pgtable_t other = w.m.pte_alloc_one();
    w.m.write(w.pmdp, pmd_mktable(other.pfn));
    ASSERT_EQ(count_id(w.m, "BBM"), 1U);
    EXPECT_NE(w.m.violations()[0].detail.find("walk cache"), std::string::npos);
    // pmdp_collapse_flush()'s range flush does; putting the same table back is fine anyway.
    w.m.clear_violations();
    w.m.write(w.pmdp, pmd_t{0});
    w.m.flush_tlb_range(base, base + w.geo().pmd_size());
    w.m.write(w.pmdp, pmd_mktable(w.table.pfn));
    w.m.write(w.pmdp, pmd_t{0});
    w.m.write(w.pmdp, pmd_mktable(w.table.pfn));
    EXPECT_TRUE(w.m.violations().empty());
    // A block over an unflushed table, and a table replaced in place.
    folio *f = w.alloc(w.geo().pmd_order());
    w.m.write(w.pmdp, pmd_t{0});
    w.m.write(w.pmdp, mk_huge_pmd(f->pfn, PAGE_SHARED));
    EXPECT_EQ(count_id(w.m, "BBM"), 1U);
    w.m.write(w.pmdp, pmd_t{0});
    w.m.flush_tlb_mm();
    w.m.write(w.pmdp, pmd_mktable(w.table.pfn));
    w.m.write(w.pmdp, pmd_mktable(other.pfn));
    EXPECT_EQ(count_id(w.m, "BBM"), 2U);
}

TEST_P(HwBbm, UnlinkingATableBreaksItsEntries) {
    folio *a = w.alloc(0);
    folio *b = w.alloc(0);
    put(w, 3, test_world::mk(a));
    const pmd_t old = w.m.xchg(w.pmdp, pmd_t{0}); // collapse without pmdp_collapse_flush()
    EXPECT_EQ(w.m.bbm_unflushed_breaks(), 1U);
    w.m.write(w.m.pte_offset_staged(w.table, w.addr(3)), test_world::mk(b)); // exempt
    w.m.write(w.pmdp, old); // republished: entry 3 now maps b while a may be cached
    EXPECT_EQ(count_id(w.m, "BBM"), 1U);
}

INSTANTIATE_TEST_SUITE_P(AllGranules, HwBbm, ::testing::ValuesIn(test::all_granules),
                         [](const auto &info) { return test::granule_param_name(info.param); });

} // namespace
} // namespace mmfuzz
