// NUMA balancing's scan, change_prot_numa(): which entries become PROT_NONE hints in each
// world, what it passes over, and the hinting fault that restores them.
#include "arch/registry.hpp"
#include "core/flows.hpp"
#include "pgtable/softleaf.hpp"
#include "world_helpers.hpp"

#include <gtest/gtest.h>

namespace mmfuzz {
namespace {

constexpr std::uint64_t base = machine::window_base;
constexpr std::uint64_t page = 0x1000;

pte_t entry(world &w, std::uint64_t va) {
    return w.ops->ptep_get(*w.pte_lookup(va));
}

class NumaScan : public ::testing::TestWithParam<std::string> {};

TEST_P(NumaScan, HintsEachFolioAndTheFaultRestoresIt) {
    world w(GetParam(), test::opts4k(1));
    ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
    ASSERT_EQ(do_anonymous_page(w, base + 16 * page, 0, true), vm_fault::done);
    ASSERT_TRUE(touch(w, base + 3 * page, true, 0, 0x42).access.ok());
    change_prot_numa(w, base, 32);
    for (std::uint64_t i = 0; i < 17; ++i) {
        const pte_t p = entry(w, base + i * page);
        EXPECT_TRUE(pte_protnone(p)) << i;
        EXPECT_TRUE(pte_young(p)) << i; // pte_modify() keeps young and dirty
    }
    EXPECT_TRUE(pte_dirty(entry(w, base + 3 * page)));
    EXPECT_EQ(w.vm_flags_at(base), VM_READ | VM_WRITE); // the VMA's flags stay
    // The hint is in the TLB too: the next access faults and do_numa_page() restores the
    // whole folio, writable again (exclusive anon), the data kept.
    const touch_result t = touch(w, base + 3 * page, false, 0, 0);
    EXPECT_EQ(t.path, fault_path::numa);
    ASSERT_TRUE(t.access.ok());
    EXPECT_EQ(t.access.value, 0x42U);
    for (std::uint64_t i = 0; i < 16; ++i)
        EXPECT_TRUE(pte_write(entry(w, base + i * page))) << i;
    EXPECT_TRUE(pte_protnone(entry(w, base + 16 * page))); // another folio
    test::expect_no_violations(w);
}

// folio_can_map_prot_numa(): a folio a fork child shares is left as it is, as are special
// entries (no folio) and software leaves but for their write permission.
TEST_P(NumaScan, PassesOverSharedFoliosAndSpecialEntries) {
    world w(GetParam(), test::opts4k(1));
    ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
    copy_page_range(w);
    ASSERT_EQ(do_anonymous_page(w, base + 16 * page, 0, true), vm_fault::done);
    folio *f = w.m.folio_alloc(0, true);
    {
        const hw_ptep p = *w.pte_lookup(base + 17 * page);
        w.m.spin_lock(w.ptl(base));
        w.ops->set_ptes(&w.m.mm, base + 17 * page, p,
                        pte_mkspecial(pfn_pte(f->pfn, w.vm_page_prot(base))), 1);
        w.ops->set_ptes(&w.m.mm, base + 18 * page, hw_pte_add(p, 1),
                        softleaf_to_pte(make_writable_migration_entry(f->pfn)), 1);
        w.m.spin_unlock(w.ptl(base));
    }
    change_prot_numa(w, base, 32);
    for (std::uint64_t i = 0; i < 16; ++i)
        EXPECT_FALSE(pte_protnone(entry(w, base + i * page))) << i;
    EXPECT_TRUE(pte_protnone(entry(w, base + 16 * page)));
    EXPECT_FALSE(pte_protnone(entry(w, base + 17 * page)));
    const softleaf_t l = softleaf_from_pte(entry(w, base + 18 * page));
    EXPECT_TRUE(softleaf_is_migration(l) && !softleaf_is_migration_write(l));
    test::expect_no_violations(w);
}

// UFFDIO_WRITEPROTECT rebuilds an entry from vm_page_prot (change_pte_range()), which ends a
// NUMA hint: the pages are readable again without a hinting fault.
TEST_P(NumaScan, AUffdWriteProtectEndsAHint) {
    world w(GetParam(), test::opts4k(1));
    ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
    change_prot_numa(w, base, 16);
    ASSERT_TRUE(pte_protnone(entry(w, base + 5 * page)));
    uffd_writeprotect(w, base, 8, true);
    for (std::uint64_t i = 0; i < 16; ++i) {
        const pte_t p = entry(w, base + i * page);
        EXPECT_EQ(pte_protnone(p), i >= 8) << i;
        EXPECT_EQ(pte_uffd_wp(p), i < 8) << i;
        EXPECT_FALSE(pte_write(p)) << i;
    }
    EXPECT_EQ(w.m.hw_access(base + 5 * page, false).fault, hw_fault::ok);
    test::expect_no_violations(w);
}

pmd_t pmd_of(world &w) {
    return w.ops->pmdp_get(w.m.pmd_off(base));
}

// change_huge_pmd() with MM_CP_PROT_NUMA: the PMD is invalidated and flushed, then written
// PROT_NONE, young and dirty kept; do_huge_pmd_numa_page() gives the protection back, writable
// at once for an exclusive THP.
TEST_P(NumaScan, HintsAWholeThpAndTheFaultRestoresIt) {
    world w(GetParam(), test::opts4k(1));
    ASSERT_EQ(do_huge_pmd_anonymous_page(w, base, true), vm_fault::done);
    ASSERT_TRUE(touch(w, base + 9 * page, true, 0, 0x99).access.ok());
    w.m.clear_logs();
    change_prot_numa(w, base, 512);
    const pmd_t hint = pmd_of(w);
    ASSERT_TRUE(pmd_trans_huge(hint) && pmd_protnone(hint));
    EXPECT_TRUE(pmd_young(hint) && pmd_dirty(hint));
    EXPECT_FALSE(pmd_write(hint));
    EXPECT_EQ(w.vm_flags_at(base), VM_READ | VM_WRITE);
    ASSERT_EQ(w.m.flush_log().size(), 2U); // pmdp_invalidate(), then the gather
    EXPECT_EQ(w.m.flush_log()[0].kind, flush_kind::pmd_range);
    EXPECT_EQ(w.m.hw_access(base + 9 * page, false).fault, hw_fault::protnone);

    // A second scan leaves a hint as it is.
    w.m.clear_logs();
    change_prot_numa(w, base, 512);
    EXPECT_EQ(pmd_of(w), hint);
    EXPECT_TRUE(w.m.write_log().empty());

    const touch_result t = touch(w, base + 9 * page, false, 0, 0);
    EXPECT_EQ(t.path, fault_path::huge_numa);
    ASSERT_TRUE(t.access.ok());
    EXPECT_EQ(t.access.value, 0x99U);
    const pmd_t back = pmd_of(w);
    EXPECT_TRUE(pmd_trans_huge(back) && !pmd_protnone(back) && pmd_write(back));
    EXPECT_TRUE(pmd_young(back) && pmd_dirty(back));
    EXPECT_TRUE(touch(w, base + 10 * page, true, 0, 0x5).access.ok());
    EXPECT_EQ(w.mapcount(pmd_pfn(back)), 1);
    test::expect_no_violations(w);
}

// A THP a fork child shares is passed over (folio_can_map_prot_numa()).
TEST_P(NumaScan, PassesOverASharedThp) {
    world w(GetParam(), test::opts4k(1));
    ASSERT_EQ(do_huge_pmd_anonymous_page(w, base, true), vm_fault::done);
    copy_page_range(w);
    const pmd_t before = pmd_of(w);
    change_prot_numa(w, base, 512);
    EXPECT_EQ(pmd_of(w), before);
    test::expect_no_violations(w);
}

// A scan over part of a THP splits it (change_pmd_range()) and hints the PTEs in the range.
// The split does not carry a PMD hint over: a THP hinted whole and then split maps its pages
// with the VMA's protection again (__split_huge_pmd_locked()).
TEST_P(NumaScan, APartialScanSplitsTheThpAndASplitDropsAHint) {
    world w(GetParam(), test::opts4k(1));
    ASSERT_EQ(do_huge_pmd_anonymous_page(w, base, true), vm_fault::done);
    change_prot_numa(w, base + 16 * page, 16);
    ASSERT_TRUE(pmd_table(pmd_of(w)));
    for (std::uint64_t i = 0; i < 48; ++i)
        EXPECT_EQ(pte_protnone(entry(w, base + i * page)), i >= 16 && i < 32) << i;
    EXPECT_TRUE(pte_write(entry(w, base)));
    test::expect_no_violations(w);

    world h(GetParam(), test::opts4k(1));
    ASSERT_EQ(do_huge_pmd_anonymous_page(h, base, true), vm_fault::done);
    change_prot_numa(h, base, 512);
    split_huge_pmd(h, base);
    for (std::uint64_t i = 0; i < 512; i += 73) {
        const pte_t p = entry(h, base + i * page);
        EXPECT_TRUE(pte_valid(p) && !pte_protnone(p) && !pte_write(p)) << i;
        EXPECT_TRUE(pte_young(p) && pte_dirty(p)) << i;
    }
    EXPECT_EQ(h.m.hw_access(base + 3 * page, false).fault, hw_fault::ok);
    test::expect_no_violations(h);
}

INSTANTIATE_TEST_SUITE_P(Impls, NumaScan, ::testing::ValuesIn(pgtable_ops_names()),
                         [](const auto &info) { return info.param; });

/// A program on the 4K granule with a window of `pmds` PMDs, run with the oracle and a trace.
run_result run_body(const std::string &body, unsigned pmds = 1) {
    return test::run_text("mmfuzz v1 granule=4K window=" + std::to_string(pmds) +
                          " bbml2=0 split_ptlocks=1\n" + body);
}

TEST(NumaScanOracle, ACpuAndADeviceTakeTheHintsOfAScan) {
    const run_result r = run_body("do_anonymous_page addr=0x40000000000 order=4\n"
                                  "handle_mm_fault addr=0x40000003000 write=1 slot=0 value=0x42\n"
                                  "change_prot_numa addr=0x40000000000 nr=16\n"
                                  "hw_access addr=0x40000003000 write=0 slot=0 value=0x0\n"
                                  "iommu_sva_handle_mm addr=0x40000005000 write=1 value=0x7\n"
                                  "change_prot_numa addr=0x40000000000 nr=16\n"
                                  "handle_mm_fault addr=0x40000003000 write=0 slot=0 value=0x0\n");
    EXPECT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.applied, 7U);
    EXPECT_NE(r.trace.find("fault protnone"), std::string::npos) << r.trace;
    EXPECT_NE(r.trace.find("ok value=0x42 (do_numa_page: handled)"), std::string::npos) << r.trace;
}

// task_numa_work() skips a PROT_NONE VMA; the scan stops where the VMA ends and takes a THP it
// reaches whole.
TEST(NumaScanOracle, TheLegalizerKeepsToOneAccessibleVma) {
    const run_result r = run_body("do_anonymous_page addr=0x40000200000 order=9\n"
                                  "mprotect addr=0x40000000000 nr=4 prot=none\n"
                                  "mprotect addr=0x40000008000 nr=4 prot=ro\n"
                                  "change_prot_numa addr=0x40000000000 nr=8\n"
                                  "change_prot_numa addr=0x40000004000 nr=600\n"
                                  "change_prot_numa addr=0x4000000c000 nr=600\n"
                                  "change_prot_numa addr=0x40000210000 nr=16\n",
                                  2);
    EXPECT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.noops, 1U) << r.trace;
    EXPECT_NE(r.trace.find("passes over an inaccessible VMA"), std::string::npos) << r.trace;
    EXPECT_NE(r.trace.find("change_prot_numa addr=0x40000004000 nr=4\n"), std::string::npos)
        << r.trace;
    EXPECT_NE(r.trace.find("change_prot_numa addr=0x4000000c000 nr=1012\n"), std::string::npos)
        << r.trace;
    EXPECT_NE(r.trace.find("change_prot_numa addr=0x40000200000 nr=512\n"), std::string::npos)
        << r.trace;
}

