// The reference implementation, call by call: effect on the table, return value, flushes
// (SEMANTICS 2, include/linux/pgtable.h, mm/pgtable-generic.c).
#include "fixture.hpp"

#include <gtest/gtest.h>

namespace mmfuzz {
namespace {

using test::test_world;

class Generic : public ::testing::TestWithParam<granule> {
  protected:
    Generic() : w(GetParam()) {}
    /// A young, hardware-dirty entry for page i of f.
    static pte_t dirty_young(const folio *f, std::size_t i) {
        return pte_mkyoung(pte_mkdirty(test_world::mk(f, i)));
    }
    void write_raw(std::size_t index, pte_t pte) { w.m.write(w.ptep(index), pte); }
    test_world w;
};

TEST_P(Generic, SetPtesWritesEachEntryAdvancingThePfn) {
    folio *f = w.alloc(3);
    w.lock();
    w.ops->set_ptes(&w.m.mm, w.addr(8), w.ptep(8), test_world::mk(f), 8);
    w.unlock();
    for (std::size_t i = 0; i < 8; ++i)
        EXPECT_EQ(w.raw(8 + i), test_world::mk(f, i));
    EXPECT_TRUE(pte_none(w.raw(7)));
    EXPECT_TRUE(pte_none(w.raw(16)));
    EXPECT_EQ(w.m.write_log().size(), 8U);
    EXPECT_TRUE(w.m.flush_log().empty());
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(Generic, SetPtesPreconditions) {
    folio *f = w.alloc(2);
    folio *g = w.alloc(0);
    w.lock();
    const std::size_t last = w.geo().ptrs_per_pte() - 1;
    EXPECT_THROW(w.ops->set_ptes(&w.m.mm, w.addr(0), w.ptep(0), test_world::mk(f), 0), api_misuse);
    EXPECT_THROW(w.ops->set_ptes(&w.m.mm, w.addr(last), w.ptep(last), test_world::mk(f), 2),
                 api_misuse);
    EXPECT_THROW(w.ops->set_ptes(&w.m.mm, w.addr(0), w.ptep(0), test_world::mk(f), 5),
                 api_misuse); // beyond the folio
    EXPECT_THROW(w.ops->set_ptes(&w.m.mm, w.addr(0), w.ptep(0), pte_t{0}, 2), api_misuse);
    w.ops->set_pte_at(&w.m.mm, w.addr(1), w.ptep(1), test_world::mk(g));
    EXPECT_THROW(w.ops->set_ptes(&w.m.mm, w.addr(0), w.ptep(0), test_world::mk(f), 4),
                 api_misuse); // over a present entry
    // nr == 1 may replace anything.
    w.ops->set_pte_at(&w.m.mm, w.addr(1), w.ptep(1), test_world::mk(f, 1));
    EXPECT_EQ(w.raw(1), test_world::mk(f, 1));
    w.unlock();
}

TEST_P(Generic, GettersReadTheEntry) {
    folio *f = w.alloc(0);
    write_raw(4, dirty_young(f, 0));
    EXPECT_EQ(w.ops->ptep_get(w.ptep(4)), dirty_young(f, 0));
    EXPECT_EQ(w.ops->ptep_get_once(w.ptep(4)), dirty_young(f, 0));
    EXPECT_EQ(w.ops->ptep_get_lockless(w.ptep(4)), dirty_young(f, 0));
}

TEST_P(Generic, PteClearAndGetAndClear) {
    folio *f = w.map_folio(0, 1);
    write_raw(1, dirty_young(f, 1));
    w.lock();
    w.ops->pte_clear(&w.m.mm, w.addr(0), w.ptep(0));
    EXPECT_TRUE(pte_none(w.raw(0)));
    EXPECT_EQ(w.ops->ptep_get_and_clear(&w.m.mm, w.addr(1), w.ptep(1)), dirty_young(f, 1));
    EXPECT_TRUE(pte_none(w.raw(1)));
    w.unlock();
    EXPECT_TRUE(w.m.flush_log().empty());
}

TEST_P(Generic, GetAndClearFullPtesAccumulatesYoungAndDirty) {
    folio *f = w.map_folio(16, 2);
    for (std::size_t i = 0; i < 4; ++i)
        write_raw(16 + i, pte_mkold(test_world::mk(f, i)));
    write_raw(18, pte_mkdirty(pte_mkold(test_world::mk(f, 2))));
    write_raw(19, pte_mkyoung(test_world::mk(f, 3)));
    w.lock();
    const pte_t got = w.ops->get_and_clear_full_ptes(&w.m.mm, w.addr(16), w.ptep(16), 4, 1);
    w.unlock();
    EXPECT_EQ(pte_pfn(got), f->pfn);
    EXPECT_TRUE(pte_dirty(got));
    EXPECT_TRUE(pte_young(got));
    for (std::size_t i = 0; i < 4; ++i)
        EXPECT_TRUE(pte_none(w.raw(16 + i)));
    EXPECT_TRUE(w.m.flush_log().empty());
    EXPECT_EQ(w.m.page(f->pfn + 3).anon_map_count, 0);
}

TEST_P(Generic, GetAndClearFullPtesWithNothingToAccumulate) {
    folio *f = w.alloc(1);
    write_raw(0, pte_mkold(test_world::mk(f, 0)));
    write_raw(1, pte_mkold(test_world::mk(f, 1)));
    w.lock();
    const pte_t got = w.ops->get_and_clear_full_ptes(&w.m.mm, w.addr(0), w.ptep(0), 2, 0);
    w.unlock();
    EXPECT_EQ(got, pte_mkold(test_world::mk(f, 0)));
}

TEST_P(Generic, BatchesMustMapOneFolio) {
    folio *a = w.map_folio(0, 0);
    w.map_folio(1, 0);
    (void)a;
    w.lock();
    EXPECT_THROW(w.ops->clear_full_ptes(&w.m.mm, w.addr(0), w.ptep(0), 2, 0), api_misuse);
    EXPECT_THROW(w.ops->wrprotect_ptes(&w.m.mm, w.addr(0), w.ptep(0), 3), api_misuse);
    w.unlock();
}

TEST_P(Generic, ClearFullPtesClearsEveryEntry) {
    w.map_folio(32, 3);
    w.lock();
    w.ops->clear_full_ptes(&w.m.mm, w.addr(32), w.ptep(32), 8, 1);
    w.unlock();
    for (std::size_t i = 32; i < 40; ++i)
        EXPECT_TRUE(pte_none(w.raw(i)));
}

TEST_P(Generic, TestAndClearYoungDoesNotFlush) {
    folio *f = w.map_folio(3, 0);
    w.m.clear_logs();
    w.lock();
    EXPECT_TRUE(w.ops->ptep_test_and_clear_young(&w.vma, w.addr(3), w.ptep(3)));
    EXPECT_EQ(w.raw(3), pte_mkold(test_world::mk(f)));
    EXPECT_FALSE(w.ops->ptep_test_and_clear_young(&w.vma, w.addr(3), w.ptep(3)));
    w.unlock();
    EXPECT_TRUE(w.m.flush_log().empty());
    EXPECT_EQ(w.m.write_log().size(), 1U); // old entries are not rewritten
}

TEST_P(Generic, ClearFlushYoungFlushesThePageOnlyIfYoung) {
    w.map_folio(3, 0);
    w.m.clear_logs();
    w.lock();
    EXPECT_TRUE(w.ops->ptep_clear_flush_young(&w.vma, w.addr(3), w.ptep(3)));
    ASSERT_EQ(w.m.flush_log().size(), 1U);
    EXPECT_EQ(w.m.flush_log()[0].kind, flush_kind::page);
    EXPECT_EQ(w.m.flush_log()[0].start, w.addr(3));
    EXPECT_FALSE(w.ops->ptep_clear_flush_young(&w.vma, w.addr(3), w.ptep(3)));
    EXPECT_EQ(w.m.flush_log().size(), 1U);
    w.unlock();
}

TEST_P(Generic, ClearFlushYoungPtesPerEntry) {
    folio *f = w.map_folio(0, 2);
    write_raw(0, pte_mkold(test_world::mk(f, 0)));
    write_raw(1, pte_mkold(test_world::mk(f, 1)));
    w.m.clear_logs();
    w.lock();
    EXPECT_TRUE(w.ops->clear_flush_young_ptes(&w.vma, w.addr(0), w.ptep(0), 4));
    w.unlock();
    for (std::size_t i = 0; i < 4; ++i)
        EXPECT_FALSE(pte_young(w.raw(i)));
    ASSERT_EQ(w.m.flush_log().size(), 2U); // the two young entries
    EXPECT_EQ(w.m.flush_log()[0].start, w.addr(2));
    EXPECT_EQ(w.m.flush_log()[1].start, w.addr(3));
}

TEST_P(Generic, ClearYoungDirtyPtes) {
    folio *f = w.alloc(2);
    for (std::size_t i = 0; i < 4; ++i)
        write_raw(i, dirty_young(f, i));
    w.lock();
    w.ops->clear_young_dirty_ptes(&w.vma, w.addr(0), w.ptep(0), 2, CYDP_CLEAR_YOUNG);
    EXPECT_FALSE(pte_young(w.raw(0)));
    EXPECT_TRUE(pte_dirty(w.raw(0)));
    w.ops->clear_young_dirty_ptes(&w.vma, w.addr(2), w.ptep(2), 2,
                                  CYDP_CLEAR_YOUNG | CYDP_CLEAR_DIRTY);
    EXPECT_EQ(w.raw(2), pte_mkold(pte_mkclean(dirty_young(f, 2))));
    EXPECT_EQ(w.raw(3), pte_mkold(pte_mkclean(dirty_young(f, 3))));
    w.ops->clear_young_dirty_ptes(&w.vma, w.addr(0), w.ptep(0), 1, CYDP_CLEAR_DIRTY);
    EXPECT_FALSE(pte_dirty(w.raw(0)));
    EXPECT_TRUE(pte_write(w.raw(0)));
    w.unlock();
    EXPECT_TRUE(w.m.flush_log().empty());
}

TEST_P(Generic, WrprotectPtesKeepsDirtiness) {
    folio *f = w.alloc(1);
    write_raw(0, dirty_young(f, 0));
    write_raw(1, test_world::mk(f, 1));
    w.lock();
    w.ops->wrprotect_ptes(&w.m.mm, w.addr(0), w.ptep(0), 2);
    w.unlock();
    EXPECT_FALSE(pte_write(w.raw(0)));
    EXPECT_TRUE(pte_dirty(w.raw(0)));
    EXPECT_TRUE(pte_sw_dirty(w.raw(0)));
    EXPECT_FALSE(pte_write(w.raw(1)));
    EXPECT_FALSE(pte_dirty(w.raw(1)));
    EXPECT_TRUE(w.m.flush_log().empty());
}

TEST_P(Generic, SetAccessFlagsWritesOnlyWhenChanged) {
    folio *f = w.alloc(0);
    const pte_t ro_old = pte_mkold(test_world::mk(f, 0, PAGE_READONLY));
    w.lock();
    w.ops->set_pte_at(&w.m.mm, w.addr(5), w.ptep(5), ro_old);
    w.m.clear_logs();
    EXPECT_EQ(w.ops->ptep_set_access_flags(&w.vma, w.addr(5), w.ptep(5), ro_old, 0), 0);
    EXPECT_TRUE(w.m.write_log().empty());
    EXPECT_TRUE(w.m.flush_log().empty());
    const pte_t young = pte_mkyoung(ro_old);
    EXPECT_EQ(w.ops->ptep_set_access_flags(&w.vma, w.addr(5), w.ptep(5), young, 0), 1);
    EXPECT_EQ(w.raw(5), young);
    ASSERT_EQ(w.m.flush_log().size(), 1U);
    EXPECT_EQ(w.m.flush_log()[0].start, w.addr(5));
    w.unlock();
}

TEST_P(Generic, ModifyProtStartAndCommit) {
    folio *f = w.map_folio(8, 2);
    write_raw(9, dirty_young(f, 1));
    w.lock();
    const pte_t old = w.ops->modify_prot_start_ptes(&w.vma, w.addr(8), w.ptep(8), 4);
    EXPECT_TRUE(pte_dirty(old));
    EXPECT_EQ(pte_pfn(old), f->pfn);
    for (std::size_t i = 8; i < 12; ++i)
        EXPECT_TRUE(pte_none(w.raw(i)));
    const pte_t ro = pte_modify(old, PAGE_READONLY);
    w.ops->modify_prot_commit_ptes(&w.vma, w.addr(8), w.ptep(8), old, ro, 4);
    w.unlock();
    for (std::size_t i = 0; i < 4; ++i) {
        EXPECT_EQ(pte_pfn(w.raw(8 + i)), f->pfn + i);
        EXPECT_FALSE(pte_write(w.raw(8 + i)));
        EXPECT_TRUE(pte_dirty(w.raw(8 + i))); // dirtiness carried through the batch
    }
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(Generic, StagedTableIsFilledWithoutBeingLive) {
    folio *f = w.alloc(w.geo().pmd_order());
    const pgtable_t t = w.m.pte_alloc_one();
    const std::uint64_t base = w.m.window_start() + w.geo().pmd_size();
    const staged_ptep s = w.m.pte_offset_staged(t, base);
    const auto nr = static_cast<unsigned>(w.geo().ptrs_per_pte());
    w.ops->set_ptes(&w.m.mm, base, s, test_world::mk(f), nr);
    EXPECT_EQ(w.ops->ptep_get(staged_pte_add(s, 7)), test_world::mk(f, 7));
    for (const auto &wr : w.m.write_log())
        EXPECT_FALSE(wr.live);
    EXPECT_FALSE(w.m.table_is_live(t));
    const hw_pmdp pmdp = w.m.pmd_off(base);
    w.ops->pmd_populate(&w.m.mm, pmdp, t);
    EXPECT_TRUE(w.m.table_is_live(t));
    const auto live = w.m.pte_offset_map(pmdp, base + 7 * w.geo().page_size());
    ASSERT_TRUE(live.has_value());
    EXPECT_EQ(w.ops->ptep_get(*live), test_world::mk(f, 7));
}

TEST_P(Generic, UpdateMmuCacheRangeWalksTheLiveTable) {
    w.lock();
    w.ops->update_mmu_cache_range(&w.vma, w.addr(3), w.ptep(3), 1);
    EXPECT_TRUE(w.m.violations().empty());
    w.ops->update_mmu_cache_range(&w.vma, w.addr(4), w.ptep(3), 1); // wrong entry for addr
    ASSERT_EQ(w.m.violations().size(), 1U);
    EXPECT_EQ(w.m.violations()[0].id, "UPDATE_MMU_WALK");
    w.m.clear_violations();
    // Detach the table: the walk from the root no longer reaches it.
    const hw_ptep detached = w.ptep(3);
    w.ops->pmdp_huge_get_and_clear(&w.m.mm, w.m.window_start(), w.pmdp);
    w.ops->update_mmu_cache_range(&w.vma, w.addr(3), detached, 1);
    ASSERT_EQ(w.m.violations().size(), 1U);
    EXPECT_EQ(w.m.violations()[0].id, "UPDATE_MMU_WALK");
    w.unlock();
}

TEST_P(Generic, PmdLeafFamily) {
    const std::uint64_t base = w.m.window_start() + w.geo().pmd_size();
    const hw_pmdp pmdp = w.m.pmd_off(base);
    vm_area_struct &vma = w.vma;
    folio *f = w.alloc(w.geo().pmd_order());
    const pmd_t huge = mk_huge_pmd(f->pfn, PAGE_SHARED);
    w.ops->set_pmd_at(&w.m.mm, base, pmdp, huge);
    EXPECT_EQ(w.ops->pmdp_get(pmdp), huge);
    EXPECT_EQ(w.m.page(f->pfn + 5).anon_map_count, 1);

    EXPECT_TRUE(w.ops->pmdp_test_and_clear_young(&vma, base, pmdp));
    EXPECT_FALSE(pmd_young(w.ops->pmdp_get(pmdp)));
    EXPECT_FALSE(w.ops->pmdp_test_and_clear_young(&vma, base, pmdp));

    w.m.clear_logs();
    EXPECT_EQ(w.ops->pmdp_set_access_flags(&vma, base, pmdp, pmd_mkdirty(pmd_mkyoung(huge)), 1), 1);
    EXPECT_TRUE(pmd_dirty(w.ops->pmdp_get(pmdp)));
    ASSERT_EQ(w.m.flush_log().size(), 1U);
    EXPECT_EQ(w.m.flush_log()[0].kind, flush_kind::pmd_range);

    w.ops->pmdp_set_wrprotect(&w.m.mm, base, pmdp);
    EXPECT_FALSE(pmd_write(w.ops->pmdp_get(pmdp)));
    EXPECT_TRUE(pmd_dirty(w.ops->pmdp_get(pmdp)));

    w.m.clear_logs();
    const pmd_t before = w.ops->pmdp_get(pmdp);
    EXPECT_EQ(w.ops->pmdp_invalidate(&vma, base, pmdp), before);
    EXPECT_TRUE(pmd_present(w.ops->pmdp_get(pmdp)));
    EXPECT_FALSE(pmd_valid(w.ops->pmdp_get(pmdp)));
    ASSERT_EQ(w.m.flush_log().size(), 1U);
    EXPECT_EQ(w.m.flush_log()[0].kind, flush_kind::pmd_range);
    EXPECT_EQ(w.m.flush_log()[0].end - w.m.flush_log()[0].start, w.geo().pmd_size());

    const pmd_t cleared = w.ops->pmdp_huge_get_and_clear(&w.m.mm, base, pmdp);
    EXPECT_TRUE(pmd_leaf(cleared));
    EXPECT_TRUE(pmd_none(w.ops->pmdp_get(pmdp)));
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(Generic, PmdCollapseFlushFlushesTheWholeRangeAtPteLevel) {
    w.map_folio(0, 0);
    w.m.clear_logs();
    const pmd_t old = w.ops->pmdp_collapse_flush(&w.vma, w.m.window_start(), w.pmdp);
    EXPECT_TRUE(pmd_table(old));
    EXPECT_FALSE(w.m.table_is_live(w.table));
    ASSERT_EQ(w.m.flush_log().size(), 1U);
    EXPECT_EQ(w.m.flush_log()[0].kind, flush_kind::range);
    EXPECT_EQ(w.m.flush_log()[0].stride, w.geo().page_size());
    EXPECT_EQ(w.m.flush_log()[0].end - w.m.flush_log()[0].start, w.geo().pmd_size());
    // The detached table keeps its entries and can be put back.
    w.ops->pmd_populate(&w.m.mm, w.pmdp, w.m.pmd_pgtable(old));
    EXPECT_TRUE(w.m.table_is_live(w.table));
    EXPECT_TRUE(pte_present(w.raw(0)));
}

TEST_P(Generic, PmdSetAccessFlagsWritesAnyChangeAndFlushes) {
    const std::uint64_t base = w.m.window_start() + w.geo().pmd_size();
    const hw_pmdp pmdp = w.m.pmd_off(base);
    folio *f = w.alloc(w.geo().pmd_order());
    const pmd_t huge = pmd_mkold(mk_huge_pmd(f->pfn, PAGE_SHARED));
    w.ops->set_pmd_at(&w.m.mm, base, pmdp, huge);
    w.m.clear_logs();
    EXPECT_EQ(w.ops->pmdp_set_access_flags(&w.vma, base, pmdp, huge, 0), 0);
    EXPECT_TRUE(w.m.flush_log().empty());
    // Not dirty, and still flushed: mm/pgtable-generic.c flushes every change.
    EXPECT_EQ(w.ops->pmdp_set_access_flags(&w.vma, base, pmdp, pmd_mkyoung(huge), 0), 1);
    EXPECT_EQ(w.ops->pmdp_get(pmdp), pmd_mkyoung(huge));
    ASSERT_EQ(w.m.flush_log().size(), 1U);
    EXPECT_EQ(w.m.flush_log()[0].kind, flush_kind::pmd_range);
    // The whole entry is written, a less permissive one included.
    const pmd_t ro = pmd_wrprotect(pmd_mkyoung(huge));
    EXPECT_EQ(w.ops->pmdp_set_access_flags(&w.vma, base, pmdp, ro, 0), 1);
    EXPECT_EQ(w.ops->pmdp_get(pmdp), ro);
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(Generic, WithdrawTakesTheLastDepositUnderThePmdLock) {
    const hw_pmdp pmdp = w.m.pmd_off(w.m.window_start() + w.geo().pmd_size());
    const pgtable_t a = w.m.pte_alloc_one();
    const pgtable_t b = w.m.pte_alloc_one();
    w.m.spin_lock(w.m.pmd_lockptr());
    w.ops->pgtable_trans_huge_deposit(&w.m.mm, pmdp, a);
    w.ops->pgtable_trans_huge_deposit(&w.m.mm, pmdp, b);
    EXPECT_EQ(w.ops->pgtable_trans_huge_withdraw(&w.m.mm, pmdp), b);
    EXPECT_EQ(w.ops->pgtable_trans_huge_withdraw(&w.m.mm, pmdp), a);
    EXPECT_THROW(w.ops->pgtable_trans_huge_withdraw(&w.m.mm, pmdp), api_misuse);
    w.m.spin_unlock(w.m.pmd_lockptr());
    EXPECT_TRUE(w.m.violations().empty());
    w.ops->pgtable_trans_huge_deposit(&w.m.mm, pmdp, a); // without the PMD lock
    ASSERT_EQ(w.m.violations().size(), 1U);
    EXPECT_EQ(w.m.violations()[0].id, "LOCK");
}

INSTANTIATE_TEST_SUITE_P(AllGranules, Generic, ::testing::ValuesIn(test::all_granules),
                         [](const auto &info) { return test::granule_param_name(info.param); });

} // namespace
} // namespace mmfuzz
