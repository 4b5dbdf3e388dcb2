// fork() on the parent's side: copy_page_range() write-protects what the child shares, per
// folio batch and per PMD leaf, makes swap entries shared, flushes the parent's TLB, and the COW
// monitor holds the child's pages; the child's swap entries hold their slots and swap-cache
// folios.
#include "core/flows.hpp"
#include "core/pte_walk.hpp"
#include "pgtable/softleaf.hpp"
#include "world_helpers.hpp"

#include <gtest/gtest.h>

namespace mmfuzz::test {
namespace {

pte_t pte_at(world &w, std::uint64_t addr) {
    return w.ops->ptep_get(w.pte_lookup(addr).value());
}

TEST(Fork, WriteProtectsAnMthpAndTheNextWriteCopies) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
        ASSERT_TRUE(w.m.hw_access(base + 3 * ps, true, 0, 0x33).ok());
        const pfn_t pfn = pte_pfn(pte_at(w, base));
        w.m.clear_logs();

        copy_page_range(w);
        for (unsigned i = 0; i < 16; ++i) {
            const pte_t pte = pte_at(w, base + i * ps);
            EXPECT_FALSE(pte_write(pte)) << impl << " page " << i;
            EXPECT_EQ(w.mapcount(pfn + i), 2) << impl;
        }
        EXPECT_TRUE(pte_dirty(pte_at(w, base + 3 * ps))) << impl; // wrprotect keeps dirt
        ASSERT_FALSE(w.m.flush_log().empty());
        EXPECT_EQ(w.m.flush_log().back().kind, flush_kind::mm) << impl;
        EXPECT_EQ(w.m.mm.rss.anon, 16); // the child's RSS is its own

        // The parent's write faults and copies the page; the child keeps the old one.
        EXPECT_EQ(w.m.hw_access(base + 3 * ps, true, 0, 1).fault, hw_fault::write_protect);
        fault_path path = fault_path::none;
        ASSERT_EQ(handle_mm_fault(w, base + 3 * ps, true, &path), vm_fault::done);
        EXPECT_EQ(path, fault_path::wp_copy) << impl;
        const pte_t copied = pte_at(w, base + 3 * ps);
        EXPECT_NE(pte_pfn(copied), pfn + 3);
        EXPECT_TRUE(pte_write(copied));
        ASSERT_TRUE(w.m.hw_access(base + 3 * ps, true, 0, 0x44).ok());
        EXPECT_EQ(w.m.page(pfn + 3).content, 0x33U) << impl;
        EXPECT_EQ(w.mapcount(pfn + 3), 1);
        expect_no_violations(w);
    }
}

TEST(Fork, WriteProtectsABatchWhoseFirstEntryIsAlreadyReadOnly) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
        {
            const pte_locked pte(w, base);
            w.ops->ptep_set_wrprotect(&w.m.mm, base, *pte);
        }
        // One batch (the write bit is ignored), writable as a whole since one entry is.
        ASSERT_EQ(folio_pte_batch(w, w.pte_lookup(base).value(), pte_at(w, base), 16), 16U);
        copy_page_range(w);
        for (unsigned i = 0; i < 16; ++i)
            EXPECT_FALSE(pte_write(pte_at(w, base + i * ps))) << impl << " page " << i;
        EXPECT_EQ(w.m.hw_access(base + ps, true, 0, 1).fault, hw_fault::write_protect) << impl;
        expect_no_violations(w);
    }
}

TEST(Fork, BatchesStopWhereTheVmaEnds) {
    // dup_mmap() copies a VMA at a time: the read-only half of the folio (a VMA of its own) is
    // a batch without a writable entry, so wrprotect_ptes() leaves it alone.
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
        mprotect_fixup(w, base, 8, VM_READ);
        w.m.clear_logs();
        copy_page_range(w);
        for (const pgtable_write &wr : w.m.write_log())
            if (wr.level == pt_level::pte)
                EXPECT_GE(wr.index, 8U) << impl << " wrote page " << wr.index;
        for (unsigned i = 0; i < 16; ++i)
            EXPECT_FALSE(pte_write(pte_at(w, base + i * ps))) << impl << " page " << i;
        expect_no_violations(w);
    }
}

