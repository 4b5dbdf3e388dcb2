// The MMU and TLB: faults, hardware AF/DBM updates, the adversarial CONT slot, stale TLB hits,
// flush semantics, the walk cache and PMD block mappings.
#include "fixture.hpp"
#include "pgtable/softleaf.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace mmfuzz {
namespace {

using test::test_world;

class HwMmu : public ::testing::TestWithParam<granule> {
  protected:
    HwMmu() : w(GetParam()) {}
    void put(std::size_t index, pte_t pte) { w.m.write(w.ptep(index), pte); }
    /// Writes a whole CONT block at block index `b` mapping folio f, with per-entry tweaks.
    void put_cont_block(std::size_t first, const folio *f, pgprot_t prot = PAGE_SHARED) {
        for (std::size_t i = 0; i < w.geo().cont_ptes(); ++i)
            put(first + i, pte_mkcont(pte_mkold(test_world::mk(f, i, prot))));
    }
    std::size_t by_hw_writes() const {
        return static_cast<std::size_t>(std::count_if(
            w.m.write_log().begin(), w.m.write_log().end(), [](const auto &x) { return x.by_hw; }));
    }
    test_world w;
};

TEST_P(HwMmu, EachFaultKind) {
    folio *f = w.alloc(0);
    // none PTE, none PMD, outside the window
    EXPECT_EQ(w.m.hw_access(w.addr(0), false).fault, hw_fault::none_entry);
    EXPECT_EQ(w.m.hw_access(w.m.window_start() + w.geo().pmd_size(), false).fault,
              hw_fault::none_entry);
    EXPECT_EQ(w.m.hw_access(w.m.window_end(), false).fault, hw_fault::none_entry);
    put(1, softleaf_to_pte(swp_entry(3, 0x42)));
    EXPECT_EQ(w.m.hw_access(w.addr(1), false).fault, hw_fault::softleaf);
    put(2, test_world::mk(f, 0, PAGE_NONE));
    EXPECT_EQ(w.m.hw_access(w.addr(2), false).fault, hw_fault::protnone);
    put(3, pte_mkinvalid(test_world::mk(f)));
    EXPECT_EQ(w.m.hw_access(w.addr(3), false).fault, hw_fault::present_invalid);
    put(4, clear_pte_bit(test_world::mk(f), PTE_TABLE_BIT));
    EXPECT_EQ(w.m.hw_access(w.addr(4), false).fault, hw_fault::reserved);
    put(5, test_world::mk(f, 0, PAGE_KERNEL));
    EXPECT_EQ(w.m.hw_access(w.addr(5), false).fault, hw_fault::permission);
    put(6, test_world::mk(f, 0, PAGE_READONLY));
    EXPECT_TRUE(w.m.hw_access(w.addr(6), false).ok());
    const hw_access_result wp = w.m.hw_access(w.addr(6), true, 0, 7);
    EXPECT_EQ(wp.fault, hw_fault::write_protect);
    EXPECT_TRUE(wp.tlb_hit); // the read cached it; the write faults from the TLB
    EXPECT_EQ(w.m.page(f->pfn).content, 0U);
    // A PMD softleaf (migration PMD) and a present-invalid PMD.
    const std::uint64_t base = w.m.window_start() + w.geo().pmd_size();
    w.m.write(w.m.pmd_off(base), pte_pmd(softleaf_to_pte(make_writable_migration_entry(f->pfn))));
    EXPECT_EQ(w.m.hw_access(base, false).fault, hw_fault::softleaf);
    w.m.write(w.m.pmd_off(base), pmd_mkinvalid(mk_huge_pmd(f->pfn, PAGE_SHARED)));
    EXPECT_EQ(w.m.hw_access(base, false).fault, hw_fault::present_invalid);
    EXPECT_EQ(w.m.tlb_nr_entries(), 1U); // faults are never cached
}

TEST_P(HwMmu, AccessSetsTheAccessFlagOnceAndCaches) {
    folio *f = w.alloc(0);
    put(0, pte_mkold(test_world::mk(f, 0, PAGE_READONLY)));
    w.m.clear_logs();
    const hw_access_result a = w.m.hw_access(w.addr(0), false);
    ASSERT_TRUE(a.ok());
    EXPECT_TRUE(a.set_young);
    EXPECT_FALSE(a.tlb_hit);
    EXPECT_EQ(a.pfn, f->pfn);
    EXPECT_TRUE(pte_young(w.raw(0)));
    ASSERT_EQ(w.m.write_log().size(), 1U);
    EXPECT_TRUE(w.m.write_log()[0].by_hw);
    EXPECT_TRUE(w.m.write_log()[0].live);
    // Aging without a flush: the cached entry keeps being used and AF stays clear (stale old).
    put(0, pte_mkold(w.raw(0)));
    const hw_access_result b = w.m.hw_access(w.addr(0), false);
    EXPECT_TRUE(b.tlb_hit);
    EXPECT_FALSE(b.set_young);
    EXPECT_FALSE(pte_young(w.raw(0)));
    w.m.flush_tlb_page(w.addr(0));
    EXPECT_TRUE(w.m.hw_access(w.addr(0), false).set_young);
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(HwMmu, WriteToCleanWritableEntryMakesItDirtyAndStoresTheValue) {
    folio *f = w.alloc(0);
    put(0, test_world::mk(f)); // PAGE_SHARED: WRITE (DBM) and RDONLY, i.e. writable-clean
    ASSERT_FALSE(pte_dirty(w.raw(0)));
    const hw_access_result a = w.m.hw_access(w.addr(0), true, 0, 0xabc);
    ASSERT_TRUE(a.ok());
    EXPECT_TRUE(a.set_dirty);
    EXPECT_FALSE(a.set_young); // PAGE_SHARED is young already
    EXPECT_TRUE(pte_hw_dirty(w.raw(0)));
    EXPECT_FALSE(pte_sw_dirty(w.raw(0)));
    EXPECT_EQ(w.m.page(f->pfn).content, 0xabcU);
    const hw_access_result r = w.m.hw_access(w.addr(0), false);
    EXPECT_TRUE(r.tlb_hit);
    EXPECT_EQ(r.value, 0xabcU);
    EXPECT_EQ(by_hw_writes(), 1U);
}

TEST_P(HwMmu, WriteHitOnACleanCachedEntryDoesTheDirtyUpdateInTheTable) {
    folio *f = w.alloc(0);
    put(0, test_world::mk(f));
    ASSERT_TRUE(w.m.hw_access(w.addr(0), false).ok()); // caches writable-clean
    const hw_access_result a = w.m.hw_access(w.addr(0), true, 0, 5);
    ASSERT_TRUE(a.ok());
    EXPECT_FALSE(a.tlb_hit); // the descriptor update needed a walk
    EXPECT_TRUE(a.set_dirty);
    EXPECT_TRUE(pte_hw_dirty(w.raw(0)));
    // Now cached dirty: a further write touches no table entry.
    w.m.clear_logs();
    const hw_access_result b = w.m.hw_access(w.addr(0), true, 0, 6);
    EXPECT_TRUE(b.tlb_hit);
    EXPECT_TRUE(w.m.write_log().empty());
    EXPECT_EQ(w.m.page(f->pfn).content, 6U);
}

TEST_P(HwMmu, WrprotectWithoutFlushStopsWritesThroughACleanCachedEntry) {
    folio *f = w.alloc(0);
    put(0, test_world::mk(f));
    ASSERT_TRUE(w.m.hw_access(w.addr(0), false).ok());
    put(0, pte_wrprotect(w.raw(0))); // DBM cleared in place, no flush (__ptep_set_wrprotect)
    EXPECT_EQ(w.m.hw_access(w.addr(0), true, 0, 9).fault, hw_fault::write_protect);
    EXPECT_EQ(w.m.page(f->pfn).content, 0U);
    EXPECT_FALSE(pte_dirty(w.raw(0)));
}

TEST_P(HwMmu, TheAdversarialSlotPicksTheContEntryThatIsUpdated) {
    const unsigned order = w.geo().cont_pte_shift;
    folio *f = w.alloc(order);
    const std::size_t n = w.geo().cont_ptes();
    put_cont_block(n, f); // the second block of the table: old, clean, CONT
    const std::uint64_t va = w.addr(n + 1);
    const hw_access_result a = w.m.hw_access(va, true, static_cast<unsigned>(2 * n + 5), 77);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a.pfn, f->pfn + 1);
    EXPECT_EQ(w.m.page(f->pfn + 1).content, 77U);
    // slot 2n + 5 wraps to entry 5 of the block: that entry got AF and dirty, the accessed did
    // not
    EXPECT_TRUE(pte_young(w.raw(n + 5)));
    EXPECT_TRUE(pte_hw_dirty(w.raw(n + 5)));
    EXPECT_FALSE(pte_young(w.raw(n + 1)));
    EXPECT_FALSE(pte_dirty(w.raw(n + 1)));
    for (std::size_t i = 0; i < n; ++i)
        if (i != 5)
            EXPECT_FALSE(pte_young(w.raw(n + i))) << i;
    // One block translation covers the whole block.
    const auto e = w.m.tlb_lookup(w.addr(2 * n - 1));
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->kind, tlb_kind::cont);
    EXPECT_EQ(e->pfn, f->pfn);
    const hw_access_result b = w.m.hw_access(w.addr(2 * n - 1), false);
    EXPECT_TRUE(b.tlb_hit);
    EXPECT_EQ(b.pfn, f->pfn + n - 1);
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(HwMmu, AContBlockMayBeCachedPageByPage) {
    folio *f = w.alloc(w.geo().cont_pte_shift);
    put_cont_block(0, f);
    const auto n = static_cast<unsigned>(w.geo().cont_ptes());
    // An odd slot / CONT_PTES: the page alone, translated through entry 3 of the block.
    const hw_access_result a = w.m.hw_access(w.addr(1), false, n + 3);
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(a.pfn, f->pfn + 1);
    EXPECT_TRUE(pte_young(w.raw(3)));
    auto e = w.m.tlb_lookup(w.addr(1));
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->kind, tlb_kind::page);
    EXPECT_EQ(e->pfn, f->pfn + 1);
    EXPECT_FALSE(w.m.tlb_lookup(w.addr(2)).has_value());
    ASSERT_TRUE(w.m.hw_access(w.addr(2), false, n).ok());
    w.m.flush_tlb_page(w.addr(1)); // the other page's entry stays
    EXPECT_FALSE(w.m.tlb_lookup(w.addr(1)).has_value());
    EXPECT_TRUE(w.m.tlb_lookup(w.addr(2)).has_value());
    // Cached whole, the block goes on a flush of any of its pages.
    w.m.flush_tlb_mm();
    ASSERT_TRUE(w.m.hw_access(w.addr(1), false, 0).ok());
    e = w.m.tlb_lookup(w.addr(2));
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->kind, tlb_kind::cont);
    w.m.flush_tlb_page(w.addr(1));
    EXPECT_FALSE(w.m.tlb_lookup(w.addr(2)).has_value());
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(HwMmu, APageCachedFromAContBlockIsCheckedAgainstItsBlock) {
    folio *f = w.alloc(w.geo().cont_pte_shift);
    put_cont_block(0, f);
    const auto n = static_cast<unsigned>(w.geo().cont_ptes());
    ASSERT_TRUE(w.m.hw_access(w.addr(1), true, n + 3, 5).ok()); // entry 3 becomes dirty
    w.m.check_tlb_stale();
    EXPECT_TRUE(w.m.violations().empty()); // the block is dirty through entry 3
    // Cleaning entry 3 alone (no flush) leaves a dirty translation over a clean block.
    put(3, pte_mkclean(w.raw(3)));
    w.m.check_tlb_stale();
    ASSERT_FALSE(w.m.violations().empty());
    EXPECT_EQ(w.m.violations().back().id, "TLB_STALE");
}

