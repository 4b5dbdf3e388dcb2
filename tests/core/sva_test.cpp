// A device's accesses through an SMMU without HTTU (machine::device_access()) and the SVA fault
// path (sva_touch()): the walker reads the page's own entry and never sets AF or dirty, so the
// fault handler's access-flag fix-up must let its retry through, in both worlds.
#include "arch/registry.hpp"
#include "core/flows.hpp"
#include "core/pte_walk.hpp"
#include "program/codec.hpp"
#include "program/runner.hpp"

#include <gtest/gtest.h>

namespace mmfuzz {
namespace {

constexpr std::uint64_t base = machine::window_base;

machine_options opts() {
    machine_options o;
    o.window_pmds = 1;
    return o;
}

pte_t raw(world &w, std::uint64_t va) {
    return w.m.peek_pte(*w.m.live_table_for(va), w.geo().pte_index(va));
}

/// A written mTHP of 16 pages whose entries are then made old and clean.
void map_old_clean_block(world &w) {
    ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
    const pte_locked pte(w, base);
    w.ops->clear_young_dirty_ptes(&w.vma, base, *pte, 16, CYDP_CLEAR_YOUNG | CYDP_CLEAR_DIRTY);
    w.m.flush_tlb_range(base, base + 16 * w.geo().page_size());
}

class Sva : public ::testing::TestWithParam<std::string> {};

TEST_P(Sva, TheDeviceFaultsOnAnOldOrCleanEntryAndWritesNothingItself) {
    world w(GetParam(), opts());
    map_old_clean_block(w);
    const pte_t before = raw(w, base);
    const std::size_t writes = w.m.write_log().size();
    EXPECT_EQ(w.m.device_access(base, false).fault, hw_fault::access_flag);
    EXPECT_EQ(w.m.device_access(base, true, 0x5).fault, hw_fault::access_flag);
    EXPECT_EQ(raw(w, base), before);
    EXPECT_EQ(w.m.write_log().size(), writes);
    EXPECT_EQ(w.m.tlb_nr_entries(), 0U);
    // The CPU sets AF itself; the device then reads, but a write still finds the entry
    // read-only (AP[2]) although it is writable-clean (DBM), and faults.
    ASSERT_TRUE(w.m.hw_access(base + w.geo().page_size(), false, 1).ok());
    ASSERT_TRUE(pte_young(raw(w, base + w.geo().page_size())));
    const hw_access_result rd = w.m.device_access(base + w.geo().page_size(), false);
    EXPECT_TRUE(rd.ok());
    EXPECT_EQ(rd.value, 0U);
    EXPECT_EQ(w.m.device_access(base + w.geo().page_size(), true, 0x5).fault,
              hw_fault::write_protect);
}

TEST_P(Sva, TheFaultHandlersFixUpLetsTheRetryThrough) {
    world w(GetParam(), opts());
    map_old_clean_block(w);
    const touch_result rd = sva_touch(w, base + 0x3000, false, 0);
    EXPECT_TRUE(rd.faulted);
    EXPECT_EQ(rd.path, fault_path::access);
    EXPECT_EQ(rd.handled, vm_fault::done);
    EXPECT_TRUE(rd.access.ok());
    EXPECT_TRUE(pte_young(raw(w, base + 0x3000)));

    const touch_result wr = sva_touch(w, base + 0x3000, true, 0x42);
    EXPECT_TRUE(wr.faulted);
    EXPECT_EQ(wr.path, fault_path::access);
    ASSERT_TRUE(wr.access.ok());
    const pte_t e = raw(w, base + 0x3000);
    EXPECT_TRUE(pte_young(e) && pte_dirty(e) && pte_write(e));
    EXPECT_EQ(w.m.page(pte_pfn(e)).content, 0x42U);
    EXPECT_FALSE(sva_touch(w, base + 0x3000, true, 0x43).faulted);
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(Sva, AWriteTheVmaDoesNotAllowIsRefused) {
    world w(GetParam(), opts());
    map_old_clean_block(w);
    mprotect_fixup(w, base, 16, VM_READ);
    const touch_result r = sva_touch(w, base, true, 0x1);
    EXPECT_EQ(r.handled, vm_fault::sigsegv);
    EXPECT_EQ(r.access.fault, hw_fault::access_flag);
    EXPECT_TRUE(sva_touch(w, base, false, 0).access.ok());
}

/// A PROT_NONE entry in an accessible VMA (a NUMA hint) over a clean page.
void make_numa_hint(world &w, std::uint64_t va) {
    const pte_locked pte(w, va);
    w.ops->clear_young_dirty_ptes(&w.vma, va, *pte, 1, CYDP_CLEAR_DIRTY);
    const pte_t old = w.ops->modify_prot_start_ptes(&w.vma, va, *pte, 1);
    w.ops->modify_prot_commit_ptes(&w.vma, va, *pte, old, pte_modify(old, PAGE_NONE), 1);
    w.m.flush_tlb_page(va);
}

// do_numa_page() restores a young but clean entry, so the device's retried write faults again
// and takes the dirty fix-up before it goes through.
TEST_P(Sva, ANumaHintTakesASecondFaultForTheDirtyState) {
    world w(GetParam(), opts());
    ASSERT_EQ(do_anonymous_page(w, base, 0, true), vm_fault::done);
    make_numa_hint(w, base);
    ASSERT_TRUE(pte_protnone(raw(w, base)));
    const touch_result r = sva_touch(w, base, true, 0x77);
    ASSERT_TRUE(r.access.ok());
    ASSERT_EQ(r.nr_earlier, 1U);
    EXPECT_EQ(r.earlier[0].path, fault_path::numa);
    EXPECT_EQ(r.path, fault_path::access);
    const pte_t e = raw(w, base);
    EXPECT_TRUE(pte_young(e) && pte_dirty(e) && pte_write(e));
    EXPECT_EQ(w.m.page(pte_pfn(e)).content, 0x77U);
    // The CPU needs one fault: its hardware sets dirty on the restored entry.
    make_numa_hint(w, base);
    const touch_result cpu = touch(w, base, true, 0, 0x78);
    EXPECT_TRUE(cpu.access.ok());
    EXPECT_EQ(cpu.path, fault_path::numa);
    EXPECT_EQ(cpu.nr_earlier, 0U);
    EXPECT_TRUE(w.m.violations().empty());
}

// An old THP: the device's access-flag fault goes to huge_pmd_set_accessed(), which makes the
// PMD young; a write to a write-protected one to do_huge_pmd_wp_page().
TEST_P(Sva, AnOldThpTakesHugePmdSetAccessed) {
    world w(GetParam(), opts());
    ASSERT_EQ(do_anonymous_page(w, base, w.geo().pmd_order(), true), vm_fault::done);
    const hw_pmdp pmdp = w.m.pmd_off(base);
    ASSERT_TRUE(pmd_leaf(w.ops->pmdp_get(pmdp)));
    ASSERT_TRUE(w.ops->pmdp_test_and_clear_young(&w.vma, base, pmdp));
    w.m.flush_pmd_tlb_range(base, base + w.geo().pmd_size());
    EXPECT_EQ(w.m.device_access(base + 0x5000, false).fault, hw_fault::access_flag);
    const touch_result rd = sva_touch(w, base + 0x5000, false, 0);
    ASSERT_TRUE(rd.access.ok());
    EXPECT_TRUE(rd.access.pmd_leaf);
    EXPECT_EQ(rd.path, fault_path::huge_access);
    EXPECT_EQ(rd.nr_earlier, 0U);
    EXPECT_TRUE(pmd_young(w.ops->pmdp_get(pmdp)));

    w.ops->pmdp_set_wrprotect(&w.m.mm, base, pmdp);
    w.m.flush_pmd_tlb_range(base, base + w.geo().pmd_size());
    const touch_result wr = sva_touch(w, base + 0x6000, true, 0x99);
    ASSERT_TRUE(wr.access.ok());
    EXPECT_EQ(wr.path, fault_path::huge_wp_reuse);
    EXPECT_TRUE(pmd_write(w.ops->pmdp_get(pmdp)));
    EXPECT_TRUE(w.m.violations().empty());
}

INSTANTIATE_TEST_SUITE_P(Impls, Sva, ::testing::ValuesIn(pgtable_ops_names()),
                         [](const auto &info) { return info.param; });

run_result run_text(const std::string &body, const std::string &inject = "") {
    const program p =
        parse_text("mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n" + body, "test");
    run_options o;
    o.inject = inject;
    o.trace = true;
    return run_program(p, o);
}

// The CPU's write through entry 1 of the block dirties that entry in the contpte world and page
// 0's own entry in the reference; the device's write to page 0 then faults in the contpte world
// only, and the fix-up makes the two end alike. With the canary the contpte world's fix-up
// changes nothing, and its device faults until the op gives up.
TEST(SvaOracle, OneWorldMayTakeTheAccessFlagFixUpAlone) {
    const std::string body =
        "folio_alloc order=4 anon=1\n"
        "set_ptes addr=0x40000000000 nr=16 folio=0 page=0 prot=rw flags=young\n"
        "hw_access addr=0x40000000000 write=1 slot=1 value=0x7\n"
        "iommu_sva_handle_mm addr=0x40000000000 write=1 value=0x9\n"
        "iommu_sva_handle_mm addr=0x40000000000 write=0 value=0x0\n";
    const run_result r = run_text(body);
    ASSERT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.applied, 5U);
    const run_result bug = run_text(body, "set_access_flags_gathered_noop");
    ASSERT_FALSE(bug.passed());
    EXPECT_EQ(bug.violation->invariant, "FAULT_PROGRESS");
    EXPECT_EQ(bug.violation->op_index, 3U);
    EXPECT_NE(bug.violation->summary.find("arm64_contpte"), std::string::npos)
        << bug.violation->summary;
}

// After a block-wide clear of young (contpte) and uffd-wp, the device's write fails in both
// worlds, on AF in the contpte world and on the write permission in the reference, where the
// entry stayed young: the same failure.
TEST(SvaOracle, AnAccessThatStillFailsMayFailOnAfInOneWorldOnly) {
    const run_result r = run_text("do_anonymous_page addr=0x40000000000 order=0\n"
                                  "collapse_huge_page addr=0x40000000000 order=6\n"
                                  "clear_flush_young_ptes addr=0x40000008000 nr=25\n"
                                  "uffd_writeprotect addr=0x4000001a000 nr=8 enable=1\n"
                                  "iommu_sva_handle_mm addr=0x4000001a000 write=1 value=0x0\n");
    ASSERT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.applied, 5U);
}

// A NUMA hint: do_numa_page() restores a clean entry, so the device's write faults a second
// time, on the dirty state, in both worlds.
TEST(SvaOracle, TheDeviceRetriesAfterANumaHint) {
    const run_result r = run_text("do_anonymous_page addr=0x40000000000 order=4\n"
                                  "clear_young_dirty_ptes addr=0x40000000000 nr=16 flags=dirty\n"
                                  "hw_access addr=0x40000000000 write=1 slot=0 value=0x0\n"
                                  "modify_prot addr=0x40000001000 nr=1 prot=none\n"
                                  "iommu_sva_handle_mm addr=0x40000001000 write=1 value=0x5\n"
                                  "iommu_sva_handle_mm addr=0x40000001000 write=0 value=0x0\n");
    ASSERT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.applied, 6U);
    EXPECT_NE(r.trace.find("(do_numa_page: handled) (ptep_set_access_flags: handled)"),
              std::string::npos)
        << r.trace;
}