TEST(Fork, WriteProtectsAPmdLeafAndMakesSwapEntriesShared) {
    for (const char *impl : impls) {
        world w(impl, opts4k(2));
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t thp = base + w.geo().pmd_size();
        const std::uint64_t ps = w.geo().page_size();
        ASSERT_EQ(do_huge_pmd_anonymous_page(w, thp, true), vm_fault::done);
        ASSERT_EQ(do_anonymous_page(w, base, 0, true), vm_fault::done);
        ASSERT_EQ(shrink_folio(w, base), reclaim_result::swapped);
        ASSERT_TRUE(pte_swp_exclusive(pte_at(w, base)));
        ASSERT_TRUE(pmd_write(pmd_at(w, thp)));

        copy_page_range(w);
        const pmd_t pmd = pmd_at(w, thp);
        EXPECT_TRUE(pmd_trans_huge(pmd) && !pmd_write(pmd)) << impl;
        EXPECT_EQ(w.mapcount(pmd_pfn(pmd) + 7), 2);
        const pte_t swp = pte_at(w, base);
        EXPECT_TRUE(softleaf_is_swap(softleaf_from_pte(swp))) << impl;
        EXPECT_FALSE(pte_swp_exclusive(swp)) << impl;
        EXPECT_EQ(w.m.hw_access(thp + 5 * ps, true, 0, 1).fault, hw_fault::write_protect);

        // The write fault splits the shared THP (do_huge_pmd_wp_page()) and copies one page.
        fault_path path = fault_path::none;
        ASSERT_EQ(handle_mm_fault(w, thp + 5 * ps, true, &path), vm_fault::done);
        EXPECT_EQ(path, fault_path::wp_copy) << impl;
        ASSERT_TRUE(pmd_table(pmd_at(w, thp))) << impl;
        EXPECT_NE(pte_pfn(pte_at(w, thp + 5 * ps)), pmd_pfn(pmd) + 5);
        EXPECT_EQ(pte_pfn(pte_at(w, thp + 6 * ps)), pmd_pfn(pmd) + 6);
        EXPECT_FALSE(pte_write(pte_at(w, thp + 6 * ps)));
        EXPECT_EQ(w.mapcount(pmd_pfn(pmd) + 5), 1); // the child's alone
        EXPECT_TRUE(w.m.hw_access(thp + 5 * ps, true, 0, 2).ok()) << impl;
        expect_no_violations(w);
    }
}

TEST(Fork, AWriteFaultOnAnExclusiveReadOnlyThpReusesIt) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        ASSERT_EQ(do_huge_pmd_anonymous_page(w, base, true), vm_fault::done);
        w.ops->pmdp_set_wrprotect(&w.m.mm, base, w.m.pmd_off(base));
        w.m.flush_tlb_mm();
        fault_path path = fault_path::none;
        ASSERT_EQ(handle_mm_fault(w, base + 3 * w.geo().page_size(), true, &path), vm_fault::done);
        EXPECT_EQ(path, fault_path::huge_wp_reuse) << impl;
        const pmd_t pmd = pmd_at(w, base);
        EXPECT_TRUE(pmd_trans_huge(pmd) && pmd_write(pmd) && pmd_dirty(pmd)) << impl;
        expect_no_violations(w);
    }
}

TEST(Fork, KhugepagedCopiesSharedPagesIntoATHPButNotIntoAnMthp) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        ASSERT_EQ(do_anonymous_page(w, base, 0, true), vm_fault::done);
        ASSERT_TRUE(w.m.hw_access(base, true, 0, 0x5a).ok());
        const pfn_t old = pte_pfn(pte_at(w, base));
        copy_page_range(w);
        EXPECT_FALSE(collapse_huge_page(w, base, 4)) << impl; // SCAN_EXCEED_SHARED_PTE
        ASSERT_TRUE(collapse_huge_page(w, base, w.geo().pmd_order())) << impl;
        EXPECT_EQ(w.m.hw_access(base, false).value, 0x5aU);
        EXPECT_EQ(w.mapcount(old), 1); // the child's mapping stays on the old page
        expect_no_violations(w);
    }
}