TEST_P(HwMmu, AnInconsistentSlotEntryIsNotUsed) {
    folio *f = w.alloc(w.geo().cont_pte_shift);
    put_cont_block(0, f);
    put(3, pte_mknoncont(w.raw(3))); // misprogrammed block: entry 3 has lost CONT
    ASSERT_TRUE(w.m.hw_access(w.addr(0), false, 3).ok());
    EXPECT_TRUE(pte_young(w.raw(0)));
    EXPECT_FALSE(pte_young(w.raw(3)));
    const auto e = w.m.tlb_lookup(w.addr(0));
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->kind, tlb_kind::page);
}

TEST_P(HwMmu, AStaleHitUsesTheOldPfnUntilAFlush) {
    folio *a = w.alloc(0);
    folio *b = w.alloc(0);
    put(0, test_world::mk(a));
    ASSERT_EQ(w.m.hw_access(w.addr(0), true, 0, 1).pfn, a->pfn);
    put(0, pte_t{0});
    put(0, test_world::mk(b)); // no flush between: the TLB still holds a's translation
    const hw_access_result stale = w.m.hw_access(w.addr(0), true, 0, 2);
    EXPECT_TRUE(stale.tlb_hit);
    EXPECT_EQ(stale.pfn, a->pfn);
    EXPECT_EQ(w.m.page(a->pfn).content, 2U);
    EXPECT_EQ(w.m.page(b->pfn).content, 0U);
    w.m.flush_tlb_page(w.addr(0));
    const hw_access_result fresh = w.m.hw_access(w.addr(0), false);
    EXPECT_FALSE(fresh.tlb_hit);
    EXPECT_EQ(fresh.pfn, b->pfn);
    ASSERT_EQ(w.m.violations().size(), 1U);
    EXPECT_EQ(w.m.violations()[0].id, "BBM");
}

