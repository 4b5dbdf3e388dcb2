// mprotect and UFFDIO_WRITEPROTECT over PMD-mapped THPs: change_huge_pmd() for a PMD the range
// covers whole, the split of one it covers in part, a range across page tables in one gather,
// and the in-place variant the break-before-make monitor must catch.
#include "core/flows.hpp"
#include "world_helpers.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mmfuzz::test {
namespace {

TEST(ChangeHugePmd, MprotectOfAWholeThpRewritesThePmdAfterInvalidatingIt) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        ASSERT_EQ(do_huge_pmd_anonymous_page(w, base, true), vm_fault::done);
        ASSERT_TRUE(w.m.hw_access(base + 9 * ps, true, 0, 0x99).ok());
        const pmd_t before = pmd_at(w, base);
        w.m.clear_logs();

        mprotect_fixup(w, base, w.geo().ptrs_per_pte(), VM_READ);
        pmd_t pmd = pmd_at(w, base);
        ASSERT_TRUE(pmd_trans_huge(pmd)) << impl;
        EXPECT_EQ(pmd_pfn(pmd), pmd_pfn(before));
        EXPECT_FALSE(pmd_write(pmd)) << impl;
        EXPECT_TRUE(pmd_young(pmd) && pmd_dirty(pmd)) << impl; // pmd_modify() keeps them
        // pmdp_invalidate() flushed the block before the new PMD was written, and the gather
        // flushed the PMD range at its end.
        ASSERT_EQ(w.m.flush_log().size(), 2U) << impl;
        EXPECT_EQ(w.m.flush_log()[0].kind, flush_kind::pmd_range);
        EXPECT_EQ(w.m.flush_log()[1].level, tlb_level_pmd);
        EXPECT_EQ(w.m.hw_access(base + 9 * ps, true, 0, 1).fault, hw_fault::write_protect);
        EXPECT_EQ(w.m.hw_access(base + 9 * ps, false).value, 0x99U);
        EXPECT_EQ(w.mapcount(pmd_pfn(pmd)), 1);
        EXPECT_EQ(w.m.mm.rss.anon, 512);

        // Writable again at once: the folio is exclusive (can_change_pmd_writable()).
        mprotect_fixup(w, base, w.geo().ptrs_per_pte(), VM_READ | VM_WRITE);
        EXPECT_TRUE(pmd_write(pmd_at(w, base))) << impl;
        EXPECT_TRUE(w.m.hw_access(base + 9 * ps, true, 0, 2).ok()) << impl;

        // Execute permission changes on a block mapping: break-before-make through the
        // invalidation, so no violation.
        mprotect_fixup(w, base, w.geo().ptrs_per_pte(), VM_READ | VM_EXEC);
        pmd = pmd_at(w, base);
        EXPECT_TRUE(pte_user_exec(pmd_pte(pmd)) && !pmd_write(pmd)) << impl;
        EXPECT_TRUE(pmd_trans_huge(pmd));
        expect_no_violations(w);
    }
}

TEST(ChangeHugePmd, MprotectOfPartOfAThpSplitsItFirst) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        ASSERT_EQ(do_huge_pmd_anonymous_page(w, base, true), vm_fault::done);
        mprotect_fixup(w, base + 16 * ps, 16, VM_READ);
        ASSERT_TRUE(pmd_table(pmd_at(w, base))) << impl;
        for (std::uint64_t i = 0; i < w.geo().ptrs_per_pte(); ++i) {
            const pte_t pte = w.ops->ptep_get(*w.pte_lookup(base + i * ps));
            EXPECT_EQ(pte_write(pte), i < 16 || i >= 32) << impl << " " << i;
        }
        expect_no_violations(w);
    }
}

const std::string header2 = "mmfuzz v1 granule=4K window=2 bbml2=0 split_ptlocks=1\n";

