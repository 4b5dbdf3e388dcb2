// The API laws of SEMANTICS 5 (mm/debug_vm_pgtable.c) under the PTL, for every implementation
// behind the handle API and every granule.
#include "fixture.hpp"

#include <gtest/gtest.h>

#include <tuple>

namespace mmfuzz {
namespace {

using test::test_world;

class ApiLaws : public ::testing::TestWithParam<std::tuple<std::string, granule>> {
  protected:
    ApiLaws() : w(std::get<1>(GetParam()), std::get<0>(GetParam())) {}
    test_world w;
};

TEST_P(ApiLaws, SetThenClearIsNone) {
    folio *f = w.alloc(0);
    w.lock();
    w.ops->set_pte_at(&w.m.mm, w.addr(0), w.ptep(0), test_world::mk(f));
    w.ops->pte_clear(&w.m.mm, w.addr(0), w.ptep(0));
    EXPECT_TRUE(pte_none(w.ops->ptep_get(w.ptep(0))));
    w.unlock();
}

TEST_P(ApiLaws, SetThenWrprotectIsNotWritable) {
    folio *f = w.alloc(0);
    w.lock();
    w.ops->set_pte_at(&w.m.mm, w.addr(0), w.ptep(0), test_world::mk(f));
    w.ops->ptep_set_wrprotect(&w.m.mm, w.addr(0), w.ptep(0));
    EXPECT_FALSE(pte_write(w.ops->ptep_get(w.ptep(0))));
    w.unlock();
}

TEST_P(ApiLaws, SetAccessFlagsOnACleanReadOnlyEntryMakesItWritableAndDirty) {
    folio *f = w.alloc(0);
    const pte_t ro = pte_mkclean(pte_wrprotect(test_world::mk(f)));
    w.lock();
    w.ops->set_pte_at(&w.m.mm, w.addr(0), w.ptep(0), ro);
    w.ops->ptep_set_access_flags(&w.vma, w.addr(0), w.ptep(0), pte_mkwrite_novma(pte_mkdirty(ro)),
                                 1);
    const pte_t got = w.ops->ptep_get(w.ptep(0));
    EXPECT_TRUE(pte_write(got));
    EXPECT_TRUE(pte_dirty(got));
    w.unlock();
}

TEST_P(ApiLaws, TestAndClearYoungIsNotYoung) {
    folio *f = w.alloc(0);
    w.lock();
    w.ops->set_pte_at(&w.m.mm, w.addr(0), w.ptep(0), pte_mkyoung(test_world::mk(f)));
    w.ops->ptep_test_and_clear_young(&w.vma, w.addr(0), w.ptep(0));
    EXPECT_FALSE(pte_young(w.ops->ptep_get(w.ptep(0))));
    w.unlock();
}

TEST_P(ApiLaws, PmdLaws) {
    const std::uint64_t base = w.m.window_start() + w.geo().pmd_size();
    const hw_pmdp pmdp = w.m.pmd_off(base);
    folio *f = w.alloc(w.geo().pmd_order());
    const pmd_t huge = mk_huge_pmd(f->pfn, PAGE_SHARED);
    const pgtable_t deposit = w.m.pte_alloc_one();
    w.m.spin_lock(w.m.pmd_lockptr());
    w.ops->pgtable_trans_huge_deposit(&w.m.mm, pmdp, deposit);
    w.ops->set_pmd_at(&w.m.mm, base, pmdp, huge);
    w.ops->pmdp_set_wrprotect(&w.m.mm, base, pmdp);
    EXPECT_FALSE(pmd_write(w.ops->pmdp_get(pmdp)));
    w.ops->pmdp_huge_get_and_clear(&w.m.mm, base, pmdp);
    EXPECT_TRUE(pmd_none(w.ops->pmdp_get(pmdp)));
    const pmd_t ro = pmd_mkclean(pmd_wrprotect(huge));
    w.ops->set_pmd_at(&w.m.mm, base, pmdp, ro);
    w.ops->pmdp_set_access_flags(&w.vma, base, pmdp, pmd_mkwrite_novma(pmd_mkdirty(ro)), 1);
    EXPECT_TRUE(pmd_write(w.ops->pmdp_get(pmdp)));
    EXPECT_TRUE(pmd_dirty(w.ops->pmdp_get(pmdp)));
    w.ops->set_pmd_at(&w.m.mm, base, pmdp, pmd_mkyoung(huge));
    w.ops->pmdp_test_and_clear_young(&w.vma, base, pmdp);
    EXPECT_FALSE(pmd_young(w.ops->pmdp_get(pmdp)));
    w.ops->pmdp_huge_get_and_clear(&w.m.mm, base, pmdp);
    const pgtable_t t = w.ops->pgtable_trans_huge_withdraw(&w.m.mm, pmdp);
    EXPECT_EQ(t, deposit);
    w.ops->pmd_populate(&w.m.mm, pmdp, t);
    const pmd_t populated = w.ops->pmdp_get(pmdp);
    EXPECT_TRUE(pmd_table(populated)); // !pmd_bad()
    EXPECT_TRUE(w.m.table_is_live(t));
    w.m.spin_unlock(w.m.pmd_lockptr());
    EXPECT_TRUE(w.m.violations().empty());
}

INSTANTIATE_TEST_SUITE_P(AllImplsAllGranules, ApiLaws,
                         ::testing::Combine(::testing::ValuesIn(test::impl_names()),
                                            ::testing::ValuesIn(test::all_granules)),
                         [](const auto &info) {
                             return std::get<0>(info.param) + "_" +
                                    test::granule_param_name(std::get<1>(info.param));
                         });

} // namespace
} // namespace mmfuzz