TEST_P(HwMmu, FlushesDropWhatTheyCover) {
    folio *f = w.alloc(3);
    for (std::size_t i = 0; i < 8; ++i) {
        put(i, test_world::mk(f, i));
        ASSERT_TRUE(w.m.hw_access(w.addr(i), false).ok());
    }
    EXPECT_EQ(w.m.tlb_nr_entries(), 8U);
    w.m.flush_tlb_page(w.addr(2));
    EXPECT_FALSE(w.m.tlb_lookup(w.addr(2)).has_value());
    EXPECT_TRUE(w.m.tlb_lookup(w.addr(3)).has_value());
    w.m.flush_tlb_range(w.addr(4), w.addr(6));
    EXPECT_FALSE(w.m.tlb_lookup(w.addr(4)).has_value());
    EXPECT_FALSE(w.m.tlb_lookup(w.addr(5)).has_value());
    EXPECT_TRUE(w.m.tlb_lookup(w.addr(6)).has_value());
    // The walk cache survives last-level flushes only (flush_tlb_range() is not one).
    EXPECT_FALSE(w.m.walk_cache_entry(0).has_value());
    ASSERT_TRUE(w.m.hw_access(w.addr(4), false).ok());
    ASSERT_TRUE(w.m.walk_cache_entry(0).has_value());
    w.m.flush_tlb(flush_kind::range, w.addr(3), w.addr(4), w.geo().page_size(), true);
    EXPECT_TRUE(w.m.walk_cache_entry(0).has_value());
    // flush_pmd_tlb_range() is hinted at the PMD level: it reaches neither page entries nor the
    // walk cache. Unhinted, a PMD-stride flush reaches the first address of each PMD only.
    const std::uint64_t pmd0 = w.m.window_start();
    w.m.flush_pmd_tlb_range(pmd0, pmd0 + w.geo().pmd_size());
    EXPECT_TRUE(w.m.tlb_lookup(w.addr(0)).has_value());
    EXPECT_TRUE(w.m.walk_cache_entry(0).has_value());
    w.m.flush_tlb(flush_kind::range, pmd0, pmd0 + w.geo().pmd_size(), w.geo().pmd_size(), false);
    EXPECT_FALSE(w.m.tlb_lookup(w.addr(0)).has_value());
    EXPECT_TRUE(w.m.tlb_lookup(w.addr(1)).has_value());
    EXPECT_FALSE(w.m.walk_cache_entry(0).has_value());
    ASSERT_TRUE(w.m.hw_access(w.addr(0), false).ok());
    ASSERT_TRUE(w.m.walk_cache_entry(0).has_value());
    w.m.flush_tlb(flush_kind::range, w.addr(0), w.addr(8), w.geo().page_size(), true);
    EXPECT_EQ(w.m.tlb_nr_entries(), 0U);
    EXPECT_TRUE(w.m.walk_cache_entry(0).has_value());
    w.m.flush_tlb(flush_kind::range, w.addr(7), w.addr(8), w.geo().page_size(), false);
    EXPECT_FALSE(w.m.walk_cache_entry(0).has_value());
    ASSERT_TRUE(w.m.hw_access(w.addr(1), false).ok());
    w.m.flush_tlb_mm();
    EXPECT_EQ(w.m.tlb_nr_entries(), 0U);
    EXPECT_FALSE(w.m.walk_cache_entry(0).has_value());
}