// No op where a direct set_ptes made a read-only VMA's entries writable: the device's write
// succeeds where the contpte world's fix-up of an earlier read left the entry dirty, and meets
// the handler's SIGSEGV where the reference's entry is still clean.
TEST(SvaOracle, NoDeviceWriteToAWritableEntryOfAReadOnlyVma) {
    const run_result r = run_text("folio_alloc order=4 anon=1\n"
                                  "mprotect addr=0x40000000000 nr=16 prot=ro\n"
                                  "set_ptes addr=0x40000000000 nr=16 folio=0 page=0 prot=rw "
                                  "flags=young\n"
                                  "hw_access addr=0x40000003000 write=1 slot=9 value=0x1234\n"
                                  "ptep_test_and_clear_young addr=0x40000005000\n"
                                  "iommu_sva_handle_mm addr=0x40000002000 write=0 value=0x0\n"
                                  "iommu_sva_handle_mm addr=0x40000008000 write=1 value=0x33\n");
    ASSERT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.applied, 6U);
}

// An old THP: the device's faults take huge_pmd_set_accessed() in both worlds, and the young
// PMD reads back as the ideal memory says.
TEST(SvaOracle, TheDeviceAccessesAnOldThp) {
    const run_result r = run_text("do_anonymous_page addr=0x40000000000 order=9\n"
                                  "hw_access addr=0x40000003000 write=1 slot=0 value=0x31\n"
                                  "folio_referenced addr=0x40000000000\n"
                                  "iommu_sva_handle_mm addr=0x40000003000 write=0 value=0x0\n"
                                  "folio_referenced addr=0x40000000000\n"
                                  "iommu_sva_handle_mm addr=0x40000004000 write=1 value=0x32\n"
                                  "hw_access addr=0x40000004000 write=0 slot=1 value=0x0\n");
    ASSERT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.applied, 7U);
    EXPECT_NE(r.trace.find("huge_pmd_set_accessed: handled"), std::string::npos) << r.trace;
}

} // namespace
} // namespace mmfuzz