TEST(Fork, AWriteToAPageTheChildMapsIsCaught) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        ASSERT_EQ(do_anonymous_page(w, base, 0, true), vm_fault::done);
        copy_page_range(w);
        // A writable entry put back over the shared page, as a COW bug would leave it.
        {
            const pte_locked pte(w, base);
            const pte_t old = w.ops->ptep_get(*pte);
            w.ops->ptep_set_access_flags(&w.vma, base, *pte, pte_mkwrite_novma(old), 1);
        }
        w.m.clear_violations();
        ASSERT_TRUE(w.m.hw_access(base, true, 0, 7).ok());
        ASSERT_FALSE(w.m.violations().empty()) << impl;
        EXPECT_EQ(w.m.violations().front().id, "COW");
    }
}

/// A written order-0 page at the window's base, swapped out, then fork(): the child's entry
/// names the slot. Returns the slot.
std::uint64_t swap_out_and_fork(world &w) {
    const std::uint64_t base = w.m.window_start();
    EXPECT_EQ(do_anonymous_page(w, base, 0, true), vm_fault::done);
    EXPECT_TRUE(w.m.hw_access(base, true, 0, 0x5a).ok());
    EXPECT_EQ(shrink_folio(w, base), reclaim_result::swapped);
    const std::uint64_t slot = swp_offset(softleaf_from_pte(pte_at(w, base)));
    copy_page_range(w);
    EXPECT_EQ(w.swap_slots[slot].child_refs, 1);
    return slot;
}

TEST(Fork, ASwapInOfASlotTheChildNamesKeepsTheSlotAndTheWriteCopies) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t slot = swap_out_and_fork(w);

        // do_swap_page(): the folio stays in the swap cache for the child, read-only.
        ASSERT_EQ(do_swap_page(w, base, false), vm_fault::done);
        const pte_t in = pte_at(w, base);
        ASSERT_TRUE(pte_present(in)) << impl;
        EXPECT_FALSE(pte_write(in)) << impl;
        EXPECT_EQ(w.swap_slots[slot].content, 0x5aU) << impl;
        EXPECT_EQ(w.m.page(pte_pfn(in)).child_swap_slot, slot);
        EXPECT_FALSE(w.page_anon_exclusive(pte_pfn(in)));

        // The write copies (wp_can_reuse_anon_folio() cannot free the swap cache).
        fault_path path = fault_path::none;
        ASSERT_EQ(handle_mm_fault(w, base, true, &path), vm_fault::done);
        EXPECT_EQ(path, fault_path::wp_copy) << impl;
        EXPECT_NE(pte_pfn(pte_at(w, base)), pte_pfn(in)) << impl;
        ASSERT_TRUE(w.m.hw_access(base, true, 0, 0x6b).ok());
        EXPECT_EQ(w.m.page(pte_pfn(in)).content, 0x5aU) << impl;
        EXPECT_EQ(w.swap_slots[slot].content, 0x5aU) << impl;
        expect_no_violations(w);
    }
}