// The legalizer takes a PMD leaf the range reaches whole and runs on into the next table: one
// gather flushes the PMD and the PTEs together (no level hint), and the oracle follows both.
TEST(ChangeHugePmd, AnMprotectRunsAcrossPageTablesAndTakesATHPItReachesWhole) {
    const std::string text = header2 + "do_anonymous_page addr=0x40000000000 order=9\n"
                                       "do_anonymous_page addr=0x40000200000 order=4\n"
                                       "hw_access addr=0x40000003000 write=1 slot=0 value=0x7\n"
                                       "mprotect addr=0x40000100000 nr=300 prot=ro\n"
                                       "hw_access addr=0x40000003000 write=0 slot=0 value=0x0\n"
                                       "hw_access addr=0x40000201000 write=1 slot=0 value=0x8\n"
                                       "mprotect addr=0x40000000000 nr=1024 prot=rw\n"
                                       "hw_access addr=0x40000003000 write=1 slot=1 value=0x9\n";
    const run_result r = run_text(text);
    ASSERT_TRUE(r.passed()) << verdict(r);
    const op &m = r.legalized.ops[3];
    EXPECT_EQ(m[slot::addr], 0U);
    EXPECT_EQ(m[slot::nr], 512U + 44U);
}

// PROT_NONE takes a THP whole too: accesses meet SIGSEGV (the VMA check comes before
// do_huge_pmd_numa_page()), and the data is there again once the protection is.
TEST(ChangeHugePmd, AProtNoneMprotectTakesAThpWhole) {
    const std::string text = header2 +
                             "do_anonymous_page addr=0x40000200000 order=9\n"
                             "hw_access addr=0x40000201000 write=1 slot=0 value=0x3\n"
                             "mprotect addr=0x40000000000 nr=600 prot=none\n"
                             "handle_mm_fault addr=0x40000201000 write=0 slot=0 value=0x0\n"
                             "mprotect addr=0x40000200000 nr=1 prot=rw\n"
                             "handle_mm_fault addr=0x40000201000 write=1 slot=0 value=0x4\n";
    const run_result r = run_text(text);
    ASSERT_TRUE(r.passed()) << verdict(r);
    ASSERT_EQ(r.legalized.ops.size(), 6U);
    EXPECT_EQ(r.legalized.ops[2][slot::nr], 1024U);
    EXPECT_EQ(r.legalized.ops[4][slot::nr], 512U);
    EXPECT_NE(r.trace.find("VM_FAULT_SIGSEGV"), std::string::npos) << r.trace;
}

// mprotect of part of a THP splits it at the new VMA's ends before the flags change
// (vma_adjust_trans_huge()), so the pages outside keep the old protection: a PROT_NONE THP
// opened in part stays closed beyond the range.
TEST(ChangeHugePmd, APartialMprotectSplitsWithTheOldProtection) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        ASSERT_EQ(do_huge_pmd_anonymous_page(w, base, true), vm_fault::done);
        mprotect_fixup(w, base, w.geo().ptrs_per_pte(), 0);
        ASSERT_TRUE(pmd_protnone(pmd_at(w, base))) << impl;
        mprotect_fixup(w, base, 16, VM_READ | VM_EXEC);
        ASSERT_TRUE(pmd_table(pmd_at(w, base))) << impl;
        for (std::uint64_t i = 0; i < 48; ++i) {
            const pte_t pte = w.ops->ptep_get(*w.pte_lookup(base + i * ps));
            EXPECT_EQ(pte_valid(pte) && pte_user_exec(pte), i < 16) << impl << " " << i;
            EXPECT_EQ(pte_protnone(pte), i >= 16) << impl << " " << i;
        }
        EXPECT_TRUE(w.m.hw_access(base + 3 * ps, false).ok()) << impl;
        expect_no_violations(w);
    }
}