// A PMD hint through the oracle: the CPU's access faults on it and do_huge_pmd_numa_page()
// restores the THP, a device's too; a hint over a THP then mprotect(PROT_NONE) and back.
TEST(NumaScanOracle, ACpuAndADeviceTakeTheHintOfAThp) {
    const run_result r = run_body("do_anonymous_page addr=0x40000000000 order=9\n"
                                  "hw_access addr=0x40000003000 write=1 slot=0 value=0x42\n"
                                  "change_prot_numa addr=0x40000010000 nr=16\n"
                                  "hw_access addr=0x40000003000 write=0 slot=0 value=0x0\n"
                                  "handle_mm_fault addr=0x40000003000 write=0 slot=0 value=0x0\n"
                                  "change_prot_numa addr=0x40000000000 nr=512\n"
                                  "iommu_sva_handle_mm addr=0x40000005000 write=1 value=0x7\n"
                                  "change_prot_numa addr=0x40000000000 nr=512\n"
                                  "mprotect addr=0x40000000000 nr=512 prot=none\n"
                                  "mprotect addr=0x40000000000 nr=512 prot=rw\n"
                                  "handle_mm_fault addr=0x40000005000 write=0 slot=0 value=0x0\n");
    EXPECT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.applied, 11U) << r.trace;
    EXPECT_NE(r.trace.find("change_prot_numa addr=0x40000000000 nr=512\n"), std::string::npos)
        << r.trace;
    EXPECT_NE(r.trace.find("fault protnone"), std::string::npos) << r.trace;
    EXPECT_NE(r.trace.find("ok value=0x42 (do_huge_pmd_numa_page: handled)"), std::string::npos)
        << r.trace;
}