TEST(Fork, AWriteSwapInCopiesAndReclaimReusesTheCachedSlot) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        const std::uint64_t slot = swap_out_and_fork(w);
        ASSERT_EQ(do_swap_page(w, base, true), vm_fault::done);
        const pte_t copied = pte_at(w, base);
        EXPECT_TRUE(pte_write(copied) && pte_dirty(copied)) << impl;
        EXPECT_EQ(w.m.page(pte_pfn(copied)).child_swap_slot, 0U) << impl;
        EXPECT_EQ(w.swap_slots[slot].content, 0x5aU) << impl;

        // A second page: swapped out before the fork, in read-only after it, reclaimed again
        // into the slot its swap-cache folio keeps, not exclusive.
        ASSERT_EQ(do_anonymous_page(w, base + ps, 0, true), vm_fault::done);
        ASSERT_EQ(shrink_folio(w, base + ps), reclaim_result::swapped);
        const std::uint64_t second = swp_offset(softleaf_from_pte(pte_at(w, base + ps)));
        copy_page_range(w);
        ASSERT_EQ(do_swap_page(w, base + ps, false), vm_fault::done);
        ASSERT_EQ(shrink_folio(w, base + ps), reclaim_result::swapped);
        const pte_t again = pte_at(w, base + ps);
        EXPECT_EQ(swp_offset(softleaf_from_pte(again)), second) << impl;
        EXPECT_FALSE(pte_swp_exclusive(again)) << impl;

        // Zapping the parent's entry leaves the slot to the child.
        zap_pte_range(w, base + ps, 1);
        EXPECT_TRUE(w.swap_slots[second].content.has_value()) << impl;
        EXPECT_EQ(w.swap_slots[second].child_refs, 1) << impl;
        expect_no_violations(w);
    }
}

TEST(Fork, MigrationMovesTheSwapCacheSlotAndDeviceMigrationLeavesThePage) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t slot = swap_out_and_fork(w);
        ASSERT_EQ(do_swap_page(w, base, false), vm_fault::done);
        const pfn_t cached = pte_pfn(pte_at(w, base));

        // migrate_vma_pages() cannot drop the folio from the swap cache: the mapping stays.
        EXPECT_FALSE(migrate_device(w, base, false)) << impl;
        EXPECT_EQ(pte_pfn(pte_at(w, base)), cached) << impl;

        // __folio_migrate_mapping() moves the swap cache to the new folio.
        ASSERT_TRUE(migrate_folio(w, base)) << impl;
        const pfn_t moved = pte_pfn(pte_at(w, base));
        ASSERT_NE(moved, cached) << impl;
        EXPECT_EQ(w.m.page(moved).child_swap_slot, slot) << impl;
        EXPECT_EQ(w.m.page(cached).child_swap_slot, 0U) << impl;
        fault_path path = fault_path::none;
        ASSERT_EQ(handle_mm_fault(w, base, true, &path), vm_fault::done);
        EXPECT_EQ(path, fault_path::wp_copy) << impl;
        expect_no_violations(w);
    }
}

/// An mTHP of 16 pages at the window's base, page i written with 0x10 + i, then fork().
/// Returns its PFN.
pfn_t fork_written_mthp(world &w) {
    const std::uint64_t base = w.m.window_start();
    const std::uint64_t ps = w.geo().page_size();
    EXPECT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
    for (unsigned i = 0; i < 16; ++i)
        EXPECT_TRUE(w.m.hw_access(base + i * ps, true, 0, 0x10 + i).ok());
    const pfn_t pfn = pte_pfn(pte_at(w, base));
    copy_page_range(w);
    return pfn;
}

TEST(Fork, MigrationMovesTheChildsMappingsAndTheFolioStaysShared) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        const pfn_t old = fork_written_mthp(w);
        zap_pte_range(w, base + 3 * ps, 1); // the child alone maps page 3 now

        // try_to_migrate() and remove_migration_ptes() walk the child's VMA too.
        ASSERT_TRUE(migrate_folio(w, base)) << impl;
        const pfn_t moved = pte_pfn(pte_at(w, base));
        ASSERT_NE(moved, old) << impl;
        for (unsigned i = 0; i < 16; ++i) {
            EXPECT_EQ(w.m.page(moved + i).child_map_count, 1) << impl << " page " << i;
            EXPECT_EQ(w.m.page(old + i).child_map_count, 0) << impl << " page " << i;
            EXPECT_EQ(w.mapcount(old + i), 0) << impl << " page " << i;
            EXPECT_EQ(w.mapcount(moved + i), i == 3 ? 1 : 2) << impl << " page " << i;
            EXPECT_EQ(w.m.page(moved + i).content, 0x10U + i) << impl << " page " << i;
        }
        EXPECT_FALSE(w.page_anon_exclusive(moved)) << impl;
        EXPECT_FALSE(pte_write(pte_at(w, base))) << impl;

        // The new folio is still shared: the parent's write copies.
        fault_path path = fault_path::none;
        ASSERT_EQ(handle_mm_fault(w, base + ps, true, &path), vm_fault::done);
        EXPECT_EQ(path, fault_path::wp_copy) << impl;
        ASSERT_TRUE(w.m.hw_access(base + ps, true, 0, 0x99).ok());
        EXPECT_EQ(w.m.page(moved + 1).content, 0x11U) << impl;
        expect_no_violations(w);
    }
}

