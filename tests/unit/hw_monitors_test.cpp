// The on-demand and accessor monitors: TLB_STALE, LOCK, UPDATE_MMU_WALK, LIVENESS, and the
// deferred flush of mmu_gather.
#include "fixture.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace mmfuzz {
namespace {

using test::test_world;

std::size_t count_id(const machine &m, std::string_view id) {
    return static_cast<std::size_t>(std::count_if(m.violations().begin(), m.violations().end(),
                                                  [&](const violation &v) { return v.id == id; }));
}

class HwMonitors : public ::testing::TestWithParam<granule> {
  protected:
    HwMonitors() : w(GetParam()) {}
    void put(std::size_t index, pte_t pte) { w.m.write(w.ptep(index), pte); }
    bool stale_after_check() {
        w.m.clear_violations();
        w.m.check_tlb_stale();
        return count_id(w.m, "TLB_STALE") > 0;
    }
    test_world w;
};

// ---- TLB_STALE -------------------------------------------------------------------------------

TEST_P(HwMonitors, TlbStaleWritableOverReadOnly) {
    folio *f = w.alloc(0);
    put(0, test_world::mk(f));
    ASSERT_TRUE(w.m.hw_access(w.addr(0), true, 0, 1).ok()); // cached writable and dirty
    EXPECT_FALSE(stale_after_check());
    put(0, pte_wrprotect(w.raw(0))); // wrprotect_ptes() leaves the flush to the caller
    EXPECT_TRUE(stale_after_check());
    EXPECT_NE(w.m.violations()[0].detail.find("writable over a read-only"), std::string::npos);
    w.m.flush_tlb_page(w.addr(0)); // the caller's flush
    EXPECT_FALSE(stale_after_check());
}

TEST_P(HwMonitors, TlbStaleDirtyOverClean) {
    folio *f = w.alloc(0);
    put(0, test_world::mk(f));
    ASSERT_TRUE(w.m.hw_access(w.addr(0), true, 0, 1).ok());
    put(0, pte_mkclean(w.raw(0))); // MADV_FREE cleaned it; a write through the TLB would be lost
    EXPECT_TRUE(stale_after_check());
    EXPECT_NE(w.m.violations()[0].detail.find("clean"), std::string::npos);
    // A clean cached entry over a clean table entry is fine: writes re-walk for the DBM update.
    w.m.flush_tlb_mm();
    ASSERT_TRUE(w.m.hw_access(w.addr(0), false).ok());
    EXPECT_FALSE(stale_after_check());
}

TEST_P(HwMonitors, TlbStaleOtherPfnAndValidOverInvalid) {
    folio *a = w.alloc(0);
    folio *b = w.alloc(0);
    put(0, test_world::mk(a));
    put(1, test_world::mk(a, 0, PAGE_READONLY));
    ASSERT_TRUE(w.m.hw_access(w.addr(0), false).ok());
    ASSERT_TRUE(w.m.hw_access(w.addr(1), false).ok());
    put(0, pte_t{0});
    EXPECT_TRUE(stale_after_check());
    EXPECT_NE(w.m.violations()[0].detail.find("not valid"), std::string::npos);
    put(0, test_world::mk(b));
    EXPECT_TRUE(stale_after_check());
    EXPECT_NE(w.m.violations()[0].detail.find("another PFN"), std::string::npos);
    w.m.flush_tlb_page(w.addr(0));
    EXPECT_FALSE(stale_after_check());
}

TEST_P(HwMonitors, TlbStaleAllowsStaleOld) {
    folio *f = w.alloc(0);
    put(0, test_world::mk(f));
    ASSERT_TRUE(w.m.hw_access(w.addr(0), false).ok());
    put(0, pte_mkold(w.raw(0))); // ptep_test_and_clear_young(): no flush
    EXPECT_FALSE(stale_after_check());
    // A cached read-only entry over a now-writable one is less permissive: allowed.
    put(0, pte_wrprotect(w.raw(0)));
    w.m.flush_tlb_mm();
    ASSERT_TRUE(w.m.hw_access(w.addr(0), false).ok());
    put(0, test_world::mk(f));
    EXPECT_FALSE(stale_after_check());
}

TEST_P(HwMonitors, TlbStaleOnAContBlockUsesBlockDirtiness) {
    const std::size_t n = w.geo().cont_ptes();
    folio *f = w.alloc(w.geo().cont_pte_shift);
    for (std::size_t i = 0; i < n; ++i)
        put(i, pte_mkcont(test_world::mk(f, i)));
    // The hardware dirties entry 2 of the block and caches the block dirty.
    ASSERT_TRUE(w.m.hw_access(w.addr(0), true, 2, 1).ok());
    ASSERT_EQ(w.m.tlb_lookup(w.addr(n - 1))->kind, tlb_kind::cont);
    EXPECT_FALSE(stale_after_check()); // entry 0 is clean, but the block is dirty
    put(2, pte_mkclean(w.raw(2)));     // now nothing in the block is dirty
    EXPECT_TRUE(stale_after_check());
}

TEST_P(HwMonitors, TlbStaleOnAPmdBlock) {
    const std::uint64_t base = w.m.window_start() + w.geo().pmd_size();
    folio *f = w.alloc(w.geo().pmd_order());
    const hw_pmdp pmdp = w.m.pmd_off(base);
    w.m.write(pmdp, mk_huge_pmd(f->pfn, PAGE_SHARED));
    ASSERT_TRUE(w.m.hw_access(base + w.geo().page_size(), true, 0, 3).ok());
    EXPECT_FALSE(stale_after_check());
    w.m.write(pmdp, pmd_wrprotect(w.m.read(pmdp)));
    EXPECT_TRUE(stale_after_check());
    w.m.flush_pmd_tlb_range(base, base + w.geo().pmd_size());
    EXPECT_FALSE(stale_after_check());
}

// ---- LOCK ------------------------------------------------------------------------------------

TEST(HwLocks, NestingNeedsASubclass) {
    test_world w(granule::k4);
    const pgtable_t other = w.m.pte_alloc_one();
    w.m.spin_lock(w.m.pte_lockptr(w.table));
    w.m.spin_lock(w.m.pte_lockptr(other)); // two PTE locks without a nesting annotation
    ASSERT_EQ(count_id(w.m, "LOCK"), 1U);
    EXPECT_NE(w.m.violations()[0].detail.find("recursive"), std::string::npos);
    EXPECT_FALSE(w.m.spin_is_locked(w.m.pte_lockptr(other)));
    w.m.clear_violations();
    w.m.spin_lock_nested(w.m.pte_lockptr(other), 1); // SINGLE_DEPTH_NESTING
    EXPECT_TRUE(w.m.spin_is_locked(w.m.pte_lockptr(other)));
    EXPECT_EQ(w.m.held_locks().size(), 2U);
    w.m.spin_unlock(w.m.pte_lockptr(w.table));
    w.m.spin_unlock(w.m.pte_lockptr(other));
    // The PMD lock and a PTE lock are different classes: no annotation needed.
    w.m.spin_lock(w.m.pmd_lockptr());
    w.lock();
    w.unlock();
    w.m.spin_unlock(w.m.pmd_lockptr());
    EXPECT_TRUE(w.m.violations().empty());
    EXPECT_TRUE(w.m.held_locks().empty());
}

TEST(HwLocks, SharedPtlockNeedsTheKernelsGuard) {
    test_world w(granule::k4, "generic", machine_options{.split_ptlocks = false});
    const spinlock_t pmd_ptl = w.m.pmd_lockptr();
    const spinlock_t pte_ptl = w.m.pte_lockptr(w.table);
    ASSERT_EQ(pmd_ptl, pte_ptl);
    // collapse_huge_page(): pmd_lock(), then `if (pte_ptl != pmd_ptl) spin_lock_nested(...)`.
    w.m.spin_lock(pmd_ptl);
    if (pte_ptl != pmd_ptl)
        w.m.spin_lock_nested(pte_ptl, 1);
    w.m.assert_ptl_held(w.ptep(0), "set_ptes");
    w.m.assert_pmd_lock_held("pgtable_trans_huge_deposit");
    if (pte_ptl != pmd_ptl)
        w.m.spin_unlock(pte_ptl);
    w.m.spin_unlock(pmd_ptl);
    EXPECT_TRUE(w.m.violations().empty());
    // Without the guard the same lock is taken twice: a deadlock.
    w.m.spin_lock(pmd_ptl);
    w.m.spin_lock_nested(pte_ptl, 1);
    ASSERT_EQ(count_id(w.m, "LOCK"), 1U);
    EXPECT_NE(w.m.violations()[0].detail.find("deadlock"), std::string::npos);
    w.m.spin_unlock(pmd_ptl);
}

TEST(HwLocks, AssertionsAndRelease) {
    test_world w(granule::k4);
    w.m.assert_ptl_held(w.ptep(0), "ptep_get_and_clear");
    w.m.assert_pmd_lock_held("pgtable_trans_huge_withdraw");
    w.m.assert_lock_held(w.m.pte_lockptr(w.table), "update_mmu_cache_range");
    ASSERT_EQ(count_id(w.m, "LOCK"), 3U);
    EXPECT_NE(w.m.violations()[0].detail.find("ptep_get_and_clear"), std::string::npos);
    EXPECT_NE(w.m.violations()[1].detail.find("PMD lock"), std::string::npos);
    w.m.clear_violations();
    w.lock();
    w.m.spin_lock(w.m.pmd_lockptr());
    w.m.assert_ptl_held(w.ptep(0), "ptep_get_and_clear");
    w.m.assert_pmd_lock_held("pgtable_trans_huge_withdraw");
    w.m.assert_lock_held(w.m.pte_lockptr(w.table), "update_mmu_cache_range");
    EXPECT_TRUE(w.m.violations().empty());
    w.m.spin_unlock(w.m.pmd_lockptr());
    w.m.check_locks_released("the end of op 3");
    ASSERT_EQ(count_id(w.m, "LOCK"), 1U);
    EXPECT_NE(w.m.violations()[0].detail.find("op 3"), std::string::npos);
    w.unlock();
    w.m.clear_violations();
    w.m.check_locks_released("the end of op 4");
    w.unlock(); // not held any more
    ASSERT_EQ(count_id(w.m, "LOCK"), 1U);
    EXPECT_NE(w.m.violations()[0].detail.find("not held"), std::string::npos);
}

// ---- UPDATE_MMU_WALK
// -----------------------------------------------------------------------------

TEST_P(HwMonitors, UpdateMmuWalkOnADetachedTable) {
    folio *f = w.map_folio(4, 2);
    (void)f;
    w.lock();
    w.ops->update_mmu_cache_range(&w.vma, w.addr(4), w.ptep(4), 4);
    EXPECT_TRUE(w.m.violations().empty());
    const hw_ptep detached = w.ptep(4);
    const pmd_t old = w.m.xchg(w.pmdp, pmd_t{0}); // detached, as collapse does
    w.ops->update_mmu_cache_range(&w.vma, w.addr(4), detached, 4);
    ASSERT_EQ(count_id(w.m, "UPDATE_MMU_WALK"), 1U);
    EXPECT_NE(w.m.violations()[0].detail.find("does not point to a table"), std::string::npos);
    // Published again (seed 003's order): the walk finds the entries.
    w.m.clear_violations();
    w.m.write(w.pmdp, old);
    w.ops->update_mmu_cache_range(&w.vma, w.addr(4), detached, 4);
    EXPECT_TRUE(w.m.violations().empty());
    // Another table at that PMD, and a range running off the end of the table.
    w.m.update_mmu_walk_check(w.addr(4), w.ptep(5), 1);
    const std::size_t last = w.geo().ptrs_per_pte() - 1;
    w.m.update_mmu_walk_check(w.addr(last), w.ptep(last), 2);
    EXPECT_EQ(count_id(w.m, "UPDATE_MMU_WALK"), 2U);
    w.unlock();
}

// ---- LIVENESS -------------------------------------------------------------------------------

TEST_P(HwMonitors, ALiveHandleOnADetachedTable) {
    folio *f = w.alloc(0);
    const hw_ptep p = w.ptep(0);
    w.m.write(p, test_world::mk(f));
    w.m.read(p);
    EXPECT_TRUE(w.m.violations().empty());
    w.m.write(w.pmdp, pmd_t{0});
    w.m.flush_tlb_mm();
    EXPECT_EQ(w.m.peek_pte(w.table, 0), test_world::mk(f)); // the oracle's raw read: no check
    EXPECT_TRUE(w.m.violations().empty());
    EXPECT_EQ(w.m.read(p), test_world::mk(f));
    w.m.read_once(p);
    w.m.xchg(p, pte_t{0});
    w.m.write(p, test_world::mk(f));
    ASSERT_EQ(count_id(w.m, "LIVENESS"), 4U);
    EXPECT_NE(w.m.violations()[0].detail.find("live handle"), std::string::npos);
    // The same table through a staged handle is fine.
    w.m.clear_violations();
    const staged_ptep s = w.m.pte_offset_staged(w.table, w.addr(0));
    w.m.write(s, pte_t{0});
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(HwMonitors, AStagedHandleOnAPublishedTable) {
    folio *f = w.alloc(0);
    const pgtable_t t = w.m.pte_alloc_one();
    const std::uint64_t base = w.m.window_start() + w.geo().pmd_size();
    const staged_ptep s = w.m.pte_offset_staged(t, base);
    w.m.write(s, test_world::mk(f));
    EXPECT_TRUE(w.m.violations().empty());
    w.ops->pmd_populate(&w.m.mm, w.m.pmd_off(base), t);
    w.m.read(s);
    w.m.write(s, pte_t{0});
    ASSERT_EQ(count_id(w.m, "LIVENESS"), 2U);
    EXPECT_NE(w.m.violations()[0].detail.find("staged handle"), std::string::npos);
}

// ---- mmu_gather ------------------------------------------------------------------------------

TEST_P(HwMonitors, MmuGatherFlushesTheUnionAtTheEnd) {
    folio *f = w.map_folio(8, 2);
    ASSERT_TRUE(w.m.hw_access(w.addr(9), true, 0, 1).ok());
    w.m.clear_logs();
    mmu_gather tlb(w.m);
    w.lock();
    w.ops->get_and_clear_full_ptes(&w.m.mm, w.addr(8), w.ptep(8), 2, 0);
    tlb.remove_tlb_entries(w.addr(8), 2);
    w.ops->get_and_clear_full_ptes(&w.m.mm, w.addr(10), w.ptep(10), 2, 0);
    tlb.remove_tlb_entries(w.addr(10), 2);
    w.unlock();
    EXPECT_TRUE(tlb.pending());
    EXPECT_TRUE(w.m.flush_log().empty());
    w.m.check_tlb_stale(); // the op is not over: the caller had not finished its gather
    EXPECT_EQ(count_id(w.m, "TLB_STALE"), 1U);
    w.m.clear_violations();
    tlb.finish_mmu();
    EXPECT_FALSE(tlb.pending());
    ASSERT_EQ(w.m.flush_log().size(), 1U);
    const tlb_flush &fl = w.m.flush_log()[0];
    EXPECT_EQ(fl.start, w.addr(8));
    EXPECT_EQ(fl.end, w.addr(12));
    EXPECT_EQ(fl.stride, w.geo().page_size());
    EXPECT_TRUE(fl.last_level);
    EXPECT_EQ(fl.level, tlb_level_pte); // tlb_get_level(): only PTEs were cleared
    EXPECT_EQ(w.m.bbm_unflushed_breaks(), 0U);
    w.m.check_tlb_stale();
    EXPECT_TRUE(w.m.violations().empty());
    // Freeing the table makes the flush reach the walk cache; a cleared PMD uses PMD stride.
    // The table is freed after the flush, not when it is gathered.
    const pgtable_t unlinked = w.m.pte_alloc_one();
    mmu_gather t2(w.m);
    t2.pte_free_tlb(unlinked, w.addr(0));
    EXPECT_TRUE(w.m.table_allocated(unlinked));
    t2.finish_mmu();
    EXPECT_FALSE(w.m.table_allocated(unlinked));
    ASSERT_EQ(w.m.flush_log().size(), 2U);
    EXPECT_FALSE(w.m.flush_log()[1].last_level);
    EXPECT_EQ(w.m.flush_log()[1].stride, w.geo().pmd_size());
    EXPECT_EQ(w.m.flush_log()[1].level, tlbi_ttl_unknown); // the hint is for leaves only
    mmu_gather t3(w.m, true);
    t3.remove_pmd_tlb_entry(w.m.window_start());
    t3.finish_mmu();
    ASSERT_EQ(w.m.flush_log().size(), 3U);
    EXPECT_EQ(w.m.flush_log()[2].kind, flush_kind::mm);
    mmu_gather idle(w.m);
    idle.finish_mmu(); // nothing gathered: no flush
    EXPECT_EQ(w.m.flush_log().size(), 3U);
    // Only PMD leaves: the PMD level; PTEs and PMDs together: no hint, page stride.
    mmu_gather t4(w.m);
    t4.remove_pmd_tlb_entry(w.m.window_start());
    t4.finish_mmu();
    mmu_gather t5(w.m);
    t5.remove_pmd_tlb_entry(w.m.window_start());
    t5.remove_tlb_entry(w.m.window_start() + w.geo().pmd_size());
    t5.finish_mmu();
    ASSERT_EQ(w.m.flush_log().size(), 5U);
    EXPECT_EQ(w.m.flush_log()[3].level, tlb_level_pmd);
    EXPECT_TRUE(w.m.flush_log()[3].last_level);
    EXPECT_EQ(w.m.flush_log()[4].level, tlbi_ttl_unknown);
    EXPECT_EQ(w.m.flush_log()[4].stride, w.geo().page_size());
    (void)f;
}

INSTANTIATE_TEST_SUITE_P(AllGranules, HwMonitors, ::testing::ValuesIn(test::all_granules),
                         [](const auto &info) { return test::granule_param_name(info.param); });

} // namespace
} // namespace mmfuzz
