// contpte_convert, fold, unfold and set_ptes of the arm64 contpte implementation (SEMANTICS
// 1.3-1.5, the set_ptes rows of 1.6), for every granule: the raw table afterwards, CONT included,
// and the flushes requested.
#include "contpte_fixture.hpp"

#include <algorithm>

namespace mmfuzz {
namespace {

using test::ContpteTest;
using test::test_world;

class ContpteFold : public ContpteTest {};

TEST_P(ContpteFold, FoldsWhenTheLastEntryCompletesABlock) {
    folio *f = w.alloc(cont_order());
    const std::size_t base = C(); // the second block of the table
    for (std::size_t i = 0; i + 1 < C(); ++i) {
        pte_t pte = pte_mkold(test_world::mk(f, i));
        if (i == 2)
            pte = pte_mkdirty(pte);
        set_one(base + i, pte);
    }
    EXPECT_EQ(count_cont(base, C()), 0U);
    w.m.clear_logs();
    set_one(base + C() - 1, test_world::mk(f, C() - 1)); // young

    for (std::size_t i = 0; i < C(); ++i) {
        const pte_t raw = w.raw(base + i);
        EXPECT_TRUE(pte_valid_cont(raw)) << i;
        EXPECT_EQ(pte_pfn(raw), f->pfn + i);
        EXPECT_TRUE(pte_young(raw)) << i; // ORed over the block
        EXPECT_TRUE(pte_dirty(raw)) << i;
        EXPECT_FALSE(pte_cont(w.ops->ptep_get(w.ptep(base + i))));
    }
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_EQ(count_cont(2 * C(), C()), 0U);
    ASSERT_EQ(flushes().size(), 1U);
    expect_range_flush(flushes()[0], base, base + C());
    EXPECT_EQ(w.m.write_log().size(), 1 + 2 * C()); // the entry, then clear and rewrite the block
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(ContpteFold, ConvertClearsTheBlockThenFlushesThenRewritesIt) {
    folio *f = w.alloc(cont_order());
    map_each(0, f, 0, C() - 1);
    w.m.clear_logs();
    set_one(C() - 1, test_world::mk(f, C() - 1));
    const auto &log = w.m.write_log();
    ASSERT_EQ(log.size(), 1 + 2 * C());
    ASSERT_EQ(flushes().size(), 1U);
    const std::uint64_t flush_seq = flushes()[0].seq;
    for (std::size_t i = 0; i < C(); ++i) {
        const auto &clear = log[1 + i];
        const auto &set = log[1 + C() + i];
        EXPECT_EQ(clear.index, i);
        EXPECT_EQ(clear.new_val, 0U);
        EXPECT_LT(clear.seq, flush_seq);
        EXPECT_EQ(set.index, i);
        EXPECT_TRUE(pte_cont(pte_t{set.new_val}));
        EXPECT_GT(set.seq, flush_seq);
    }
    // page_table_check saw each page cleared and set again: still mapped once.
    for (std::size_t i = 0; i < C(); ++i)
        EXPECT_EQ(w.m.page(f->pfn + i).anon_map_count, 1);
}

TEST_P(ContpteFold, NoFoldWhenTheLastWriteIsNotTheLastEntryByVa) {
    folio *f = w.alloc(cont_order());
    map_each(1, f, 1, C() - 1); // entry 0 still none when the last entry is written
    set_one(0, test_world::mk(f, 0));
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_TRUE(flushes().empty());
    set_one(C() - 1, test_world::mk(f, C() - 1)); // the same block, completed by its last entry
    EXPECT_EQ(count_cont(0, C()), C());
}

TEST_P(ContpteFold, NoFoldWhenThePfnIsNotLastInItsPfnBlock) {
    folio *f = w.alloc(cont_order() + 1);
    map_each(0, f, 1, C()); // one folio, contiguous, same prot, but PFNs off by one
    EXPECT_EQ(pte_pfn(w.raw(C() - 1)) % C(), 0U);
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_TRUE(flushes().empty());
}

TEST_P(ContpteFold, NoFoldOfInvalidEntries) {
    folio *f = w.alloc(cont_order());
    map_each(0, f, 0, C(), PAGE_NONE);
    EXPECT_TRUE(pte_present_invalid(w.raw(C() - 1)));
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_TRUE(flushes().empty());
}

TEST_P(ContpteFold, NoFoldOfAnEntryThatIsAlreadyCont) {
    folio *f = w.alloc(cont_order());
    map_each(C() - 1, f, C() - 1, 1); // the last entry first: no fold while the rest is none
    map_each(0, f, 0, C() - 1);       // then the rest: none of them is last by VA
    ASSERT_EQ(count_cont(0, C()), 0U);
    const pte_t last = test_world::mk(f, C() - 1);
    w.lock();
    impl().contpte_try_fold(&w.m.mm, w.addr(C() - 1), w.ptep(C() - 1), last);
    ASSERT_EQ(count_cont(0, C()), C());
    w.m.clear_logs();
    // set_ptes() strips CONT from its input, so only a direct call can offer a CONT entry: the
    // folded block is not converted again.
    impl().contpte_try_fold(&w.m.mm, w.addr(C() - 1), w.ptep(C() - 1), pte_mkcont(w.raw(C() - 1)));
    w.unlock();
    EXPECT_TRUE(w.m.write_log().empty());
    EXPECT_TRUE(flushes().empty());
    EXPECT_EQ(count_cont(0, C()), C());
}

TEST_P(ContpteFold, SetPtesStripsContFromItsInput) {
    folio *f = w.alloc(cont_order());
    set_one(0, pte_mkcont(test_world::mk(f, 0)));
    EXPECT_FALSE(cont(0));
    map_each(1, f, 1, C() - 2);
    set_one(C() - 1, pte_mkcont(test_world::mk(f, C() - 1))); // still folds: CONT is private
    EXPECT_EQ(count_cont(0, C()), C());
}

TEST_P(ContpteFold, NoFoldOfSpecialEntries) {
    folio *f = w.alloc(cont_order());
    for (std::size_t i = 0; i < C(); ++i)
        set_one(i, pte_mkspecial(test_world::mk(f, i)));
    EXPECT_TRUE(pte_special(w.raw(C() - 1)));
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_TRUE(flushes().empty());
}

TEST_P(ContpteFold, NoFoldOrContForAKernelMm) {
    mm_struct kmm = kernel_mm();
    folio *f = w.alloc(cont_order() + 1);
    map_each(0, f, 0, C(), PAGE_KERNEL, &kmm);
    EXPECT_EQ(count_cont(0, C()), 0U);
    set_batch(C(), test_world::mk(f, C(), PAGE_KERNEL), static_cast<unsigned>(C()), &kmm);
    EXPECT_EQ(count_cont(C(), C()), 0U);
    EXPECT_TRUE(flushes().empty());
}

TEST_P(ContpteFold, NoUnfoldForAKernelMm) {
    map_cont_blocks(0, cont_order());
    ASSERT_EQ(count_cont(0, C()), C());
    w.m.clear_logs();
    mm_struct kmm = kernel_mm();
    w.lock();
    w.ops->pte_clear(&kmm, w.addr(0), w.ptep(0));
    w.unlock();
    EXPECT_TRUE(pte_none(w.raw(0)));
    EXPECT_EQ(count_cont(1, C() - 1), C() - 1); // the rest of the block was left alone
    EXPECT_TRUE(flushes().empty());
    EXPECT_EQ(w.m.write_log().size(), 1U);
}

TEST_P(ContpteFold, NoFoldWhenTwoFoliosShareTheBlock) {
    folio *a = w.alloc(cont_order() - 1);
    folio *b = w.alloc(cont_order() - 1);
    ASSERT_EQ(a->pfn % C(), 0U);
    ASSERT_EQ(b->pfn, a->pfn + C() / 2); // PFNs are contiguous across the two folios
    map_each(0, a, 0, C() / 2);
    map_each(C() / 2, b, 0, C() / 2);
    EXPECT_EQ(pte_pfn(w.raw(C() - 1)), a->pfn + C() - 1);
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_TRUE(flushes().empty());
}

TEST_P(ContpteFold, NoFoldWithANonContiguousPfn) {
    folio *f = w.alloc(cont_order());
    for (std::size_t i = 0; i < C(); ++i)
        set_one(i, test_world::mk(f, i == 3 ? 4 : i == 4 ? 3 : i)); // pages 3 and 4 swapped
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_TRUE(flushes().empty());
    // Put the two pages in order (ptep_clear_flush(), then set) and complete the block again: it
    // folds.
    w.lock();
    w.ops->ptep_get_and_clear(&w.m.mm, w.addr(3), w.ptep(3));
    w.ops->ptep_get_and_clear(&w.m.mm, w.addr(4), w.ptep(4));
    w.unlock();
    w.m.flush_tlb_range(w.addr(3), w.addr(5));
    set_one(3, test_world::mk(f, 3));
    set_one(4, test_world::mk(f, 4));
    set_one(C() - 1, test_world::mk(f, C() - 1));
    EXPECT_EQ(count_cont(0, C()), C());
}

TEST_P(ContpteFold, NoFoldWithADifferingProt) {
    folio *f = w.alloc(cont_order());
    map_each(0, f, 0, C());
    set_one(3, test_world::mk(f, 3, PAGE_READONLY));
    set_one(C() - 1, test_world::mk(f, C() - 1));
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_FALSE(pte_write(w.raw(3)));
    set_one(3, test_world::mk(f, 3));
    set_one(C() - 1, test_world::mk(f, C() - 1));
    EXPECT_EQ(count_cont(0, C()), C());
}

TEST_P(ContpteFold, NoFoldWithANoneEntryInTheBlock) {
    folio *f = w.alloc(cont_order());
    map_each(0, f, 0, 4);
    map_each(5, f, 5, C() - 5);
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_TRUE(flushes().empty());
}

TEST_P(ContpteFold, YoungAndDirtyDoNotPreventAFold) {
    folio *f = w.alloc(cont_order());
    map_each(0, f, 0, C() - 1);
    set_one(1, pte_mkold(test_world::mk(f, 1)));
    set_one(2, pte_mkdirty(test_world::mk(f, 2)));
    set_one(C() - 1, test_world::mk(f, C() - 1));
    EXPECT_EQ(count_cont(0, C()), C());
}

TEST_P(ContpteFold, UnfoldSpreadsYoungAndDirtyToEveryEntry) {
    map_folio_as(0, cont_order(), pte_mkold);
    ASSERT_EQ(count_cont(0, C()), C());
    touch(0, true, 3); // a write to page 0 for which the MMU updates entry 3 of the block
    ASSERT_TRUE(pte_hw_dirty(w.raw(3)));
    w.m.clear_logs();
    w.lock();
    w.ops->pte_clear(&w.m.mm, w.addr(0), w.ptep(0));
    w.unlock();
    EXPECT_TRUE(pte_none(w.raw(0)));
    for (std::size_t i = 1; i < C(); ++i) {
        EXPECT_FALSE(cont(i)) << i;
        EXPECT_TRUE(pte_young(w.raw(i))) << i;
        EXPECT_TRUE(pte_dirty(w.raw(i))) << i;
    }
    ASSERT_EQ(flushes().size(), 1U);
    expect_range_flush(flushes()[0], 0, C());
}

TEST_P(ContpteFold, Bbml2ElidesTheConvertFlushButStillClearsTheBlock) {
    machine_options opts;
    opts.bbml2_noabort = true;
    test_world b(GetParam(), "arm64_contpte", opts);
    folio *f = b.alloc(cont_order());
    b.lock();
    for (std::size_t i = 0; i < C(); ++i)
        b.ops->set_pte_at(&b.m.mm, b.addr(i), b.ptep(i), test_world::mk(f, i));
    EXPECT_TRUE(pte_valid_cont(b.raw(0)));
    EXPECT_TRUE(b.m.flush_log().empty());
    const auto zeroes = std::count_if(b.m.write_log().begin(), b.m.write_log().end(),
                                      [](const pgtable_write &wr) { return wr.new_val == 0; });
    EXPECT_EQ(static_cast<std::size_t>(zeroes), C());
    b.ops->ptep_set_wrprotect(&b.m.mm, b.addr(0), b.ptep(0)); // unfold, also without a flush
    b.unlock();
    EXPECT_FALSE(pte_cont(b.raw(1)));
    EXPECT_TRUE(b.m.flush_log().empty());
}

TEST_P(ContpteFold, TwoHalfBlockSetPtesStayUnfolded) {
    folio *f = w.alloc(cont_order());
    const auto half = static_cast<unsigned>(C() / 2);
    set_batch(0, test_world::mk(f, 0), half);
    set_batch(half, test_world::mk(f, half), half);
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_EQ(pte_pfn(w.raw(C() - 1)), f->pfn + C() - 1);
    EXPECT_TRUE(flushes().empty());
}

TEST_P(ContpteFold, SetPtesOfAWholeAlignedBlockWritesContDirectly) {
    folio *f = map_cont_blocks(C(), cont_order());
    EXPECT_EQ(count_cont(C(), C()), C());
    EXPECT_EQ(pte_pfn(w.raw(2 * C() - 1)), f->pfn + C() - 1);
    EXPECT_EQ(w.m.write_log().size(), C()); // no clear, no rewrite
    EXPECT_EQ(writes_to_zero(), 0U);
    EXPECT_TRUE(flushes().empty());
}

TEST_P(ContpteFold, SetPtesWithAMisalignedPfnDoesNotSetCont) {
    folio *f = w.alloc(cont_order() + 1);
    set_batch(0, test_world::mk(f, 1), static_cast<unsigned>(C()));
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_EQ(pte_pfn(w.raw(0)), f->pfn + 1);
}

TEST_P(ContpteFold, SetPtesSplitsAtBlockBoundaries) {
    folio *f = w.alloc(cont_order() + 2);
    const std::size_t start = C() / 2;
    set_batch(start, test_world::mk(f, start), static_cast<unsigned>(2 * C()));
    EXPECT_EQ(count_cont(start, C() / 2), 0U);
    EXPECT_EQ(count_cont(C(), C()), C());
    EXPECT_EQ(count_cont(2 * C(), C() / 2), 0U);
    for (std::size_t i = start; i < start + 2 * C(); ++i)
        EXPECT_EQ(pte_pfn(w.raw(i)), f->pfn + i);
    EXPECT_TRUE(flushes().empty());
}

TEST_P(ContpteFold, SetPteOverAContBlockUnfoldsWritesAndRefolds) {
    folio *f = map_cont_blocks(0, cont_order());
    w.m.clear_logs();
    set_one(C() - 1, pte_mkold(test_world::mk(f, C() - 1)));
    EXPECT_EQ(count_cont(0, C()), C());
    ASSERT_EQ(flushes().size(), 2U); // unfold, then fold
    expect_range_flush(flushes()[0], 0, C());
    expect_range_flush(flushes()[1], 0, C());

    set_one(2, test_world::mk(f, 2, PAGE_READONLY));
    EXPECT_EQ(count_cont(0, C()), 0U);
    EXPECT_EQ(flushes().size(), 3U);
    EXPECT_TRUE(w.m.violations().empty());
}

TEST_P(ContpteFold, StagedFillMakesEveryBlockCont) {
    folio *f = w.alloc(w.geo().pmd_order());
    const pgtable_t t = w.m.pte_alloc_one();
    const std::uint64_t base = w.m.window_start() + w.geo().pmd_size();
    const staged_ptep s = w.m.pte_offset_staged(t, base);
    const auto n = static_cast<unsigned>(w.geo().ptrs_per_pte());
    w.ops->set_ptes(&w.m.mm, base, s, pte_mkold(test_world::mk(f)), n);
    for (std::size_t i = 0; i < n; ++i)
        ASSERT_TRUE(pte_valid_cont(w.m.peek_pte(t, i))) << i;
    for (const auto &wr : w.m.write_log())
        EXPECT_FALSE(wr.live);
    EXPECT_TRUE(flushes().empty());

    // The staged getter gathers like the live one and hides CONT.
    const staged_ptep dirty_entry = staged_pte_add(s, static_cast<std::ptrdiff_t>(C() + 1));
    w.m.write(dirty_entry, pte_mkdirty(w.m.read(dirty_entry)));
    const pte_t got = w.ops->ptep_get(staged_pte_add(s, static_cast<std::ptrdiff_t>(C() + 3)));
    EXPECT_TRUE(pte_dirty(got));
    EXPECT_FALSE(pte_cont(got));
    EXPECT_EQ(pte_pfn(got), f->pfn + C() + 3);
    EXPECT_FALSE(pte_dirty(w.ops->ptep_get(staged_pte_add(s, 3))));
    EXPECT_FALSE(
        pte_dirty(w.ops->ptep_get(staged_pte_add(s, static_cast<std::ptrdiff_t>(2 * C())))));

    w.ops->pmd_populate(&w.m.mm, w.m.pmd_off(base), t);
    const auto live = w.m.pte_offset_map(w.m.pmd_off(base), base + C() * w.geo().page_size());
    ASSERT_TRUE(live.has_value());
    EXPECT_TRUE(pte_dirty(w.ops->ptep_get(*live)));
}

TEST_P(ContpteFold, PmdSetAccessFlagsOnlyMakesTheEntryMorePermissive) {
    const std::uint64_t base = w.m.window_start() + w.geo().pmd_size();
    const hw_pmdp pmdp = w.m.pmd_off(base);
    folio *f = w.alloc(w.geo().pmd_order());
    const pmd_t huge = pmd_mkdirty(pmd_mkyoung(mk_huge_pmd(f->pfn, PAGE_SHARED)));
    w.ops->set_pmd_at(&w.m.mm, base, pmdp, huge);
    w.m.clear_logs();
    // An old, clean, read-only entry changes nothing: the flags are only ever added.
    const pmd_t weaker = pmd_mkold(pmd_mkclean(pmd_wrprotect(huge)));
    EXPECT_EQ(w.ops->pmdp_set_access_flags(&w.vma, base, pmdp, weaker, 0), 1);
    EXPECT_EQ(w.ops->pmdp_get(pmdp), huge);
    EXPECT_TRUE(w.m.flush_log().empty()); // not dirty: no flush

    const pmd_t ro = pmd_mkold(pmd_mkclean(pmd_wrprotect(mk_huge_pmd(f->pfn, PAGE_SHARED))));
    w.ops->set_pmd_at(&w.m.mm, base, pmdp, ro);
    w.m.clear_logs();
    const pmd_t want = pmd_mkwrite_novma(pmd_mkdirty(pmd_mkyoung(ro)));
    EXPECT_EQ(w.ops->pmdp_set_access_flags(&w.vma, base, pmdp, want, 1), 1);
    const pmd_t got = w.ops->pmdp_get(pmdp);
    EXPECT_TRUE(pmd_write(got) && pmd_dirty(got) && pmd_young(got));
    ASSERT_EQ(flushes().size(), 1U);
    EXPECT_EQ(flushes()[0].kind, flush_kind::pmd_range);
}

TEST_P(ContpteFold, StagedFillForAKernelMmHasNoCont) {
    mm_struct kmm = kernel_mm();
    folio *f = w.alloc(w.geo().pmd_order());
    const pgtable_t t = w.m.pte_alloc_one();
    const std::uint64_t base = w.m.window_start() + w.geo().pmd_size();
    const auto n = static_cast<unsigned>(w.geo().ptrs_per_pte());
    w.ops->set_ptes(&kmm, base, w.m.pte_offset_staged(t, base), test_world::mk(f, 0, PAGE_KERNEL),
                    n);
    for (std::size_t i = 0; i < n; ++i)
        ASSERT_FALSE(pte_cont(w.m.peek_pte(t, i))) << i;
}

TEST_P(ContpteFold, BatchHintCountsTheRestOfTheBlock) {
    map_cont_blocks(0, cont_order());
    folio *g = w.alloc(cont_order());
    map_each(C(), g, 0, C() - 1);
    EXPECT_EQ(w.ops->pte_batch_hint(w.ptep(0), w.ops->ptep_get(w.ptep(0))), C());
    EXPECT_EQ(w.ops->pte_batch_hint(w.ptep(3), w.ops->ptep_get(w.ptep(3))), C() - 3);
    EXPECT_EQ(w.ops->pte_batch_hint(w.ptep(C() - 1), w.ops->ptep_get(w.ptep(C() - 1))), 1U);
    EXPECT_EQ(w.ops->pte_batch_hint(w.ptep(C()), w.ops->ptep_get(w.ptep(C()))), 1U);
    // A PROT_NONE block written by one set_ptes carries CONT but is not valid: no batch.
    folio *h = w.alloc(cont_order());
    set_batch(2 * C(), test_world::mk(h, 0, PAGE_NONE), static_cast<unsigned>(C()));
    ASSERT_TRUE(cont(2 * C()));
    EXPECT_EQ(w.ops->pte_batch_hint(w.ptep(2 * C()), w.ops->ptep_get(w.ptep(2 * C()))), 1U);
}

INSTANTIATE_TEST_SUITE_P(AllGranules, ContpteFold, ::testing::ValuesIn(test::all_granules),
                         test::contpte_param_name);

} // namespace
} // namespace mmfuzz