TEST(Fork, ReclaimGivesTheChildsMappingsTheirSlots) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        const pfn_t old = fork_written_mthp(w);
        zap_pte_range(w, base + 3 * ps, 1);

        // try_to_unmap() turns the child's entries into swap entries of the same slots.
        ASSERT_EQ(shrink_folio(w, base), reclaim_result::swapped) << impl;
        const pte_t swp = pte_at(w, base);
        const std::uint64_t slot = swp_offset(softleaf_from_pte(swp));
        EXPECT_FALSE(pte_swp_exclusive(swp)) << impl;
        for (unsigned i = 0; i < 16; ++i) {
            EXPECT_EQ(w.swap_slots[slot + i].child_refs, 1) << impl << " page " << i;
            EXPECT_EQ(w.swap_slots[slot + i].content, 0x10U + i) << impl << " page " << i;
            EXPECT_EQ(w.m.page(old + i).child_map_count, 0) << impl << " page " << i;
            EXPECT_EQ(w.mapcount(old + i), 0) << impl << " page " << i;
        }

        // The parent's swap-in leaves the slot to the child and its write copies.
        ASSERT_EQ(do_swap_page(w, base + ps, false), vm_fault::done) << impl;
        const pte_t in = pte_at(w, base + ps);
        EXPECT_EQ(w.m.page(pte_pfn(in)).child_swap_slot, slot + 1) << impl;
        fault_path path = fault_path::none;
        ASSERT_EQ(handle_mm_fault(w, base + ps, true, &path), vm_fault::done);
        EXPECT_EQ(path, fault_path::wp_copy) << impl;
        EXPECT_EQ(w.swap_slots[slot + 1].content, 0x11U) << impl;

        // Zapping the parent's entries leaves every slot to the child.
        zap_pte_range(w, base, 16);
        for (unsigned i = 0; i < 16; ++i)
            EXPECT_EQ(w.swap_slots[slot + i].content, 0x10U + i) << impl << " page " << i;
        expect_no_violations(w);
    }
}

TEST(Fork, MemoryFailurePoisonsTheChildsMappingToo) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        ASSERT_EQ(do_anonymous_page(w, base, 0, true), vm_fault::done);
        const pfn_t pfn = pte_pfn(pte_at(w, base));
        copy_page_range(w);
        ASSERT_TRUE(memory_failure(w, base)) << impl;
        EXPECT_EQ(w.m.page(pfn).child_map_count, 0) << impl;
        EXPECT_EQ(w.m.page(pfn).anon_map_count, 0) << impl;
        EXPECT_EQ(w.mapcount(pfn), 0) << impl;
        expect_no_violations(w);
    }
}

