// The operations of SEMANTICS 1.6 on the arm64 contpte implementation, for every granule: what
// each does to CONT blocks, the raw table afterwards, its return value and its flush requests.
#include "contpte_fixture.hpp"

namespace mmfuzz {
namespace {

using test::ContpteTest;
using test::test_world;

class ContpteOps : public ContpteTest {
  protected:
    /// A CONT block at index 0 of a new folio, old and clean; then a write to its first page for
    /// which the MMU picks entry `hot` of the block to set AF and dirty on.
    folio *old_block_with_hot_entry(std::size_t hot) {
        folio *f = map_folio_as(0, cont_order(), pte_mkold);
        touch(0, true, static_cast<unsigned>(hot));
        EXPECT_TRUE(pte_young(w.raw(hot)) && pte_hw_dirty(w.raw(hot)));
        EXPECT_FALSE(hot != 0 && pte_young(w.raw(0)));
        w.m.clear_logs();
        return f;
    }
};

TEST_P(ContpteOps, PtepGetGathersYoungAndDirtyAndHidesCont) {
    folio *f = map_folio_as(0, cont_order(), pte_mkold);
    touch(0, true, static_cast<unsigned>(C() - 1)); // the MMU updates the last entry
    for (const pte_t got : {w.ops->ptep_get(w.ptep(0)), w.ops->ptep_get_once(w.ptep(0))}) {
        EXPECT_TRUE(pte_young(got));
        EXPECT_TRUE(pte_dirty(got));
        EXPECT_FALSE(pte_cont(got));
        EXPECT_EQ(pte_pfn(got), f->pfn);
    }
    // Reading changes nothing.
    EXPECT_TRUE(pte_valid_cont(w.raw(0)));
    EXPECT_FALSE(pte_young(w.raw(0)));
    EXPECT_FALSE(pte_dirty(w.raw(0)));
}

TEST_P(ContpteOps, PtepGetDoesNotGatherOutsideACont) {
    folio *f = w.alloc(cont_order());
    for (std::size_t i = 0; i + 1 < C(); ++i)
        set_one(i, pte_mkold(test_world::mk(f, i)));
    touch(1, true); // not CONT: the MMU can only update entry 1
    ASSERT_TRUE(pte_hw_dirty(w.raw(1)));
    const pte_t got = w.ops->ptep_get(w.ptep(0));
    EXPECT_FALSE(pte_young(got));
    EXPECT_FALSE(pte_dirty(got));
}

TEST_P(ContpteOps, PtepGetHidesContOnAnInvalidBlock) {
    folio *f = w.alloc(cont_order());
    set_batch(0, test_world::mk(f, 0, PAGE_NONE), static_cast<unsigned>(C()));
    ASSERT_TRUE(pte_cont(w.raw(1))); // contpte_set_ptes() does not look at validity
    ASSERT_TRUE(pte_present_invalid(w.raw(1)));
    EXPECT_FALSE(pte_cont(w.ops->ptep_get(w.ptep(1))));
    EXPECT_FALSE(pte_cont(w.ops->ptep_get_lockless(w.ptep(1))));
    EXPECT_TRUE(pte_protnone(w.ops->ptep_get(w.ptep(1))));
}

TEST_P(ContpteOps, PtepGetLocklessGathersOverAConsistentBlock) {
    folio *f = old_block_with_hot_entry(C() - 2);
    const pte_t got = w.ops->ptep_get_lockless(w.ptep(1));
    EXPECT_TRUE(pte_young(got));
    EXPECT_TRUE(pte_dirty(got));
    EXPECT_FALSE(pte_cont(got));
    EXPECT_EQ(pte_pfn(got), f->pfn + 1);
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(ContpteOps, PtepGetLocklessValidatesTheEntriesItReads) {
    old_block_with_hot_entry(C() - 2);
    const pte_t stray = w.raw(5);
    write_raw(5, pte_advance_pfn(stray, 1)); // a PFN out of sequence, still CONT
    ASSERT_FALSE(w.m.violations().empty());  // which the BBM monitor sees as it happens
    w.m.clear_violations();
    const pte_t locked = w.ops->ptep_get(w.ptep(1));
    EXPECT_TRUE(pte_dirty(locked)); // the PTL reader trusts the block
    EXPECT_TRUE(w.m.violations().empty());

    // The scan meets entry 5 before any young or dirty entry.
    const pte_t lockless = w.ops->ptep_get_lockless(w.ptep(1));
    EXPECT_FALSE(pte_dirty(lockless)); // nothing gathered from an inconsistent block
    EXPECT_FALSE(pte_cont(lockless));
    ASSERT_EQ(w.m.violations().size(), 1U);
    EXPECT_EQ(w.m.violations()[0].id, "CONT_BLOCK");
    w.m.clear_violations();
}

TEST_P(ContpteOps, PtepGetLocklessStopsOnceItHasSeenYoungAndDirty) {
    old_block_with_hot_entry(2);
    write_raw(5, pte_advance_pfn(w.raw(5), 1));
    w.m.clear_violations(); // the BBM monitor's
    // Upstream's scan ends at entry 2, young and dirty: entry 5 is never read.
    const pte_t lockless = w.ops->ptep_get_lockless(w.ptep(1));
    EXPECT_TRUE(pte_young(lockless));
    EXPECT_TRUE(pte_dirty(lockless));
    EXPECT_FALSE(pte_cont(lockless));
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(ContpteOps, PteClearUnfoldsThenClears) {
    old_block_with_hot_entry(4);
    w.lock();
    w.ops->pte_clear(&w.m.mm, w.addr(2), w.ptep(2));
    w.unlock();
    EXPECT_TRUE(pte_none(w.raw(2)));
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_TRUE(pte_dirty(w.raw(0)));
    ASSERT_EQ(flushes().size(), 1U);
    expect_range_flush(flushes()[0], 0, C());
}

TEST_P(ContpteOps, PtepGetAndClearReturnsTheYoungAndDirtyOfTheBlock) {
    folio *f = old_block_with_hot_entry(C() - 1);
    w.lock();
    const pte_t got = w.ops->ptep_get_and_clear(&w.m.mm, w.addr(0), w.ptep(0));
    w.unlock();
    EXPECT_TRUE(pte_young(got));
    EXPECT_TRUE(pte_dirty(got));
    EXPECT_FALSE(pte_cont(got));
    EXPECT_EQ(pte_pfn(got), f->pfn);
    EXPECT_TRUE(pte_none(w.raw(0)));
    for (std::size_t i = 1; i < C(); ++i) {
        EXPECT_FALSE(cont(i));
        EXPECT_TRUE(pte_dirty(w.raw(i))); // the rest of the block keeps the spread A/D
    }
    ASSERT_EQ(flushes().size(), 1U);
    expect_range_flush(flushes()[0], 0, C());
    EXPECT_EQ(w.m.page(f->pfn).anon_map_count, 0);
    EXPECT_EQ(w.m.page(f->pfn + 1).anon_map_count, 1);
}

TEST_P(ContpteOps, GetAndClearFullPtesOverWholeBlocksNeitherUnfoldsNorFlushes) {
    folio *f = map_folio_as(0, cont_order() + 1, pte_mkold);
    touch(C(), true, static_cast<unsigned>(C() - 1)); // entry 2C-1 becomes young and dirty
    w.m.clear_logs();
    w.lock();
    const pte_t got = w.ops->get_and_clear_full_ptes(&w.m.mm, w.addr(0), w.ptep(0),
                                                     static_cast<unsigned>(2 * C()), 1);
    w.unlock();
    EXPECT_TRUE(pte_dirty(got)); // accumulated from the last entry
    EXPECT_TRUE(pte_young(got));
    EXPECT_FALSE(pte_cont(got));
    EXPECT_EQ(pte_pfn(got), f->pfn);
    for (std::size_t i = 0; i < 2 * C(); ++i)
        EXPECT_TRUE(pte_none(w.raw(i)));
    EXPECT_EQ(w.m.write_log().size(), 2 * C());
    EXPECT_TRUE(flushes().empty());
}

TEST_P(ContpteOps, GetAndClearFullPtesUnfoldsOnlyTheEdgeBlocks) {
    map_folio_as(0, cont_order() + 2, pte_mkold);
    touch(0, true, static_cast<unsigned>(C() / 2)); // entry C/2: inside the range, first block
    w.m.clear_logs();
    const std::size_t start = C() / 2;
    const auto nr = static_cast<unsigned>(3 * C());
    w.lock();
    const pte_t got = w.ops->get_and_clear_full_ptes(&w.m.mm, w.addr(start), w.ptep(start), nr, 0);
    w.unlock();
    EXPECT_TRUE(pte_dirty(got));
    for (std::size_t i = 0; i < start; ++i) {
        EXPECT_TRUE(pte_valid(w.raw(i)) && !cont(i)) << i;
        EXPECT_TRUE(pte_dirty(w.raw(i))) << i; // spread by the unfold
    }
    for (std::size_t i = start; i < start + nr; ++i)
        EXPECT_TRUE(pte_none(w.raw(i))) << i;
    for (std::size_t i = start + nr; i < 4 * C(); ++i) {
        EXPECT_TRUE(pte_valid(w.raw(i)) && !cont(i)) << i;
        EXPECT_FALSE(pte_dirty(w.raw(i))) << i;
    }
    ASSERT_EQ(flushes().size(), 2U); // the two unfolds, nothing for the cleared range
    expect_range_flush(flushes()[0], 0, C());
    expect_range_flush(flushes()[1], 3 * C(), 4 * C());
    // Two converted blocks plus the cleared range.
    EXPECT_EQ(w.m.write_log().size(), 4 * C() + nr);
}

TEST_P(ContpteOps, ClearFullPtesUnfoldsOnlyTheEdgeBlocks) {
    map_cont_blocks(0, cont_order() + 1);
    w.m.clear_logs();
    w.lock();
    w.ops->clear_full_ptes(&w.m.mm, w.addr(1), w.ptep(1), static_cast<unsigned>(C() - 1), 1);
    w.unlock();
    EXPECT_TRUE(pte_valid(w.raw(0)) && !cont(0));
    EXPECT_EQ(count_cont(C(), C()), C());
    ASSERT_EQ(flushes().size(), 1U);
    expect_range_flush(flushes()[0], 0, C());

    w.m.clear_logs();
    w.lock();
    w.ops->clear_full_ptes(&w.m.mm, w.addr(C() + 2), w.ptep(C() + 2), 1, 0);
    w.unlock();
    EXPECT_TRUE(pte_none(w.raw(C() + 2)));
    EXPECT_EQ(count_cont(C(), C()), 0U);
    ASSERT_EQ(flushes().size(), 1U);
    expect_range_flush(flushes()[0], C(), 2 * C());
}

TEST_P(ContpteOps, TestAndClearYoungOfOneEntryClearsTheWholeBlock) {
    map_cont_blocks(0, cont_order());
    folio *g = w.alloc(cont_order());
    map_each(C(), g, 0, C() - 1); // a neighbouring block that is not CONT
    w.m.clear_logs();
    w.lock();
    EXPECT_TRUE(w.ops->ptep_test_and_clear_young(&w.vma, w.addr(3), w.ptep(3)));
    for (std::size_t i = 0; i < C(); ++i) {
        EXPECT_FALSE(pte_young(w.raw(i))) << i;
        EXPECT_TRUE(cont(i)) << i;
    }
    EXPECT_TRUE(pte_young(w.raw(C())));
    EXPECT_FALSE(w.ops->ptep_test_and_clear_young(&w.vma, w.addr(5), w.ptep(5)));
    EXPECT_TRUE(w.ops->ptep_test_and_clear_young(&w.vma, w.addr(C() + 1), w.ptep(C() + 1)));
    w.unlock();
    EXPECT_FALSE(pte_young(w.raw(C() + 1)));
    EXPECT_TRUE(pte_young(w.raw(C()))); // not CONT: only that entry
    EXPECT_TRUE(flushes().empty());
}

TEST_P(ContpteOps, ClearFlushYoungFlushesTheBlockOnlyIfYoung) {
    map_cont_blocks(0, cont_order());
    folio *g = w.alloc(0);
    set_one(C(), test_world::mk(g));
    w.m.clear_logs();
    w.lock();
    EXPECT_TRUE(w.ops->ptep_clear_flush_young(&w.vma, w.addr(3), w.ptep(3)));
    ASSERT_EQ(flushes().size(), 1U);
    expect_range_flush(flushes()[0], 0, C());
    EXPECT_EQ(count_cont(0, C()), C());
    EXPECT_FALSE(w.ops->ptep_clear_flush_young(&w.vma, w.addr(3), w.ptep(3)));
    EXPECT_EQ(flushes().size(), 1U);
    EXPECT_TRUE(w.ops->ptep_clear_flush_young(&w.vma, w.addr(C()), w.ptep(C())));
    w.unlock();
    ASSERT_EQ(flushes().size(), 2U);
    EXPECT_EQ(flushes()[1].kind, flush_kind::page);
    EXPECT_EQ(flushes()[1].start, w.addr(C()));
}

TEST_P(ContpteOps, ClearFlushYoungPtesWidensToBlockEdges) {
    map_folio_as(0, cont_order() + 1, pte_mkold);
    touch(0, false, static_cast<unsigned>(C() - 1));
    touch(C(), false, static_cast<unsigned>(C() - 1)); // entry 2C-1: outside the range asked for
    ASSERT_TRUE(pte_young(w.raw(2 * C() - 1)));
    w.m.clear_logs();
    w.lock();
    EXPECT_TRUE(w.ops->clear_flush_young_ptes(&w.vma, w.addr(C() / 2), w.ptep(C() / 2),
                                              static_cast<unsigned>(C())));
    w.unlock();
    for (std::size_t i = 0; i < 2 * C(); ++i) {
        EXPECT_FALSE(pte_young(w.raw(i))) << i;
        EXPECT_TRUE(cont(i)) << i;
    }
    ASSERT_EQ(flushes().size(), 1U);
    expect_range_flush(flushes()[0], 0, 2 * C());
}

TEST_P(ContpteOps, ClearYoungDirtyPtesWidensToBlockEdgesWithoutUnfolding) {
    folio *f = map_folio_as(0, cont_order() + 1, [](pte_t p) { return pte_mkdirty(p); });
    folio *g = w.alloc(cont_order());
    for (std::size_t i = 0; i + 1 < C(); ++i)
        set_one(2 * C() + i, pte_mkdirty(test_world::mk(g, i))); // not CONT
    w.m.clear_logs();
    w.lock();
    w.ops->clear_young_dirty_ptes(&w.vma, w.addr(C() / 2), w.ptep(C() / 2),
                                  static_cast<unsigned>(C()), CYDP_CLEAR_YOUNG | CYDP_CLEAR_DIRTY);
    w.unlock();
    for (std::size_t i = 0; i < 2 * C(); ++i) {
        EXPECT_FALSE(pte_young(w.raw(i))) << i;
        EXPECT_FALSE(pte_dirty(w.raw(i))) << i;
        EXPECT_TRUE(cont(i)) << i;
        EXPECT_EQ(pte_pfn(w.raw(i)), f->pfn + i);
    }
    EXPECT_TRUE(pte_dirty(w.raw(2 * C())));
    EXPECT_EQ(w.m.write_log().size(), 2 * C());
    EXPECT_TRUE(flushes().empty());

    w.lock();
    w.ops->clear_young_dirty_ptes(&w.vma, w.addr(2 * C() + 1), w.ptep(2 * C() + 1), 1,
                                  CYDP_CLEAR_DIRTY);
    w.unlock();
    EXPECT_FALSE(pte_dirty(w.raw(2 * C() + 1)));
    EXPECT_TRUE(pte_young(w.raw(2 * C() + 1)));
    EXPECT_TRUE(pte_dirty(w.raw(2 * C())));
}

TEST_P(ContpteOps, ClearYoungOnlyKeepsDirtyAcrossTheBlock) {
    map_folio_as(0, cont_order(), [](pte_t p) { return pte_mkdirty(p); });
    w.lock();
    w.ops->clear_young_dirty_ptes(&w.vma, w.addr(1), w.ptep(1), 1, CYDP_CLEAR_YOUNG);
    w.unlock();
    for (std::size_t i = 0; i < C(); ++i) {
        EXPECT_FALSE(pte_young(w.raw(i))) << i;
        EXPECT_TRUE(pte_dirty(w.raw(i))) << i;
    }
}

TEST_P(ContpteOps, WrprotectOfOneEntryUnfoldsItsBlock) {
    map_folio_as(0, cont_order(), [](pte_t p) { return pte_mkdirty(p); });
    w.m.clear_logs();
    w.lock();
    w.ops->ptep_set_wrprotect(&w.m.mm, w.addr(3), w.ptep(3));
    w.unlock();
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_FALSE(pte_write(w.raw(3)));
    EXPECT_TRUE(pte_sw_dirty(w.raw(3))); // hardware dirty moved to the software bit
    EXPECT_TRUE(pte_write(w.raw(2)));
    ASSERT_EQ(flushes().size(), 1U);
    expect_range_flush(flushes()[0], 0, C());
}

TEST_P(ContpteOps, WrprotectPtesKeepsWholeBlocksCont) {
    map_folio_as(0, cont_order() + 2, [](pte_t p) { return pte_mkdirty(p); });
    w.m.clear_logs();
    const std::size_t start = C() / 2;
    const std::size_t end = start + 3 * C();
    w.lock();
    w.ops->wrprotect_ptes(&w.m.mm, w.addr(start), w.ptep(start), static_cast<unsigned>(3 * C()));
    w.unlock();
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_EQ(count_cont(C(), 2 * C()), 2 * C());
    EXPECT_EQ(count_cont(3 * C(), C()), 0U);
    for (std::size_t i = 0; i < 4 * C(); ++i) {
        EXPECT_EQ(pte_write(w.raw(i)), i < start || i >= end) << i;
        EXPECT_TRUE(pte_dirty(w.raw(i))) << i;
    }
    ASSERT_EQ(flushes().size(), 2U); // the edge unfolds only
    expect_range_flush(flushes()[0], 0, C());
    expect_range_flush(flushes()[1], 3 * C(), 4 * C());
}

TEST_P(ContpteOps, SetAccessFlagsOnASingleEntryOnlyAddsPermissions) {
    folio *f = w.alloc(0);
    const pte_t pte = test_world::mk(f); // young, writable, clean
    set_one(5, pte);
    w.m.clear_logs();
    w.lock();
    EXPECT_EQ(w.ops->ptep_set_access_flags(&w.vma, w.addr(5), w.ptep(5), pte, 0), 0);
    EXPECT_EQ(w.ops->ptep_set_access_flags(&w.vma, w.addr(5), w.ptep(5), pte_mkold(pte), 0), 1);
    EXPECT_TRUE(pte_young(w.raw(5))); // AF is never taken away
    EXPECT_TRUE(flushes().empty());
    EXPECT_EQ(w.ops->ptep_set_access_flags(&w.vma, w.addr(5), w.ptep(5), pte_mkdirty(pte), 1), 1);
    w.unlock();
    EXPECT_TRUE(pte_hw_dirty(w.raw(5)));
    ASSERT_EQ(flushes().size(), 1U);
    EXPECT_EQ(flushes()[0].kind, flush_kind::page);
    EXPECT_EQ(flushes()[0].start, w.addr(5));
}

TEST_P(ContpteOps, SetAccessFlagsIsANoOpWhenEveryEntryMatches) {
    map_cont_blocks(0, cont_order());
    w.m.clear_logs();
    w.lock();
    const pte_t entry = w.ops->ptep_get(w.ptep(3));
    EXPECT_EQ(w.ops->ptep_set_access_flags(&w.vma, w.addr(3), w.ptep(3), entry, 1), 0);
    w.unlock();
    EXPECT_TRUE(w.m.write_log().empty());
    EXPECT_TRUE(flushes().empty());
}

TEST_P(ContpteOps, SetAccessFlagsUpdatesEveryEntryWhenOnlyASiblingMatches) {
    map_cont_blocks(0, cont_order());
    touch(0, true, 2); // the MMU dirties entry 2 only
    w.m.clear_logs();
    w.lock();
    const pte_t entry = pte_mkdirty(w.ops->ptep_get(w.ptep(5)));
    ASSERT_EQ(w.ops->ptep_get(w.ptep(5)), entry); // the gathered view already looks dirty
    EXPECT_EQ(w.ops->ptep_set_access_flags(&w.vma, w.addr(5), w.ptep(5), entry, 1), 1);
    w.unlock();
    for (std::size_t i = 0; i < C(); ++i) {
        EXPECT_TRUE(pte_hw_dirty(w.raw(i))) << i;
        EXPECT_TRUE(cont(i)) << i;
    }
    ASSERT_EQ(flushes().size(), 1U);
    expect_range_flush(flushes()[0], 0, C());
}

TEST_P(ContpteOps, SetAccessFlagsAppliesToAllEntriesWhenTheWriteBitIsUnchanged) {
    map_folio_as(0, cont_order(), pte_mkold);
    w.m.clear_logs();
    w.lock();
    const pte_t entry = pte_mkyoung(w.ops->ptep_get(w.ptep(4)));
    EXPECT_EQ(w.ops->ptep_set_access_flags(&w.vma, w.addr(4), w.ptep(4), entry, 0), 1);
    w.unlock();
    for (std::size_t i = 0; i < C(); ++i) {
        EXPECT_TRUE(pte_young(w.raw(i))) << i;
        EXPECT_TRUE(cont(i)) << i;
    }
    EXPECT_TRUE(flushes().empty()); // dirty == 0
}

TEST_P(ContpteOps, SetAccessFlagsUnfoldsWhenTheWriteBitChanges) {
    folio *f = w.alloc(cont_order());
    set_batch(0, test_world::mk(f, 0, PAGE_READONLY), static_cast<unsigned>(C()));
    ASSERT_EQ(count_cont(0, C()), C());
    w.m.clear_logs();
    w.lock();
    const pte_t entry = pte_mkwrite_novma(pte_mkdirty(w.ops->ptep_get(w.ptep(4))));
    EXPECT_EQ(w.ops->ptep_set_access_flags(&w.vma, w.addr(4), w.ptep(4), entry, 1), 1);
    w.unlock();
    EXPECT_EQ(count_cont(0, C()), 0U);
    for (std::size_t i = 0; i < C(); ++i)
        EXPECT_EQ(pte_write(w.raw(i)), i == 4) << i;
    EXPECT_TRUE(pte_hw_dirty(w.raw(4)));
    ASSERT_EQ(flushes().size(), 2U);
    expect_range_flush(flushes()[0], 0, C()); // the unfold
    EXPECT_EQ(flushes()[1].kind, flush_kind::page);
    EXPECT_EQ(flushes()[1].start, w.addr(4));
}

TEST_P(ContpteOps, ModifyProtRoundTripsAWholeBlock) {
    map_folio_as(0, cont_order(), pte_mkold);
    touch(0, true, 5);
    w.m.clear_logs();
    const auto nr = static_cast<unsigned>(C());
    w.lock();
    const pte_t old = w.ops->modify_prot_start_ptes(&w.vma, w.addr(0), w.ptep(0), nr);
    EXPECT_TRUE(pte_dirty(old));
    EXPECT_FALSE(pte_cont(old));
    for (std::size_t i = 0; i < C(); ++i)
        EXPECT_TRUE(pte_none(w.raw(i)));
    w.ops->modify_prot_commit_ptes(&w.vma, w.addr(0), w.ptep(0), old,
                                   pte_modify(old, PAGE_READONLY), nr);
    w.unlock();
    for (std::size_t i = 0; i < C(); ++i) {
        EXPECT_TRUE(pte_valid_cont(w.raw(i))) << i;
        EXPECT_FALSE(pte_write(w.raw(i))) << i;
        EXPECT_TRUE(pte_dirty(w.raw(i))) << i;
    }
    EXPECT_TRUE(flushes().empty());
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(ContpteOps, ModifyProtOfAPartialRangeUnfoldsTheBlock) {
    map_cont_blocks(0, cont_order());
    w.m.clear_logs();
    const std::size_t start = C() / 2;
    const auto nr = static_cast<unsigned>(C() / 2);
    w.lock();
    const pte_t old = w.ops->modify_prot_start_ptes(&w.vma, w.addr(start), w.ptep(start), nr);
    w.ops->modify_prot_commit_ptes(&w.vma, w.addr(start), w.ptep(start), old,
                                   pte_modify(old, PAGE_READONLY), nr);
    w.unlock();
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_TRUE(pte_write(w.raw(0)));
    EXPECT_FALSE(pte_write(w.raw(start)));
    ASSERT_EQ(flushes().size(), 1U);
    expect_range_flush(flushes()[0], 0, C());
}

TEST_P(ContpteOps, CallsUnderThePtlAssertIt) {
    map_cont_blocks(0, cont_order());
    w.ops->ptep_test_and_clear_young(&w.vma, w.addr(0), w.ptep(0));
    ASSERT_EQ(w.m.violations().size(), 1U);
    EXPECT_EQ(w.m.violations()[0].id, "LOCK");
    w.m.clear_violations();
}

INSTANTIATE_TEST_SUITE_P(AllGranules, ContpteOps, ::testing::ValuesIn(test::all_granules),
                         test::contpte_param_name);

} // namespace
} // namespace mmfuzz
