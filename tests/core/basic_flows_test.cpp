// The basic core flows (faults, aging, mprotect, zap, MADV_FREE): their kernel-observable
// outcome in each world, content across them, contpte folding under them, and no false alarm
// from the oracle on random programs made mostly of flows.
#include "arch/registry.hpp"
#include "core/flows.hpp"
#include "core/pte_walk.hpp"
#include "oracle/check.hpp"
#include "pgtable/softleaf.hpp"
#include "program/codec.hpp"
#include "program/generate.hpp"
#include "program/runner.hpp"

#include <gtest/gtest.h>

namespace mmfuzz {
namespace {

constexpr std::uint64_t base = machine::window_base;

machine_options opts(granule g = granule::k4) {
    machine_options o;
    o.gran = g;
    o.window_pmds = 1;
    return o;
}

pte_t entry(world &w, std::uint64_t va) {
    return w.ops->ptep_get(*w.pte_lookup(va));
}

pte_t raw(world &w, std::uint64_t va) {
    return w.m.peek_pte(*w.m.live_table_for(va), w.geo().pte_index(va));
}

run_result run_text(const std::string &body, const std::string &inject = "", bool trace = false) {
    const program p =
        parse_text("mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n" + body, "test");
    run_options o;
    o.inject = inject;
    o.trace = trace;
    return run_program(p, o);
}

class BasicFlows : public ::testing::TestWithParam<std::string> {};

TEST_P(BasicFlows, AnonymousMthpFaultMapsOneFolioWithOneSetPtes) {
    world w(GetParam(), opts());
    ASSERT_EQ(do_anonymous_page(w, base + 0x3000, 4, true), vm_fault::done);
    const pte_t first = entry(w, base);
    ASSERT_TRUE(pte_valid(first));
    const folio *f = w.m.pfn_folio(pte_pfn(first));
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->order, 4U);
    EXPECT_EQ(pte_pfn(first), f->pfn);
    for (std::uint64_t i = 0; i < 16; ++i) {
        const pte_t p = entry(w, base + i * 0x1000);
        EXPECT_EQ(pte_pfn(p), f->pfn + i);
        EXPECT_TRUE(pte_write(p) && pte_dirty(p) && pte_young(p));
        EXPECT_EQ(w.mapcount(f->pfn + i), 1);
        EXPECT_EQ(w.m.page(f->pfn + i).content, 0U);
    }
    EXPECT_EQ(w.m.mm.rss.anon, 16);
    // contpte maps a full aligned block of one folio with PTE_CONT.
    EXPECT_EQ(pte_cont(raw(w, base + 0x5000)), GetParam() == "arm64_contpte");
    w.m.check_locks_released("test");
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(BasicFlows, AnonymousFaultNeverMapsAnOrder1Folio) {
    // THP_ORDERS_ALL_ANON leaves order 1 out: asked for it, the fault maps one page.
    world w(GetParam(), opts());
    ASSERT_EQ(do_anonymous_page(w, base + 0x1000, 1, true), vm_fault::done);
    EXPECT_EQ(w.m.pfn_folio(pte_pfn(entry(w, base + 0x1000)))->order, 0U);
    EXPECT_TRUE(pte_none(entry(w, base)));
}

TEST_P(BasicFlows, AnonymousFaultFallsBackOverAMappedEntry) {
    world w(GetParam(), opts());
    ASSERT_EQ(do_anonymous_page(w, base + 0x2000, 0, true), vm_fault::done);
    ASSERT_EQ(do_anonymous_page(w, base + 0x5000, 4, true), vm_fault::done);
    // The order 4 and 3 ranges hold the first page; the order 2 range at 0x4000 is free.
    EXPECT_TRUE(pte_none(entry(w, base + 0x3000)));
    EXPECT_EQ(w.m.pfn_folio(pte_pfn(entry(w, base + 0x5000)))->order, 2U);
    EXPECT_FALSE(pte_none(entry(w, base + 0x4000)));
    EXPECT_EQ(w.m.mm.rss.anon, 5);
}

// thp_vma_suitable_orders(): an mTHP range must lie in the faulting VMA; a page mprotect gave
// other flags stands for a VMA of its own.
TEST_P(BasicFlows, AnonymousFaultOrdersStayInsideTheVma) {
    world w(GetParam(), opts());
    mprotect_fixup(w, base, 1, VM_READ);
    ASSERT_EQ(do_anonymous_page(w, base + 0x5000, 4, true), vm_fault::done);
    // Orders 4..3 reach page 0 (read-only); order 2 at 0x4000 lies inside the rest.
    const folio *f = w.m.pfn_folio(pte_pfn(entry(w, base + 0x5000)));
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->order, 2U);
    EXPECT_TRUE(pte_none(entry(w, base)));
    EXPECT_TRUE(pte_write(entry(w, base + 0x4000)) && pte_dirty(entry(w, base + 0x4000)));
    // The PMD order falls back too, with no table yet in the way.
    world w2(GetParam(), opts());
    mprotect_fixup(w2, base, 1, VM_READ);
    ASSERT_EQ(do_anonymous_page(w2, base + 0x1000, w2.geo().pmd_order(), true), vm_fault::done);
    EXPECT_FALSE(pmd_leaf(w2.ops->pmdp_get(w2.m.pmd_off(base))));
    EXPECT_TRUE(pte_write(entry(w2, base + 0x1000)));
    EXPECT_TRUE(pte_none(entry(w2, base)));
}

// mprotect_fixup() returns at once for a VMA whose flags do not change ("newflags ==
// oldflags"): mprotect to the protection a VMA has leaves its entries as they are, a read-only
// exclusive page included, and over two VMAs only the one that changes is walked.
TEST_P(BasicFlows, MprotectLeavesAVmaWhoseFlagsDoNotChange) {
    world w(GetParam(), opts());
    for (const std::uint64_t va : {base, base + 0x1000}) {
        ASSERT_EQ(do_anonymous_page(w, va, 0, true), vm_fault::done);
        const pte_locked ptl(w, va);
        w.ops->ptep_set_wrprotect(&w.m.mm, va, *w.pte_lookup(va));
    }
    mprotect_fixup(w, base, 2, VM_READ | VM_WRITE);
    EXPECT_FALSE(pte_write(entry(w, base)));
    EXPECT_FALSE(pte_write(entry(w, base + 0x1000)));
    mprotect_fixup(w, base + 0x1000, 1, VM_READ);
    mprotect_fixup(w, base, 2, VM_READ | VM_WRITE);
    EXPECT_FALSE(pte_write(entry(w, base)));
    // The exclusive anonymous page of the VMA that changed gets its write permission back.
    EXPECT_TRUE(pte_write(entry(w, base + 0x1000)));
    EXPECT_EQ(w.vm_flags_at(base + 0x1000), VM_READ | VM_WRITE);
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(BasicFlows, WriteFaultReusesAnExclusivePageAndCopiesAShared) {
    world w(GetParam(), opts());
    ASSERT_EQ(do_anonymous_page(w, base, 0, true), vm_fault::done);
    ASSERT_TRUE(touch(w, base, true, 0, 0x11).access.ok());
    mprotect_fixup(w, base, 1, VM_READ);
    EXPECT_FALSE(pte_write(entry(w, base)));
    EXPECT_TRUE(pte_dirty(entry(w, base)));
    EXPECT_EQ(touch(w, base, true, 0, 0x22).handled, vm_fault::sigsegv);
    mprotect_fixup(w, base, 1, VM_READ | VM_WRITE);
    // An exclusive anon page gets its write permission back at once.
    EXPECT_TRUE(pte_write(entry(w, base)));
    const pfn_t pfn = pte_pfn(entry(w, base));

    // A file page mapped read-only in the private mapping is copied on write.
    folio *file = w.m.folio_alloc(0, false);
    w.folios.push_back(file);
    w.m.page(file->pfn).content = 0x77;
    {
        const pte_locked pte(w, base + 0x1000);
        w.ops->set_pte_at(&w.m.mm, base + 0x1000, *pte, pfn_pte(file->pfn, PAGE_READONLY));
        w.rmap_add(file->pfn, 1);
    }
    const touch_result t = touch(w, base + 0x1000, true, 0, 0x88);
    EXPECT_TRUE(t.access.ok());
    EXPECT_EQ(t.path, fault_path::wp_copy);
    const pte_t copy = entry(w, base + 0x1000);
    EXPECT_NE(pte_pfn(copy), file->pfn);
    EXPECT_TRUE(pte_write(copy) && pte_dirty(copy));
    EXPECT_EQ(w.m.page(file->pfn).content, 0x77U);
    EXPECT_EQ(w.m.page(pte_pfn(copy)).content, 0x88U);
    EXPECT_EQ(w.mapcount(file->pfn), 0);
    EXPECT_EQ(w.m.mm.rss.anon, 2);
    EXPECT_EQ(w.m.mm.rss.file, 0);
    EXPECT_EQ(pte_pfn(entry(w, base)), pfn);
    EXPECT_TRUE(w.m.violations().empty());
}

// A fault on a uffd-wp marker maps a new page uffd-wp (pte_marker_handle_uffd_wp() ->
// do_anonymous_page()): a read completes, a write stops at the write-protected entry.
TEST_P(BasicFlows, AFaultOnAUffdWpMarkerMapsANewPageUffdWp) {
    world w(GetParam(), opts());
    ASSERT_EQ(do_anonymous_page(w, base, 0, true), vm_fault::done);
    const pte_t marker = softleaf_to_pte(make_pte_marker_entry(PTE_MARKER_UFFD_WP));
    for (const std::uint64_t va : {base + 0x1000, base + 0x2000}) {
        const pte_locked pte(w, va);
        w.ops->set_pte_at(&w.m.mm, va, *pte, marker);
    }
    const touch_result r = touch(w, base + 0x1000, false, 0, 0);
    EXPECT_TRUE(r.access.ok());
    EXPECT_EQ(r.access.value, 0U);
    EXPECT_EQ(r.path, fault_path::anon_uffd_wp);
    const pte_t read = entry(w, base + 0x1000);
    EXPECT_TRUE(pte_present(read) && pte_uffd_wp(read) && !pte_write(read) && pte_young(read));
    EXPECT_EQ(w.mapcount(pte_pfn(read)), 1);

    const touch_result wr = touch(w, base + 0x2000, true, 0, 0x5);
    EXPECT_EQ(wr.handled, vm_fault::done);
    EXPECT_EQ(wr.path, fault_path::anon_uffd_wp);
    EXPECT_FALSE(wr.access.ok());
    const pte_t written = entry(w, base + 0x2000);
    EXPECT_TRUE(pte_uffd_wp(written) && !pte_write(written) && pte_dirty(written));
    EXPECT_NE(pte_pfn(written), pte_pfn(read));
    // The next write stops at the monitor, and the entry stays.
    EXPECT_EQ(touch(w, base + 0x2000, true, 0, 0x5).handled, vm_fault::nopage);
    EXPECT_EQ(entry(w, base + 0x2000), written);
    EXPECT_EQ(w.m.mm.rss.anon, 3);
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(BasicFlows, ProtNoneInAnAccessibleVmaIsANumaHint) {
    world w(GetParam(), opts());
    ASSERT_EQ(do_anonymous_page(w, base, 0, true), vm_fault::done);
    {
        const pte_locked pte(w, base);
        const pte_t old = w.ops->modify_prot_start_ptes(&w.vma, base, *pte, 1);
        w.ops->modify_prot_commit_ptes(&w.vma, base, *pte, old, pte_modify(old, PAGE_NONE), 1);
        w.m.flush_tlb_page(base);
    }
    ASSERT_TRUE(pte_protnone(entry(w, base)));
    const touch_result t = touch(w, base, true, 0, 5);
    EXPECT_TRUE(t.access.ok());
    EXPECT_EQ(t.path, fault_path::numa);
    EXPECT_TRUE(pte_write(entry(w, base)));
}

TEST_P(BasicFlows, NumaHintOnALargeFolioRestoresEveryHintingEntryOfIt) {
    world w(GetParam(), opts());
    ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
    ASSERT_EQ(do_anonymous_page(w, base + 0x10000, 0, true), vm_fault::done);
    {
        const pte_locked pte(w, base);
        const pte_t old = w.ops->modify_prot_start_ptes(&w.vma, base, *pte, 16);
        w.ops->modify_prot_commit_ptes(&w.vma, base, *pte, old,
                                       pte_mkold(pte_modify(old, PAGE_NONE)), 16);
        const hw_ptep small = hw_pte_add(*pte, 16);
        const pte_t sold = w.ops->modify_prot_start_ptes(&w.vma, base + 0x10000, small, 1);
        w.ops->modify_prot_commit_ptes(&w.vma, base + 0x10000, small, sold,
                                       pte_modify(sold, PAGE_NONE), 1);
    }
    w.m.flush_tlb_range(base, base + 0x11000);
    const touch_result t = touch(w, base + 0x5000, false, 0, 0);
    EXPECT_TRUE(t.access.ok());
    EXPECT_EQ(t.path, fault_path::numa);
    // numa_rebuild_large_mapping(): the whole folio, young and writable again (exclusive anon).
    for (std::uint64_t i = 0; i < 16; ++i) {
        const pte_t p = entry(w, base + i * 0x1000);
        EXPECT_FALSE(pte_protnone(p)) << i;
        EXPECT_TRUE(pte_young(p) && pte_write(p)) << i;
    }
    EXPECT_TRUE(pte_protnone(entry(w, base + 0x10000))); // another folio
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(BasicFlows, AgingClearsAndReportsYoungOverTheFolio) {
    world w(GetParam(), opts());
    ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
    EXPECT_TRUE(folio_referenced(w, base + 0x7000));
    for (std::uint64_t i = 0; i < 16; ++i)
        EXPECT_FALSE(pte_young(entry(w, base + i * 0x1000)));
    EXPECT_FALSE(folio_referenced(w, base));
    ASSERT_TRUE(touch(w, base + 0x9000, false, 0, 0).access.ok());
    EXPECT_TRUE(folio_referenced(w, base));
    // The flush that came with the young report makes the next access set AF again.
    ASSERT_TRUE(touch(w, base + 0x9000, false, 0, 0).access.ok());
    EXPECT_TRUE(pte_young(entry(w, base + 0x9000)));
}

TEST_P(BasicFlows, ZapUnmapsAndKeepsGuardMarkers) {
    world w(GetParam(), opts());
    ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
    const pfn_t pfn = pte_pfn(entry(w, base));
    {
        const pte_locked pte(w, base + 0x20000);
        w.ops->set_pte_at(&w.m.mm, base + 0x20000, *pte,
                          softleaf_to_pte(make_pte_marker_entry(PTE_MARKER_GUARD)));
    }
    zap_pte_range(w, base + 0x4000, 32);
    for (std::uint64_t i = 0; i < 16; ++i)
        EXPECT_EQ(pte_none(entry(w, base + i * 0x1000)), i >= 4) << i;
    EXPECT_FALSE(pte_none(entry(w, base + 0x20000)));
    EXPECT_EQ(w.m.mm.rss.anon, 4);
    EXPECT_EQ(w.mapcount(pfn + 4), 0);
    EXPECT_EQ(w.mapcount(pfn + 3), 1);
    // The zap flushed what it cleared: no stale translation is left.
    w.m.check_tlb_stale();
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(BasicFlows, MadvFreeCleansWholeFoliosOnly) {
    world w(GetParam(), opts());
    ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
    ASSERT_EQ(do_anonymous_page(w, base + 0x10000, 0, true), vm_fault::done);
    madvise_free(w, base + 0x8000, 9); // half of the large folio, all of the small one
    const folio *large = w.m.pfn_folio(pte_pfn(entry(w, base)));
    const folio *small = w.m.pfn_folio(pte_pfn(entry(w, base + 0x10000)));
    EXPECT_FALSE(large->lazyfree);
    EXPECT_TRUE(pte_dirty(entry(w, base + 0x8000)));
    EXPECT_TRUE(small->lazyfree);
    EXPECT_FALSE(pte_dirty(entry(w, base + 0x10000)));
    EXPECT_FALSE(pte_young(entry(w, base + 0x10000)));
    madvise_free(w, base, 16);
    EXPECT_TRUE(large->lazyfree);
    for (std::uint64_t i = 0; i < 16; ++i)
        EXPECT_FALSE(pte_dirty(entry(w, base + i * 0x1000)));
}

TEST_P(BasicFlows, MadvFreeDropsPoisonMarkersAndKeepsGuardMarkers) {
    world w(GetParam(), opts());
    ASSERT_EQ(do_anonymous_page(w, base, 0, true), vm_fault::done);
    {
        const pte_locked pte(w, base);
        w.ops->set_pte_at(&w.m.mm, base + 0x1000, hw_pte_add(*pte, 1),
                          softleaf_to_pte(make_pte_marker_entry(PTE_MARKER_POISONED)));
        w.ops->set_pte_at(&w.m.mm, base + 0x2000, hw_pte_add(*pte, 2),
                          softleaf_to_pte(make_pte_marker_entry(PTE_MARKER_GUARD)));
    }
    madvise_free(w, base, 3);
    EXPECT_TRUE(pte_none(entry(w, base + 0x1000)));
    EXPECT_TRUE(softleaf_is_guard_marker(softleaf_from_pte(entry(w, base + 0x2000))));
}

TEST_P(BasicFlows, MadvFreeBatchesAFolioAcrossTheWriteBit) {
    world w(GetParam(), opts());
    ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
    {
        const pte_locked pte(w, base);
        w.ops->wrprotect_ptes(&w.m.mm, base + 0x5000, hw_pte_add(*pte, 5), 1);
    }
    w.m.flush_tlb_page(base + 0x5000);
    ASSERT_FALSE(pte_write(entry(w, base + 0x5000)));
    // folio_pte_batch() ignores the write bit: the folio is one batch, cleaned whole.
    madvise_free(w, base, 16);
    EXPECT_TRUE(w.m.pfn_folio(pte_pfn(entry(w, base)))->lazyfree);
    for (std::uint64_t i = 0; i < 16; ++i)
        EXPECT_FALSE(pte_dirty(entry(w, base + i * 0x1000))) << i;
    // mprotect's batches stop there (FPB_RESPECT_WRITE).
    const pte_t first = entry(w, base);
    EXPECT_EQ(folio_pte_batch(w, *w.pte_lookup(base), first, 16), 16U);
    EXPECT_EQ(folio_pte_batch(w, *w.pte_lookup(base), first, 16, FPB_RESPECT_WRITE), 5U);
}

TEST_P(BasicFlows, ZapOfATHPAndThePtesAfterItFlushesOnceWithoutALevelHint) {
    machine_options o = opts();
    o.window_pmds = 2;
    world w(GetParam(), o);
    const std::uint64_t pmd = w.geo().pmd_size();
    ASSERT_EQ(do_huge_pmd_anonymous_page(w, base, true), vm_fault::done);
    ASSERT_EQ(do_anonymous_page(w, base + pmd, 0, true), vm_fault::done);
    // A PMD block and a page in the TLB.
    ASSERT_TRUE(w.m.hw_access(base + 5 * w.geo().page_size(), false).ok());
    ASSERT_TRUE(w.m.hw_access(base + pmd, false).ok());
    w.m.clear_logs();
    zap_pte_range(w, base, w.geo().ptrs_per_pte() + 1);
    EXPECT_TRUE(pmd_none(w.m.peek_pmd(0)));
    EXPECT_TRUE(pte_none(entry(w, base + pmd)));
    EXPECT_EQ(w.m.mm.rss.anon, 0);
    // One gather cleared a PMD leaf and a PTE: arm64's tlb_get_level() has no single level to
    // hint, so the flush must reach both (asm/tlb.h).
    ASSERT_EQ(w.m.flush_log().size(), 1U);
    const tlb_flush &f = w.m.flush_log()[0];
    EXPECT_EQ(f.start, base);
    EXPECT_EQ(f.end, base + pmd + w.geo().page_size());
    EXPECT_EQ(f.stride, w.geo().page_size());
    EXPECT_TRUE(f.last_level);
    EXPECT_EQ(f.level, tlbi_ttl_unknown);
    EXPECT_EQ(w.m.hw_access(base + 5 * w.geo().page_size(), false).fault, hw_fault::none_entry);
    EXPECT_EQ(w.m.hw_access(base + pmd, false).fault, hw_fault::none_entry);
    w.m.check_locks_released("test");
    for (const violation &v : w.m.violations())
        ADD_FAILURE() << v.id << " " << v.detail;
}

TEST_P(BasicFlows, ZapOfAWholeTableFreesItAfterAFlushOfTheWalkCache) {
    world w(GetParam(), opts());
    const std::uint64_t ps = w.geo().page_size();
    const std::uint64_t per_table = w.geo().ptrs_per_pte();
    ASSERT_EQ(do_anonymous_page(w, base + 7 * ps, 0, true), vm_fault::done);
    const pgtable_t table = w.m.table_of(*w.pte_lookup(base));
    ASSERT_TRUE(w.m.hw_access(base + 7 * ps, false).ok()); // fills the walk cache
    ASSERT_EQ(w.m.walk_cache_entry(0), table);
    // A zap of all but one page keeps the table.
    w.m.clear_logs();
    zap_pte_range(w, base, per_table - 1);
    EXPECT_TRUE(pmd_table(w.m.peek_pmd(0)));
    ASSERT_EQ(w.m.flush_log().size(), 1U);
    EXPECT_TRUE(w.m.flush_log()[0].last_level);
    // So does a whole-table zap that keeps a guard marker (any_skipped).
    madvise_guard_install(w, base + 3 * ps, 1);
    zap_pte_range(w, base, per_table);
    EXPECT_TRUE(pmd_table(w.m.peek_pmd(0)));
    EXPECT_TRUE(w.m.table_allocated(table));
    // Without it, MADV_DONTNEED of the whole table unlinks and frees it (zap_empty_pte_table(),
    // pte_free_tlb()): one flush beyond the last level, no level hint, then the table is free.
    madvise_guard_remove(w, base + 3 * ps, 1);
    ASSERT_EQ(do_anonymous_page(w, base + 7 * ps, 0, true), vm_fault::done);
    ASSERT_TRUE(w.m.hw_access(base + 7 * ps, false).ok());
    w.m.clear_logs();
    zap_pte_range(w, base, per_table);
    EXPECT_TRUE(pmd_none(w.m.peek_pmd(0)));
    EXPECT_FALSE(w.m.table_allocated(table));
    ASSERT_EQ(w.m.flush_log().size(), 1U);
    const tlb_flush &f = w.m.flush_log()[0];
    EXPECT_FALSE(f.last_level);
    EXPECT_EQ(f.level, tlbi_ttl_unknown);
    EXPECT_FALSE(w.m.walk_cache_entry(0).has_value());
    EXPECT_EQ(w.m.mm.rss.anon, 0);
    // The next fault takes a table again.
    ASSERT_EQ(do_anonymous_page(w, base, 0, true), vm_fault::done);
    EXPECT_TRUE(pmd_table(w.m.peek_pmd(0)));
    w.m.check_tlb_stale();
    w.m.check_locks_released("test");
    for (const violation &v : w.m.violations())
        ADD_FAILURE() << v.id << " " << v.detail;
}

INSTANTIATE_TEST_SUITE_P(Impls, BasicFlows, ::testing::ValuesIn(pgtable_ops_names()),
                         [](const auto &info) { return info.param; });

TEST(BasicFlowsOracle, ContentSurvivesMprotectAndIsDroppedByZap) {
    const run_result r = run_text("do_anonymous_page addr=0x40000000000 order=4\n"
                                  "handle_mm_fault addr=0x40000003000 write=1 slot=0 value=0x42\n"
                                  "mprotect addr=0x40000000000 nr=16 prot=ro\n"
                                  "handle_mm_fault addr=0x40000003000 write=0 slot=0 value=0x0\n"
                                  "zap_pte_range addr=0x40000003000 nr=1\n"
                                  "handle_mm_fault addr=0x40000003000 write=0 slot=0 value=0x0\n");
    ASSERT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.applied, 6U);
}

// A uffd-wp marker where a written page was zapped faults in a zeroed page, which the oracle
// expects uffd-wp, then a write stops at it.
TEST(BasicFlowsOracle, AUffdWpMarkerFaultsInAZeroedPage) {
    const run_result r =
        run_text("handle_mm_fault addr=0x40000001000 write=1 slot=0 value=0x42\n"
                 "zap_pte_range addr=0x40000001000 nr=1\n"
                 "set_softleaf addr=0x40000001000 type=marker folio=0 page=0 swapfile=0 "
                 "offset=0x1 flags=0\n"
                 "handle_mm_fault addr=0x40000001000 write=0 slot=0 value=0x0\n"
                 "handle_mm_fault addr=0x40000001000 write=1 slot=0 value=0x9\n"
                 "handle_mm_fault addr=0x40000001000 write=0 slot=0 value=0x0\n",
                 "", true);
    ASSERT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.applied, 6U);
    EXPECT_NE(r.trace.find("3  handle_mm_fault addr=0x40000001000 write=0 slot=0 value=0x0  => ok "
                           "value=0x0 (do_anonymous_page, uffd-wp marker: handled)"),
              std::string::npos)
        << r.trace;
}

// An mprotect op is one VMA that changes: a no-op where the flags already are the new ones,
// and cut where the pages' flags change.
TEST(BasicFlowsOracle, MprotectIsLegalizedToOneVmaThatChanges) {
    const run_result r = run_text("do_anonymous_page addr=0x40000000000 order=4\n"
                                  "mprotect addr=0x40000000000 nr=16 prot=rw\n"
                                  "mprotect addr=0x40000004000 nr=4 prot=ro\n"
                                  "mprotect addr=0x40000000000 nr=16 prot=none\n"
                                  "mprotect addr=0x40000004000 nr=12 prot=rw\n");
    ASSERT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.noops, 1U) << r.trace;
    ASSERT_EQ(r.legalized.ops.size(), 4U) << r.trace;
    EXPECT_EQ(r.legalized.ops[2][slot::nr], 4U) << r.trace;
    EXPECT_EQ(r.legalized.ops[3][slot::nr], 4U) << r.trace;
}

TEST(BasicFlowsOracle, AZapRunsAcrossPageTablesAndTakesATHPItReachesWhole) {
    const std::string header = "mmfuzz v1 granule=4K window=2 bbml2=0 split_ptlocks=1\n";
    // A THP at PMD 0, pages after it in PMD 1; zaps that start in the THP, end in it, or
    // cross from the PTEs of one table into the next.
    const program p = parse_text(header + "do_anonymous_page addr=0x40000000000 order=9\n"
                                          "do_anonymous_page addr=0x40000200000 order=4\n"
                                          "hw_access addr=0x40000003000 write=1 slot=0 value=0x0\n"
                                          "hw_access addr=0x40000201000 write=1 slot=0 value=0x0\n"
                                          "zap_pte_range addr=0x40000100000 nr=260\n"
                                          "do_anonymous_page addr=0x40000000000 order=9\n"
                                          "do_anonymous_page addr=0x40000200000 order=4\n"
                                          "zap_pte_range addr=0x400001ff000 nr=3\n"
                                          "do_anonymous_page addr=0x40000000000 order=9\n"
                                          "zap_pte_range addr=0x40000000000 nr=4\n"
                                          "do_anonymous_page addr=0x40000000000 order=0\n",
                                 "test");
    run_options o;
    const run_result r = run_program(p, o);
    ASSERT_TRUE(r.passed()) << r.violation->report;
    ASSERT_EQ(r.legalized.ops.size(), p.ops.size());
    const auto zap = [&](std::size_t i) {
        const op &z = r.legalized.ops[i];
        EXPECT_EQ(z.kind, op_kind::zap_pte_range);
        return std::pair{z[slot::addr], z[slot::nr]};
    };
    // From inside the THP into PMD 1: the THP whole, then 4 pages of the table.
    EXPECT_EQ(zap(4), std::pair(std::uint64_t{0}, std::uint64_t{516}));
    // The last page of the THP and two after it: the THP whole again.
    EXPECT_EQ(zap(7), std::pair(std::uint64_t{0}, std::uint64_t{514}));
    // Inside the THP alone: the THP whole.
    EXPECT_EQ(zap(9), std::pair(std::uint64_t{0}, std::uint64_t{512}));
}

TEST(BasicFlowsOracle, ANumaHintOnALargeFolioMakesItsOtherPagesYoung) {
    // NUMA hints made old (a folio smaller than a CONT block: nothing spreads); the fault on
    // one page restores all of them, young.
    const run_result r = run_text("do_anonymous_page addr=0x40000000000 order=3\n"
                                  "modify_prot addr=0x40000000000 nr=8 prot=none\n"
                                  "folio_referenced addr=0x40000000000\n"
                                  "handle_mm_fault addr=0x40000005000 write=0 slot=0 value=0x0\n"
                                  "hw_access addr=0x40000006000 write=0 slot=0 value=0x0\n");
    ASSERT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.applied, 5U);
}

TEST(BasicFlowsOracle, LostContentIsAContentViolation) {
    world ref("generic", opts());
    world opt("arm64_contpte", opts());
    checker chk(ref, opt);
    content_spec content(ref.nr_pages());
    for (world *w : {&ref, &opt}) {
        ASSERT_EQ(do_anonymous_page(*w, base, 0, true), vm_fault::done);
        ASSERT_TRUE(touch(*w, base, true, 0, 0x9).access.ok());
    }
    content.written(0, 0x9);
    EXPECT_FALSE(chk.check_content(content, {0}));
    EXPECT_FALSE(chk.check_read(content, 0, 0x9, "read"));
    // The optimized world's frame lost the write.
    opt.m.page(pte_pfn(entry(opt, base))).content = 0;
    const auto f = chk.check_content(content, {0});
    ASSERT_TRUE(f);
    EXPECT_EQ(f->invariant, "CONTENT");
    EXPECT_TRUE(chk.check_read(content, 0, 0, "read"));
    // Zero is allowed only for a lazy-free page.
    content.lazyfree(0);
    EXPECT_FALSE(chk.check_content(content, {0}));
    EXPECT_TRUE(chk.check_read(content, 0, 0x5, "read"));
}

TEST(BasicFlowsOracle, CanariesOfTheBasicFlowsAreCaught) {
    const run_result free = run_text("do_anonymous_page addr=0x40000000000 order=4\n"
                                     "madvise_free addr=0x40000000000 nr=8\n",
                                     "madv_free_beyond_range");
    ASSERT_FALSE(free.passed());
    EXPECT_EQ(free.violation->invariant, "DIRTY_LOSS");
    const run_result flush = run_text("do_anonymous_page addr=0x40000000000 order=0\n"
                                      "handle_mm_fault addr=0x40000000000 write=1 slot=0 value=1\n"
                                      "mprotect addr=0x40000000000 nr=1 prot=ro\n",
                                      "mprotect_no_flush");
    ASSERT_FALSE(flush.passed());
    EXPECT_EQ(flush.violation->invariant, "TLB_STALE");
}

/// Random programs biased to the flows: the oracle must stay quiet on every granule.
TEST(BasicFlowsOracle, RandomFlowProgramsRaiseNoFalseAlarm) {
    const std::vector<std::string> known = {"BBM modify_prot", "BBM mprotect"};
    for (const granule g : {granule::k4, granule::k16, granule::k64}) {
        for (std::uint64_t seed = 1; seed <= 15; ++seed) {
            const rand_fn rnd = seeded_rand(seed * 7919 + static_cast<unsigned>(g));
            program_header h;
            h.options = opts(g);
            program p = random_program(rnd, h, 0);
            for (int i = 0; i < 80; ++i) {
                op o = random_op(rnd, h);
                if (rnd(2) == 0) { // half flows, half direct ops
                    const op_kind k =
                        std::array{op_kind::do_anonymous_page, op_kind::handle_mm_fault,
                                   op_kind::folio_referenced,  op_kind::mprotect,
                                   op_kind::zap_pte_range,     op_kind::madvise_free}[rnd(6)];
                    o = op{k, {}};
                    for (const field_desc &f : desc_of(k).used())
                        o[f.s] = random_field(rnd, h, desc_of(k), f);
                }
                p.ops.push_back(o);
            }
            run_options ro;
            ro.known = known;
            const run_result r = run_program(p, ro);
            ASSERT_TRUE(r.passed()) << "seed " << seed << "\n"
                                    << r.violation->report << "\n"
                                    << print_text(r.legalized);
        }
    }
}

} // namespace
} // namespace mmfuzz