TEST(Fork, ADevicePrivateEntryIsSharedAndComesBackToRamShared) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        ASSERT_EQ(do_anonymous_page(w, base, 0, true), vm_fault::done);
        ASSERT_TRUE(w.m.hw_access(base, true, 0, 0x5a).ok());
        ASSERT_TRUE(migrate_device(w, base, false)) << impl;
        ASSERT_TRUE(softleaf_is_device_private_write(softleaf_from_pte(pte_at(w, base))));
        const pfn_t dev = softleaf_to_pfn(softleaf_from_pte(pte_at(w, base)));

        // copy_nonpresent_pte(): both sides readable, the child's entry holds the device page.
        copy_page_range(w);
        const softleaf_t e = softleaf_from_pte(pte_at(w, base));
        EXPECT_TRUE(softleaf_is_device_private(e) && !softleaf_is_device_private_write(e)) << impl;
        EXPECT_EQ(w.m.page(dev).child_map_count, 1) << impl;
        EXPECT_TRUE(w.page_child_held(dev)) << impl;

        // migrate_to_ram() takes the child's entry along: both map the new page, shared.
        ASSERT_TRUE(migrate_device(w, base, true)) << impl;
        const pte_t back = pte_at(w, base);
        ASSERT_TRUE(pte_present(back)) << impl;
        EXPECT_FALSE(pte_write(back)) << impl;
        EXPECT_EQ(w.m.page(dev).child_map_count, 0) << impl;
        EXPECT_EQ(w.m.page(pte_pfn(back)).child_map_count, 1) << impl;
        EXPECT_EQ(w.mapcount(pte_pfn(back)), 2) << impl;
        EXPECT_EQ(w.m.page(pte_pfn(back)).anon_map_count, 2) << impl;
        fault_path path = fault_path::none;
        ASSERT_EQ(handle_mm_fault(w, base, true, &path), vm_fault::done);
        EXPECT_EQ(path, fault_path::wp_copy) << impl;
        ASSERT_TRUE(w.m.hw_access(base, true, 0, 0x6b).ok());
        EXPECT_EQ(w.m.page(pte_pfn(back)).content, 0x5aU) << impl;
        expect_no_violations(w);
    }
}

TEST(Fork, DirectWritableSoftleavesOfAHeldPageAreMadeReadable) {
    const run_result r = run_text("mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n"
                                  "do_anonymous_page addr=0x40000000000 order=0\n"
                                  "fork\n"
                                  "set_softleaf addr=0x40000001000 type=device_write folio=0 "
                                  "page=0\n"
                                  "set_softleaf addr=0x40000002000 type=migration_write folio=0 "
                                  "page=0\n");
    EXPECT_EQ(verdict(r), "pass") << r.trace;
    EXPECT_NE(r.trace.find("set_softleaf addr=0x40000001000 type=device_read "), std::string::npos)
        << r.trace;
    EXPECT_NE(r.trace.find("set_softleaf addr=0x40000002000 type=migration_read "),
              std::string::npos)
        << r.trace;
}

TEST(Fork, SharedFoliosTheModelCannotFollowAreRefused) {
    const std::string head = "mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n"
                             "do_anonymous_page addr=0x40000000000 order=0\n"
                             "fork\n";
    // A lazy-free folio the child maps, a move of a shared page to the device, and fork over
    // a device-private entry a direct op wrote over a page that is not a device page.
    {
        const run_result r = run_text("mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n"
                                      "folio_alloc order=0\n"
                                      "set_softleaf addr=0x40000000000 type=device_write "
                                      "folio=0 page=0\n"
                                      "fork\n");
        EXPECT_EQ(verdict(r), "pass") << r.trace;
        EXPECT_EQ(r.noops, 1U) << r.trace;
    }
    for (const std::string tail : {"madvise_free addr=0x40000000000 nr=1\n"
                                   "shrink_folio addr=0x40000000000\n",
                                   "migrate_device addr=0x40000000000 to_ram=0\n"}) {
        const run_result r = run_text(head + tail);
        EXPECT_EQ(verdict(r), "pass") << r.trace;
        EXPECT_EQ(r.noops, 1U) << r.trace;
    }
    // memory_failure() of a page the swap cache holds for a slot the child names.
    {
        const run_result r = run_text("mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n"
                                      "handle_mm_fault addr=0x40000000000 write=1 slot=0 "
                                      "value=0x5a\n"
                                      "shrink_folio addr=0x40000000000\n"
                                      "fork\n"
                                      "handle_mm_fault addr=0x40000000000 write=0 slot=0 "
                                      "value=0x0\n"
                                      "memory_failure addr=0x40000000000\n");
        EXPECT_EQ(verdict(r), "pass") << r.trace;
        EXPECT_EQ(r.noops, 1U) << r.trace;
    }
    // Without the fork both are taken.
    const std::string alone = "mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n"
                              "do_anonymous_page addr=0x40000000000 order=0\n";
    for (const std::string tail : {"madvise_free addr=0x40000000000 nr=1\n"
                                   "shrink_folio addr=0x40000000000\n",
                                   "migrate_device addr=0x40000000000 to_ram=0\n"}) {
        const run_result r = run_text(alone + tail);
        EXPECT_EQ(verdict(r), "pass") << r.trace;
        EXPECT_EQ(r.noops, 0U) << r.trace;
    }
}

