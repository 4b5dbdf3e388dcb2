// The simulated memory: tables, liveness, logs, folios, page_table_check counters and locks.
#include "fixture.hpp"
#include "pgtable/softleaf.hpp"

#include <gtest/gtest.h>

namespace mmfuzz {
namespace {

using test::test_world;

class MachineTest : public ::testing::TestWithParam<granule> {};

TEST_P(MachineTest, HandlesIndexTheirTableLikeTheKernel) {
    test_world w(GetParam());
    const std::size_t last = w.geo().ptrs_per_pte() - 1;
    EXPECT_EQ(hw_pte_index(w.ptep(0), w.geo().ptrs_per_pte()), 0U);
    EXPECT_EQ(hw_pte_index(w.ptep(last), w.geo().ptrs_per_pte()), last);
    EXPECT_EQ(w.m.index_of(w.ptep(last)), last);
    EXPECT_EQ(hw_pte_next(w.ptep(3)), w.ptep(4));
    EXPECT_EQ(hw_pte_add(w.ptep(3), 5), w.ptep(8));
    EXPECT_EQ(hw_pte_distance(w.ptep(3), w.ptep(8)), 5);
    EXPECT_EQ(w.m.table_of(w.ptep(7)), w.table);
}

// Page-table pages are not adjacent in the kernel: a handle moved past either end of its
// table, into what would be the next table in this memory, is a misuse, not that table's entry.
TEST_P(MachineTest, AHandleMovedPastItsTableIsAMisuse) {
    test_world w(GetParam());
    const pgtable_t next = w.m.pte_alloc_one();
    const auto n = static_cast<std::ptrdiff_t>(w.geo().ptrs_per_pte());
    EXPECT_NO_THROW((void)w.m.read(w.ptep(0)));
    EXPECT_THROW((void)w.m.read(hw_pte_add(w.ptep(0), -1)), api_misuse);
    EXPECT_THROW((void)w.m.read(hw_pte_add(w.ptep(0), n)), api_misuse);
    EXPECT_THROW(w.m.write(hw_pte_add(w.ptep(0), n), pte_t{}), api_misuse);
    const staged_ptep staged = w.m.pte_offset_staged(next, w.addr(0));
    EXPECT_NO_THROW((void)w.m.read(staged));
    EXPECT_NE(w.m.table_of(hw_pte_add(w.ptep(0), n)), next);
    w.m.pte_free(next);
}

TEST_P(MachineTest, PmdPopulateMakesATableLiveAndClearingDetachesIt) {
    test_world w(GetParam());
    EXPECT_TRUE(w.m.table_is_live(w.table));
    EXPECT_EQ(w.m.table_va(w.table), w.m.window_start());
    EXPECT_EQ(w.m.live_table_for(w.addr(5)), w.table);
    const pgtable_t staged = w.m.pte_alloc_one();
    EXPECT_FALSE(w.m.table_is_live(staged));
    EXPECT_FALSE(w.m.live_table_for(w.m.window_start() + w.geo().pmd_size()).has_value());
    EXPECT_THROW(w.m.pte_free(w.table), api_misuse); // still reachable
    w.ops->pmdp_huge_get_and_clear(&w.m.mm, w.m.window_start(), w.pmdp);
    EXPECT_FALSE(w.m.table_is_live(w.table));
    EXPECT_FALSE(w.m.pte_offset_map(w.pmdp, w.addr(0)).has_value());
    w.m.pte_free(w.table);
    w.m.pte_free(staged);
}

TEST_P(MachineTest, EveryWriteIsLoggedWithLiveness) {
    test_world w(GetParam());
    folio *f = w.alloc(0);
    const pgtable_t t2 = w.m.pte_alloc_one();
    w.m.write(w.ptep(2), test_world::mk(f));
    w.m.write(w.m.pte_offset_staged(t2, w.addr(2)), test_world::mk(f));
    ASSERT_EQ(w.m.write_log().size(), 2U);
    const auto &a = w.m.write_log()[0];
    EXPECT_EQ(a.level, pt_level::pte);
    EXPECT_EQ(a.table, w.table.pfn);
    EXPECT_EQ(a.index, 2U);
    EXPECT_TRUE(a.live);
    EXPECT_EQ(a.old_val, 0U);
    EXPECT_EQ(a.new_val, pte_val(test_world::mk(f)));
    const auto &b = w.m.write_log()[1];
    EXPECT_EQ(b.table, t2.pfn);
    EXPECT_FALSE(b.live);
    EXPECT_LT(a.seq, b.seq);
    w.m.clear_logs();
    EXPECT_TRUE(w.m.write_log().empty());
}

TEST_P(MachineTest, FoliosAreNaturallyAlignedAndDistinct) {
    test_world w(GetParam());
    const unsigned top = w.geo().pmd_order();
    folio *small = w.alloc(0);
    folio *cont = w.alloc(w.geo().cont_pte_shift);
    folio *pmd = w.alloc(top);
    EXPECT_EQ(cont->pfn % w.geo().cont_ptes(), 0U);
    EXPECT_EQ(pmd->pfn % w.geo().ptrs_per_pte(), 0U);
    EXPECT_EQ(w.m.pfn_folio(cont->pfn + 3), cont);
    EXPECT_EQ(w.m.pfn_folio(small->pfn), small);
    EXPECT_FALSE(cont->contains(small->pfn));
    EXPECT_EQ(w.m.nr_folios(), 3U);
    const pfn_t freed = cont->pfn;
    w.m.folio_free(cont);
    EXPECT_EQ(w.m.pfn_folio(freed), nullptr);
    EXPECT_EQ(w.m.nr_folios(), 2U);
    EXPECT_THROW(w.m.folio_alloc(top + 1, true), api_misuse);
}

TEST_P(MachineTest, FolioAllocIsFirstFitOverFreedFrames) {
    test_world w(GetParam());
    folio *a = w.alloc(0);
    folio *b = w.alloc(0);
    folio *c = w.alloc(0);
    EXPECT_EQ(b->pfn, a->pfn + 1);
    EXPECT_EQ(c->pfn, b->pfn + 1);
    const pfn_t lowest = a->pfn;
    const pfn_t middle = b->pfn;
    w.m.folio_free(b);
    EXPECT_EQ(w.alloc(0)->pfn, middle);
    w.m.folio_free(a);
    // The freed frame below every other is found again, and a larger folio skips the slot it
    // cannot fill.
    folio *four = w.alloc(2);
    EXPECT_EQ(four->pfn % 4, 0U);
    EXPECT_GT(four->pfn, c->pfn);
    EXPECT_EQ(w.alloc(0)->pfn, lowest);
}

TEST_P(MachineTest, FlushRequestsAreRecorded) {
    test_world w(GetParam());
    w.m.flush_tlb_page(w.addr(1));
    w.m.flush_tlb_range(w.addr(0), w.addr(16));
    w.m.flush_pmd_tlb_range(w.m.window_start(), w.m.window_start() + w.geo().pmd_size());
    w.m.flush_tlb_mm();
    ASSERT_EQ(w.m.flush_log().size(), 4U);
    EXPECT_EQ(w.m.flush_log()[0].kind, flush_kind::page);
    EXPECT_EQ(w.m.flush_log()[0].start, w.addr(1));
    EXPECT_EQ(w.m.flush_log()[0].end, w.addr(2));
    EXPECT_EQ(w.m.flush_log()[1].kind, flush_kind::range);
    EXPECT_EQ(w.m.flush_log()[1].end, w.addr(16));
    EXPECT_EQ(w.m.flush_log()[2].kind, flush_kind::pmd_range);
    EXPECT_EQ(w.m.flush_log()[3].kind, flush_kind::mm);
}

// A machine reuses the logs of machines gone (their capacity): it must start with none of
// their records, and number its writes from the start.
TEST_P(MachineTest, ANewMachineStartsWithEmptyLogs) {
    for (int round = 0; round < 3; ++round) {
        machine_options opts;
        opts.gran = GetParam();
        machine m(opts);
        EXPECT_TRUE(m.write_log().empty()) << "round " << round;
        EXPECT_TRUE(m.flush_log().empty()) << "round " << round;
        const pgtable_t t = m.pte_alloc_one();
        m.write(m.pte_offset_staged(t, m.window_start()), pte_t{});
        m.flush_tlb_page(m.window_start());
        ASSERT_EQ(m.write_log().size(), 1U);
        EXPECT_EQ(m.write_log().front().seq, 0U) << "round " << round;
        EXPECT_EQ(m.flush_log().size(), 1U);
    }
}

INSTANTIATE_TEST_SUITE_P(AllGranules, MachineTest, ::testing::ValuesIn(test::all_granules),
                         [](const auto &info) { return test::granule_param_name(info.param); });

TEST(PageTableCheck, CountsMappingsAndRejectsAWritableSharedAnonPage) {
    test_world w(granule::k4);
    folio *f = w.alloc(0);
    w.lock();
    w.ops->set_pte_at(&w.m.mm, w.addr(0), w.ptep(0), test_world::mk(f, 0, PAGE_READONLY));
    EXPECT_EQ(w.m.page(f->pfn).anon_map_count, 1);
    w.ops->set_pte_at(&w.m.mm, w.addr(1), w.ptep(1), test_world::mk(f, 0, PAGE_READONLY));
    EXPECT_EQ(w.m.page(f->pfn).anon_map_count, 2);
    EXPECT_TRUE(w.m.violations().empty());
    w.ops->set_pte_at(&w.m.mm, w.addr(2), w.ptep(2), test_world::mk(f, 0, PAGE_SHARED));
    ASSERT_EQ(w.m.violations().size(), 1U);
    EXPECT_EQ(w.m.violations()[0].id, "MAPCOUNT");
    w.unlock();
}

TEST(PageTableCheck, OverwriteClearsTheOldMappingFirst) {
    test_world w(granule::k4);
    folio *a = w.alloc(0);
    folio *b = w.alloc(0);
    w.lock();
    // Same page, new prot: counted once, not twice (twice would also be a writable shared anon).
    w.ops->set_pte_at(&w.m.mm, w.addr(0), w.ptep(0), test_world::mk(a, 0, PAGE_READONLY));
    w.ops->set_pte_at(&w.m.mm, w.addr(0), w.ptep(0), test_world::mk(a));
    EXPECT_EQ(w.m.page(a->pfn).anon_map_count, 1);
    EXPECT_TRUE(w.m.violations().empty());
    // Another page over a live entry: the count moves, and arm64 calls the in-place PFN change a
    // break-before-make violation (the kernel clears and flushes first).
    w.ops->set_pte_at(&w.m.mm, w.addr(0), w.ptep(0), test_world::mk(b));
    EXPECT_EQ(w.m.page(a->pfn).anon_map_count, 0);
    EXPECT_EQ(w.m.page(b->pfn).anon_map_count, 1);
    w.ops->ptep_get_and_clear(&w.m.mm, w.addr(0), w.ptep(0));
    EXPECT_EQ(w.m.page(b->pfn).anon_map_count, 0);
    w.unlock();
    ASSERT_EQ(w.m.violations().size(), 1U);
    EXPECT_EQ(w.m.violations()[0].id, "BBM");
}

TEST(PageTableCheck, ProtNoneSwapAndKernelEntriesAreNotCounted) {
    test_world w(granule::k4);
    folio *f = w.alloc(0);
    w.lock();
    w.ops->set_pte_at(&w.m.mm, w.addr(0), w.ptep(0), test_world::mk(f, 0, PAGE_NONE));
    w.ops->set_pte_at(&w.m.mm, w.addr(1), w.ptep(1),
                      softleaf_to_pte(make_writable_migration_entry(f->pfn)));
    EXPECT_EQ(w.m.page(f->pfn).anon_map_count, 0);
    mm_struct init_mm{&w.m, true, {}};
    w.ops->set_pte_at(&init_mm, w.addr(2), w.ptep(2), test_world::mk(f, 0, PAGE_KERNEL));
    EXPECT_EQ(w.m.page(f->pfn).anon_map_count, 0);
    w.unlock();
    EXPECT_TRUE(w.m.violations().empty());
}

TEST(PageTableCheck, UffdWpMustNotBeWritable) {
    test_world w(granule::k4);
    folio *f = w.alloc(0);
    w.lock();
    w.ops->set_pte_at(&w.m.mm, w.addr(0), w.ptep(0),
                      set_pte_bit(test_world::mk(f, 0, PAGE_SHARED), PTE_UFFD_WP));
    w.ops->set_pte_at(&w.m.mm, w.addr(1), w.ptep(1),
                      pte_swp_mkuffd_wp(softleaf_to_pte(make_writable_migration_entry(f->pfn))));
    w.unlock();
    ASSERT_EQ(w.m.violations().size(), 2U);
    EXPECT_EQ(w.m.violations()[0].id, "MAPCOUNT");
    EXPECT_EQ(w.m.violations()[1].id, "MAPCOUNT");
}

TEST(PageTableCheck, AUffdWpPmdMustNotBeWritableEither) {
    // page_table_check_pmd_flags(): the PTE rules on a PMD leaf.
    test_world w(granule::k4);
    folio *f = w.m.folio_alloc(w.geo().pmd_order(), true);
    const std::uint64_t base = w.m.window_start() + w.geo().pmd_size();
    const pmd_t huge = mk_huge_pmd(f->pfn, PAGE_SHARED);
    w.ops->set_pmd_at(&w.m.mm, base, w.m.pmd_off(base), pte_pmd(pte_mkuffd_wp(pmd_pte(huge))));
    EXPECT_TRUE(w.m.violations().empty()); // uffd-wp write-protects
    w.ops->set_pmd_at(&w.m.mm, base, w.m.pmd_off(base),
                      pte_pmd(set_pte_bit(pmd_pte(huge), PTE_UFFD_WP)));
    ASSERT_EQ(w.m.violations().size(), 1U);
    EXPECT_EQ(w.m.violations()[0].id, "MAPCOUNT");
}

TEST(PageTableCheck, FreeingAMappedFolioIsAViolation) {
    test_world w(granule::k4);
    folio *f = w.map_folio(0, 0);
    w.m.folio_free(f);
    ASSERT_FALSE(w.m.violations().empty());
    EXPECT_EQ(w.m.violations()[0].id, "MAPCOUNT");
}

TEST(PageTableCheck, AFrameNoFolioOwnsIsCountedAsAFilePage) {
    test_world w(granule::k4);
    folio *f = w.alloc(0);
    const pfn_t pfn = f->pfn;
    const pte_t pte = test_world::mk(f);
    w.m.folio_free(f);
    EXPECT_TRUE(w.m.violations().empty());
    // A mapping of the freed frame (a use after free) is counted, as PageAnon() is false ...
    w.lock();
    w.ops->set_pte_at(&w.m.mm, w.addr(0), w.ptep(0), pte);
    w.unlock();
    EXPECT_EQ(w.m.page(pfn).file_map_count, 1);
    EXPECT_TRUE(w.m.violations().empty());
    // ... so the frame's next allocation finds a count that is not zero.
    const folio *again = w.alloc(0);
    ASSERT_EQ(again->pfn, pfn);
    ASSERT_EQ(w.m.violations().size(), 1U);
    EXPECT_EQ(w.m.violations()[0].id, "MAPCOUNT");
}

TEST(Locks, SplitAndSharedPtlocks) {
    test_world split(granule::k4);
    EXPECT_NE(split.m.pte_lockptr(split.table), split.m.pmd_lockptr());
    test_world shared(granule::k4, "generic", machine_options{.split_ptlocks = false});
    EXPECT_EQ(shared.m.pte_lockptr(shared.table), shared.m.pmd_lockptr());
}

TEST(Locks, DoubleLockUnlockUnheldAndMissingPtlAreViolations) {
    test_world w(granule::k4);
    w.lock();
    w.lock();
    w.unlock();
    w.unlock();
    ASSERT_EQ(w.m.violations().size(), 2U);
    EXPECT_EQ(w.m.violations()[0].id, "LOCK");
    EXPECT_EQ(w.m.violations()[1].id, "LOCK");
    w.m.clear_violations();
    folio *f = w.alloc(0);
    w.ops->set_pte_at(&w.m.mm, w.addr(0), w.ptep(0), test_world::mk(f)); // no PTL
    ASSERT_EQ(w.m.violations().size(), 1U);
    EXPECT_EQ(w.m.violations()[0].id, "LOCK");
    EXPECT_NE(w.m.violations()[0].detail.find("set_ptes"), std::string::npos);
}

TEST(Machine, RejectsOutOfWindowAndBadSizes) {
    test_world w(granule::k4);
    EXPECT_THROW(w.m.pmd_off(w.m.window_end()), api_misuse);
    EXPECT_THROW(w.m.pmd_off(0), api_misuse);
    EXPECT_THROW(machine(machine_options{.window_pmds = 0}), std::invalid_argument);
}

} // namespace
} // namespace mmfuzz