TEST_P(HwMmu, ALevelHintedFlushReachesOnlyLeavesOfItsLevel) {
    folio *f = w.alloc(0);
    put(0, test_world::mk(f));
    ASSERT_TRUE(w.m.hw_access(w.addr(0), false).ok());
    const std::uint64_t base = w.m.window_start() + w.geo().pmd_size();
    folio *huge = w.alloc(w.geo().pmd_order());
    w.m.write(w.m.pmd_off(base), mk_huge_pmd(huge->pfn, PAGE_SHARED));
    ASSERT_TRUE(w.m.hw_access(base, false).ok());
    const std::uint64_t ps = w.geo().page_size();
    w.m.flush_tlb(flush_kind::range, base, base + ps, ps, true, tlb_level_pte);
    w.m.flush_tlb(flush_kind::range, w.addr(0), w.addr(1), ps, true, tlb_level_pmd);
    EXPECT_TRUE(w.m.tlb_lookup(base).has_value());
    EXPECT_TRUE(w.m.tlb_lookup(w.addr(0)).has_value());
    w.m.flush_tlb(flush_kind::range, base, base + ps, ps, true, tlb_level_pmd);
    w.m.flush_tlb(flush_kind::range, w.addr(0), w.addr(1), ps, true, tlb_level_pte);
    EXPECT_FALSE(w.m.tlb_lookup(base).has_value());
    EXPECT_FALSE(w.m.tlb_lookup(w.addr(0)).has_value());
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(HwMmu, AFlushHintedAtTheWrongLevelLeavesABreakUnflushed) {
    folio *a = w.alloc(0);
    folio *b = w.alloc(0);
    put(0, test_world::mk(a));
    ASSERT_TRUE(w.m.hw_access(w.addr(0), false).ok());
    put(0, pte_t{0});
    w.m.flush_pmd_tlb_range(w.m.window_start(), w.m.window_start() + w.geo().pmd_size());
    EXPECT_EQ(w.m.bbm_unflushed_breaks(), 1U);
    w.m.check_tlb_stale(); // the cleared page is still in the TLB
    ASSERT_EQ(w.m.violations().size(), 1U);
    EXPECT_EQ(w.m.violations()[0].id, "TLB_STALE");
    w.m.clear_violations();
    put(0, test_world::mk(b));
    ASSERT_EQ(w.m.violations().size(), 1U);
    EXPECT_EQ(w.m.violations()[0].id, "BBM");
    // Hinted at its own level, the same flush completes the break.
    w.m.clear_violations();
    put(0, pte_t{0});
    w.m.flush_tlb(flush_kind::range, w.addr(0), w.addr(1), w.geo().page_size(), true,
                  tlb_level_pte);
    EXPECT_EQ(w.m.bbm_unflushed_breaks(), 0U);
    put(0, test_world::mk(a));
    w.m.check_tlb_stale();
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(HwMmu, TheWalkCacheKeepsAnUnlinkedTableReachable) {
    folio *f = w.alloc(1);
    put(0, test_world::mk(f, 0));
    put(1, test_world::mk(f, 1));
    ASSERT_TRUE(w.m.hw_access(w.addr(0), false).ok());
    ASSERT_EQ(w.m.walk_cache_entry(0), w.table);
    w.m.write(w.pmdp, pmd_t{0}); // unlinked, and only a last-level flush follows
    w.m.flush_tlb(flush_kind::range, w.addr(0), w.addr(2), w.geo().page_size(), true);
    const hw_access_result a = w.m.hw_access(w.addr(1), false);
    EXPECT_TRUE(a.ok());
    EXPECT_FALSE(a.tlb_hit);
    EXPECT_EQ(a.pfn, f->pfn + 1);
    w.m.check_tlb_stale();
    ASSERT_FALSE(w.m.violations().empty());
    for (const auto &v : w.m.violations())
        EXPECT_EQ(v.id, "TLB_STALE");
    EXPECT_NE(w.m.violations().back().detail.find("walk cache"), std::string::npos);
    w.m.flush_tlb_range(w.addr(0), w.addr(2)); // not last level: the walk cache entry goes
    EXPECT_EQ(w.m.hw_access(w.addr(1), false).fault, hw_fault::none_entry);
}

TEST_P(HwMmu, PmdBlockMappingsGetAfAndDirtyOnThePmd) {
    const std::uint64_t base = w.m.window_start() + w.geo().pmd_size();
    folio *f = w.alloc(w.geo().pmd_order());
    const hw_pmdp pmdp = w.m.pmd_off(base);
    w.m.write(pmdp, pmd_mkold(mk_huge_pmd(f->pfn, PAGE_SHARED)));
    const std::uint64_t va = base + 5 * w.geo().page_size();
    const hw_access_result a = w.m.hw_access(va, true, 0, 11);
    ASSERT_TRUE(a.ok());
    EXPECT_TRUE(a.pmd_leaf);
    EXPECT_TRUE(a.set_young);
    EXPECT_TRUE(a.set_dirty);
    EXPECT_EQ(a.pfn, f->pfn + 5);
    EXPECT_TRUE(pmd_young(w.m.read(pmdp)));
    EXPECT_TRUE(pmd_dirty(w.m.read(pmdp)));
    EXPECT_EQ(w.m.page(f->pfn + 5).content, 11U);
    const auto e = w.m.tlb_lookup(base + w.geo().pmd_size() - 1);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->kind, tlb_kind::pmd);
    EXPECT_EQ(w.m.hw_access(base, false).pfn, f->pfn);
    ASSERT_FALSE(w.m.write_log().empty());
    EXPECT_EQ(w.m.write_log().back().level, pt_level::pmd);
    EXPECT_TRUE(w.m.write_log().back().by_hw);
    EXPECT_TRUE(w.m.violations().empty());
}

INSTANTIATE_TEST_SUITE_P(AllGranules, HwMmu, ::testing::ValuesIn(test::all_granules),
                         [](const auto &info) { return test::granule_param_name(info.param); });

} // namespace
} // namespace mmfuzz