TEST(Fork, MadvFreeLeavesADirtyFolioTheChildSharesAndOneTheSwapCacheHolds) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        // Page 1: swapped out and in before the fork, so the folio itself is dirty (the swap
        // copy is gone); then shared with the child.
        ASSERT_EQ(do_anonymous_page(w, base + ps, 0, true), vm_fault::done);
        ASSERT_EQ(shrink_folio(w, base + ps), reclaim_result::swapped);
        ASSERT_EQ(do_swap_page(w, base + ps, false), vm_fault::done);
        folio *dirty = w.folios.back();
        ASSERT_TRUE(dirty->dirty);
        // Page 0: swapped out, forked, swapped in: the swap cache keeps it for the child.
        swap_out_and_fork(w);
        ASSERT_EQ(do_swap_page(w, base, false), vm_fault::done);
        folio *cached = w.folios.back();

        madvise_free(w, base, 2);
        EXPECT_FALSE(dirty->lazyfree) << impl;
        EXPECT_TRUE(dirty->dirty) << impl;
        EXPECT_TRUE(pte_young(pte_at(w, base + ps))) << impl;
        EXPECT_FALSE(cached->lazyfree) << impl;
        EXPECT_TRUE(pte_young(pte_at(w, base))) << impl;
        expect_no_violations(w);
    }
    // Without the fork the same dirty folio is cleaned and becomes lazy-free.
    world w("generic", opts4k(1));
    const std::uint64_t base = w.m.window_start();
    ASSERT_EQ(do_anonymous_page(w, base, 0, true), vm_fault::done);
    ASSERT_EQ(shrink_folio(w, base), reclaim_result::swapped);
    ASSERT_EQ(do_swap_page(w, base, false), vm_fault::done);
    madvise_free(w, base, 1);
    EXPECT_TRUE(w.folios.back()->lazyfree);
    EXPECT_FALSE(w.folios.back()->dirty);
}

TEST(Fork, SwapInCanaryIsCaughtAndTheReproducerPassesWithoutIt) {
    const std::string text = "mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n"
                             "do_anonymous_page addr=0x40000000000 order=0\n"
                             "shrink_folio addr=0x40000000000\n"
                             "fork\n"
                             "do_swap_page addr=0x40000000000 write=0\n"
                             "hw_access addr=0x40000000000 write=1 slot=0 value=0x5\n";
    EXPECT_EQ(verdict(run_text(text)), "pass");
    const run_result r = run_text(text, "swapin_reuses_shared_slot");
    ASSERT_TRUE(r.violation);
    EXPECT_EQ(r.violation->invariant, "COW");
    EXPECT_EQ(r.violation->op_index, 4U);
}

TEST(Fork, TheCanaryIsCaughtAndTheReproducerPassesWithoutIt) {
    const std::string text = "mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n"
                             "do_anonymous_page addr=0x40000000000 order=4\n"
                             "wrprotect_ptes addr=0x40000000000 nr=1\n"
                             "fork\n"
                             "hw_access addr=0x40000001000 write=1 slot=0 value=0x5\n";
    EXPECT_EQ(verdict(run_text(text)), "pass");
    const run_result r = run_text(text, "fork_write_bit_from_first");
    ASSERT_TRUE(r.violation);
    EXPECT_EQ(r.violation->invariant, "COW");
    EXPECT_EQ(r.violation->op_index, 3U);
}

} // namespace
} // namespace mmfuzz::test