// A file folio's dirty flag differs between the worlds once part of a written contiguous block
// is zapped (arm64 clears the entry with the block's dirty bit and marks the folio dirty), and
// the scan passes over a dirty file folio: the legalizer stops before one. Found by the fuzzer
// as an EQUIV at the scan when it ran on.
TEST(NumaScanOracle, TheLegalizerStopsBeforeAFileFolio) {
    const run_result r =
        run_body("do_anonymous_page addr=0x40000000000 order=2\n"
                 "folio_alloc order=4 anon=0\n"
                 "set_ptes addr=0x40000010000 nr=16 folio=1 page=0 prot=rw flags=0\n"
                 "hw_access addr=0x40000010000 write=1 slot=0 value=0x0\n"
                 "zap_pte_range addr=0x40000011000 nr=1\n"
                 "change_prot_numa addr=0x40000010000 nr=1\n"
                 "change_prot_numa addr=0x40000000000 nr=32\n");
    EXPECT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.noops, 1U) << r.trace;
    EXPECT_NE(r.trace.find("a file folio's dirty flag"), std::string::npos) << r.trace;
    EXPECT_NE(r.trace.find("change_prot_numa addr=0x40000000000 nr=16\n"), std::string::npos)
        << r.trace;
}

} // namespace
} // namespace mmfuzz