// UFFDIO_WRITEPROTECT of a whole THP keeps the PMD: write-protected and uffd-wp, so a write
// goes to the monitor (do_huge_pmd_wp_page() gives up); resolving makes the exclusive THP
// writable again at once (MM_CP_TRY_CHANGE_WRITABLE). Part of one is split first, and the
// PTEs carry the bit where the range was.
TEST(ChangeHugePmd, UffdWriteProtectOfAThp) {
    for (const char *impl : impls) {
        world w(impl, opts4k(1));
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        const std::uint64_t per = w.geo().ptrs_per_pte();
        ASSERT_EQ(do_huge_pmd_anonymous_page(w, base, true), vm_fault::done);
        ASSERT_TRUE(w.m.hw_access(base + 7 * ps, true, 0, 0x77).ok());
        w.m.clear_logs();
        uffd_writeprotect(w, base, per, true);
        pmd_t pmd = pmd_at(w, base);
        ASSERT_TRUE(pmd_trans_huge(pmd)) << impl;
        EXPECT_TRUE(pmd_uffd_wp(pmd) && !pmd_write(pmd) && pmd_dirty(pmd)) << impl;
        EXPECT_EQ(w.m.flush_log().size(), 2U) << impl; // pmdp_invalidate(), then the gather
        EXPECT_EQ(w.m.hw_access(base + 7 * ps, true, 0, 1).fault, hw_fault::write_protect);
        const touch_result t = touch(w, base + 7 * ps, true, 0, 1);
        EXPECT_FALSE(t.access.ok()) << impl;
        EXPECT_TRUE(pmd_uffd_wp(pmd_at(w, base))) << impl;

        uffd_writeprotect(w, base, per, false);
        pmd = pmd_at(w, base);
        EXPECT_TRUE(pmd_trans_huge(pmd) && !pmd_uffd_wp(pmd) && pmd_write(pmd)) << impl;
        EXPECT_TRUE(w.m.hw_access(base + 7 * ps, true, 0, 2).ok()) << impl;

        uffd_writeprotect(w, base + 16 * ps, 16, true);
        ASSERT_TRUE(pmd_table(pmd_at(w, base))) << impl;
        for (std::uint64_t i = 0; i < 48; ++i) {
            const pte_t pte = w.ops->ptep_get(*w.pte_lookup(base + i * ps));
            EXPECT_EQ(pte_uffd_wp(pte), i >= 16 && i < 32) << impl << " " << i;
            EXPECT_EQ(pte_write(pte), i < 16 || i >= 32) << impl << " " << i;
        }
        expect_no_violations(w);
    }
}

// Through the oracle: the legalizer takes a THP whole, and a split carries uffd-wp to the PTEs.
TEST(ChangeHugePmd, UffdWriteProtectOfAThpThroughTheOracle) {
    const std::string text = header2 +
                             "do_anonymous_page addr=0x40000200000 order=9\n"
                             "hw_access addr=0x40000201000 write=1 slot=0 value=0x3\n"
                             "uffd_writeprotect addr=0x40000210000 nr=4 enable=1\n"
                             "handle_mm_fault addr=0x40000201000 write=1 slot=0 value=0x4\n"
                             "split_huge_pmd addr=0x40000200000\n"
                             "uffd_writeprotect addr=0x40000200000 nr=16 enable=0\n"
                             "handle_mm_fault addr=0x40000201000 write=1 slot=0 value=0x5\n"
                             "handle_mm_fault addr=0x40000211000 write=0 slot=0 value=0x0\n";
    const run_result r = run_text(text);
    ASSERT_TRUE(r.passed()) << verdict(r);
    ASSERT_EQ(r.legalized.ops.size(), 8U);
    EXPECT_EQ(r.legalized.ops[2][slot::addr], 512U);
    EXPECT_EQ(r.legalized.ops[2][slot::nr], 512U);
    EXPECT_EQ(r.applied, 8U) << r.trace;
    EXPECT_NE(r.trace.find("ok value=0x5"), std::string::npos) << r.trace;
}

// In place, a change of write permission is safe on a live block; one of execute permission
// is not.
TEST(ChangeHugePmd, InPlaceIsCaughtWhenExecutePermissionChanges) {
    const std::string thp = std::string("mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n") +
                            "do_anonymous_page addr=0x40000000000 order=9\n";
    const run_result ro =
        run_text(thp + "mprotect addr=0x40000000000 nr=1 prot=ro\n", "change_huge_pmd_in_place");
    EXPECT_TRUE(ro.passed()) << verdict(ro);
    const std::string rx = thp + "mprotect addr=0x40000000000 nr=1 prot=rx\n";
    const run_result bad = run_text(rx, "change_huge_pmd_in_place");
    ASSERT_FALSE(bad.passed());
    EXPECT_EQ(bad.violation->invariant, "BBM");
    EXPECT_EQ(bad.violation->op_index, 1U);
    const run_result good = run_text(rx);
    EXPECT_TRUE(good.passed()) << verdict(good);
}

} // namespace
} // namespace mmfuzz::test
