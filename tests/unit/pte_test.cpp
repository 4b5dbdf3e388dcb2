// SEMANTICS 1.1 (geometry), 1.2 (entry helpers) and the value laws of SEMANTICS 5
// (mm/debug_vm_pgtable.c), for every granule and every user protection.
#include "fixture.hpp"
#include "pgtable/pte.hpp"

#include <gtest/gtest.h>

namespace mmfuzz {
namespace {

TEST(Geometry, MatchesTheKernelTable) {
    const auto g4 = geometry_of(granule::k4);
    EXPECT_EQ(g4.ptrs_per_pte(), 512U);
    EXPECT_EQ(g4.cont_ptes(), 16U);
    EXPECT_EQ(g4.cont_pte_size(), 64U << 10);
    EXPECT_EQ(g4.pmd_size(), 2U << 20);
    const auto g16 = geometry_of(granule::k16);
    EXPECT_EQ(g16.ptrs_per_pte(), 2048U);
    EXPECT_EQ(g16.cont_ptes(), 128U);
    EXPECT_EQ(g16.cont_pte_size(), 2U << 20);
    EXPECT_EQ(g16.pmd_size(), 32U << 20);
    const auto g64 = geometry_of(granule::k64);
    EXPECT_EQ(g64.ptrs_per_pte(), 8192U);
    EXPECT_EQ(g64.cont_ptes(), 32U);
    EXPECT_EQ(g64.cont_pte_size(), 2U << 20);
    EXPECT_EQ(g64.pmd_size(), 512U << 20);
}

TEST(Geometry, NamesRoundTrip) {
    for (granule g : test::all_granules)
        EXPECT_EQ(granule_from_name(granule_name(g)), g);
    EXPECT_FALSE(granule_from_name("8K").has_value());
}

constexpr pgprot_t user_prots[] = {PAGE_SHARED, PAGE_SHARED_EXEC, PAGE_READONLY,
                                   PAGE_READONLY_EXEC};

class PteHelpers : public ::testing::TestWithParam<granule> {
  protected:
    /// PFNs at both ends of the data frames of a machine of this granule.
    std::vector<pfn_t> pfns() const {
        const machine m({GetParam(), 1});
        return {m.first_data_pfn(), m.end_data_pfn() - 1, PFN_MAX};
    }
};

TEST_P(PteHelpers, PfnRoundTripsAndAdvances) {
    for (pfn_t pfn : pfns()) {
        const pte_t p = pfn_pte(pfn, PAGE_SHARED);
        EXPECT_EQ(pte_pfn(p), pfn);
        EXPECT_EQ(pte_pgprot(p), PAGE_SHARED);
        if (pfn != PFN_MAX) {
            EXPECT_EQ(pte_pfn(pte_next_pfn(p)), pfn + 1);
            EXPECT_EQ(pte_pgprot(pte_next_pfn(p)), PAGE_SHARED);
        }
    }
}

TEST_P(PteHelpers, ValueLawsOfDebugVmPgtable) {
    for (pfn_t pfn : pfns()) {
        for (pgprot_t prot : user_prots) {
            const pte_t p = pfn_pte(pfn, prot);
            EXPECT_TRUE(pte_same(p, p));
            EXPECT_TRUE(pte_young(pte_mkyoung(pte_mkold(p))));
            EXPECT_TRUE(pte_dirty(pte_mkdirty(pte_mkclean(p))));
            EXPECT_TRUE(pte_write(pte_mkwrite_novma(pte_wrprotect(p))));
            EXPECT_FALSE(pte_young(pte_mkold(pte_mkyoung(p))));
            EXPECT_FALSE(pte_dirty(pte_mkclean(pte_mkdirty(p))));
            EXPECT_FALSE(pte_write(pte_wrprotect(pte_mkwrite_novma(p))));
            EXPECT_FALSE(pte_dirty(pte_wrprotect(pte_mkclean(p))));
            EXPECT_TRUE(pte_dirty(pte_wrprotect(pte_mkdirty(p))));
            EXPECT_TRUE(pte_valid(p));
            EXPECT_TRUE(pte_present(p));
            EXPECT_FALSE(pte_protnone(p));
        }
        const pte_t none = pfn_pte(pfn, PAGE_NONE);
        EXPECT_TRUE(pte_protnone(none));
        EXPECT_TRUE(pte_present(none));
        EXPECT_FALSE(pte_valid(none));
        EXPECT_TRUE(pte_present_invalid(none));
    }
}

INSTANTIATE_TEST_SUITE_P(AllGranules, PteHelpers, ::testing::ValuesIn(test::all_granules),
                         [](const auto &info) { return test::granule_param_name(info.param); });

TEST(PteHelpers, DirtinessIsHardwareOrSoftware) {
    const pte_t clean = pfn_pte(100, PAGE_SHARED); // WRITE + RDONLY: writable-clean (DBM)
    EXPECT_TRUE(pte_write(clean));
    EXPECT_FALSE(pte_hw_dirty(clean));
    EXPECT_FALSE(pte_dirty(clean));
    const pte_t hw = clear_pte_bit(clean, PTE_RDONLY); // what hardware does on a write
    EXPECT_TRUE(pte_hw_dirty(hw));
    EXPECT_FALSE(pte_sw_dirty(hw));
    EXPECT_TRUE(pte_dirty(hw));
    // Write-protection moves hardware dirty into the software bit.
    const pte_t wp = pte_wrprotect(hw);
    EXPECT_TRUE(pte_sw_dirty(wp));
    EXPECT_FALSE(pte_hw_dirty(wp));
    EXPECT_TRUE(pte_rdonly(wp));
    EXPECT_FALSE(pte_write(wp));
    // mkwrite of a software-dirty entry makes it hardware-writable at once.
    EXPECT_FALSE(pte_rdonly(pte_mkwrite_novma(wp)));
    // mkclean sets RDONLY and clears DIRTY; mkdirty of a read-only entry keeps RDONLY.
    EXPECT_EQ(pte_val(pte_mkclean(hw)) & (PTE_RDONLY | PTE_DIRTY), PTE_RDONLY);
    const pte_t ro = pfn_pte(100, PAGE_READONLY);
    EXPECT_TRUE(pte_rdonly(pte_mkdirty(ro)));
    EXPECT_TRUE(pte_dirty(pte_mkdirty(ro)));
}

TEST(PteHelpers, PresentInvalidNeedsValidClear) {
    // nG doubles as PRESENT_INVALID only while VALID is clear.
    const pte_t valid_ng = pfn_pte(7, PAGE_SHARED);
    EXPECT_TRUE(pte_ng(valid_ng));
    EXPECT_FALSE(pte_present_invalid(valid_ng));
    const pte_t inv = pte_mkinvalid(valid_ng);
    EXPECT_TRUE(pte_present_invalid(inv));
    EXPECT_TRUE(pte_present(inv));
    EXPECT_FALSE(pte_valid(inv));
    EXPECT_FALSE(pte_protnone(inv)); // still user-accessible: not PROT_NONE
}

TEST(PteHelpers, ContAndNormalForm) {
    const pte_t p = pfn_pte(32, PAGE_SHARED);
    EXPECT_FALSE(pte_cont(p));
    EXPECT_TRUE(pte_valid_cont(pte_mkcont(p)));
    EXPECT_FALSE(pte_cont(pte_mknoncont(pte_mkcont(p))));
    EXPECT_FALSE(pte_valid_cont(pte_mkcont(pte_mkinvalid(p))));
    // N ignores young and dirty, nothing else.
    const pte_t dirty_young = pte_mkyoung(pte_mkdirty(p));
    EXPECT_EQ(pte_normal_form(dirty_young), pte_normal_form(pte_mkold(p)));
    EXPECT_NE(pte_normal_form(p), pte_normal_form(pte_wrprotect(p)));
    EXPECT_NE(pte_normal_form(p), pte_normal_form(pte_mkspecial(p)));
}

TEST(PteHelpers, UffdWpWriteProtects) {
    const pte_t p = pte_mkuffd_wp(clear_pte_bit(pfn_pte(9, PAGE_SHARED), PTE_RDONLY));
    EXPECT_TRUE(pte_uffd_wp(p));
    EXPECT_FALSE(pte_write(p));
    EXPECT_TRUE(pte_dirty(p));
    EXPECT_FALSE(pte_uffd_wp(pte_clear_uffd_wp(p)));
}

TEST(PteHelpers, ModifyKeepsDirtinessAndPfn) {
    const pte_t hwdirty = clear_pte_bit(pfn_pte(77, PAGE_SHARED), PTE_RDONLY);
    const pte_t ro = pte_modify(hwdirty, PAGE_READONLY);
    EXPECT_EQ(pte_pfn(ro), 77U);
    EXPECT_FALSE(pte_write(ro));
    EXPECT_TRUE(pte_dirty(ro));
    const pte_t none = pte_modify(hwdirty, PAGE_NONE);
    EXPECT_TRUE(pte_protnone(none));
    EXPECT_TRUE(pte_dirty(none));
    const pte_t back = pte_modify(none, PAGE_SHARED);
    EXPECT_TRUE(pte_valid(back));
    EXPECT_TRUE(pte_write(back));
    EXPECT_TRUE(pte_hw_dirty(back));
}

TEST(PmdHelpers, LeafTableAndInvalid) {
    const pmd_t table = pmd_mktable(5);
    EXPECT_TRUE(pmd_table(table));
    EXPECT_FALSE(pmd_leaf(table));
    EXPECT_EQ(pmd_pfn(table), 5U);
    const pmd_t huge = mk_huge_pmd(512, PAGE_SHARED);
    EXPECT_TRUE(pmd_leaf(huge));
    EXPECT_TRUE(pmd_trans_huge(huge));
    EXPECT_FALSE(pmd_table(huge));
    const pmd_t inv = pmd_mkinvalid(huge);
    EXPECT_TRUE(pmd_present(inv));
    EXPECT_FALSE(pmd_valid(inv));
    EXPECT_TRUE(pmd_leaf(inv));
    EXPECT_TRUE(pmd_young(pmd_mkyoung(pmd_mkold(huge))));
    EXPECT_TRUE(pmd_dirty(pmd_mkdirty(pmd_mkclean(huge))));
    EXPECT_TRUE(pmd_write(pmd_mkwrite_novma(pmd_wrprotect(huge))));
    EXPECT_FALSE(pmd_write(pmd_wrprotect(huge)));
    EXPECT_FALSE(pmd_young(pmd_mkold(huge)));
    EXPECT_TRUE(pmd_none(pmd_t{0}));
    // A NUMA hint on a block: PROT_NONE, still a leaf, young and dirty kept.
    const pmd_t hint = pmd_modify(pmd_mkdirty(huge), PAGE_NONE);
    EXPECT_TRUE(pmd_protnone(hint) && pmd_trans_huge(hint) && !pmd_valid(hint));
    EXPECT_TRUE(pmd_young(hint) && pmd_dirty(hint));
    EXPECT_FALSE(pmd_protnone(pmd_modify(hint, PAGE_READONLY)));
}

} // namespace
} // namespace mmfuzz
