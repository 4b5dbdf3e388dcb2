// THP flows in both worlds: the PMD fault, split_huge_pmd, zap_huge_pmd, folio split and
// khugepaged collapse. Their kernel-observable outcome (entries, folios, map counts, RSS,
// flushes, content), contpte folding and unfolding during them, the wrong variants the oracle
// must catch, and random programs that must pass.
#include "core/flows.hpp"
#include "pgtable/softleaf.hpp"
#include "program/codec.hpp"
#include "program/generate.hpp"
#include "program/runner.hpp"
#include "world_helpers.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace mmfuzz::test {
namespace {

/// The entry core code sees at addr (the table must exist).
pte_t get(world &w, std::uint64_t addr) {
    return w.ops->ptep_get(*w.pte_lookup(addr));
}

/// The raw stored entry (for checking what contpte did underneath).
pte_t raw(world &w, std::uint64_t addr) {
    return w.m.peek_pte(*w.m.live_table_for(addr), w.geo().pte_index(addr));
}

bool flushed(const world &w, flush_kind kind, std::uint64_t start, std::uint64_t end) {
    for (const tlb_flush &f : w.m.flush_log())
        if (f.kind == kind && f.start <= start && f.end >= end)
            return true;
    return false;
}

const std::string header4k = "mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n";

TEST(HugePmdFault, MapsAZeroedThpWithADepositedTable) {
    for (const char *impl : impls) {
        world w(impl, opts4k());
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t addr = base + 5 * w.geo().page_size();
        ASSERT_EQ(do_huge_pmd_anonymous_page(w, addr, true), vm_fault::done);
        const pmd_t pmd = pmd_at(w, base);
        EXPECT_TRUE(pmd_trans_huge(pmd)) << impl;
        EXPECT_TRUE(pmd_dirty(pmd) && pmd_young(pmd) && pmd_write(pmd)) << impl;
        ASSERT_EQ(w.folios.size(), 1U);
        const folio *f = w.folios[0];
        EXPECT_EQ(f->order, w.geo().pmd_order());
        EXPECT_EQ(pmd_pfn(pmd), f->pfn);
        EXPECT_EQ(w.m.pmd_huge_pte(w.m.pmd_off(base)).size(), 1U);
        EXPECT_EQ(w.m.mm.rss.anon, 512);
        EXPECT_EQ(w.mapcount(f->pfn + 511), 1);
        EXPECT_EQ(w.m.page(f->pfn + 7).anon_map_count, 1);
        EXPECT_EQ(w.m.hw_access(addr, false).value, 0U);
        EXPECT_EQ(w.m.hw_access(addr, true, 0, 0xabc).fault, hw_fault::ok);
        EXPECT_EQ(w.m.hw_access(addr, false).value, 0xabcU);
        // A second fault in the same PMD range falls back: the PMD is taken.
        EXPECT_EQ(do_huge_pmd_anonymous_page(w, base, false), vm_fault::fallback);
        expect_no_violations(w);
    }
}

TEST(SplitHugePmd, FillsTheWithdrawnTableAndPublishesIt) {
    for (const char *impl : impls) {
        world w(impl, opts4k());
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        ASSERT_EQ(do_huge_pmd_anonymous_page(w, base, true), vm_fault::done);
        ASSERT_EQ(w.m.hw_access(base + 3 * ps, true, 0, 0x33).fault, hw_fault::ok);
        const folio *f = w.folios[0];
        const pgtable_t deposited = w.m.pmd_huge_pte(w.m.pmd_off(base)).front();
        w.m.clear_logs();
        split_huge_pmd(w, base + 100 * ps);
        EXPECT_EQ(w.m.live_table_for(base), deposited) << impl;
        EXPECT_TRUE(w.m.pmd_huge_pte(w.m.pmd_off(base)).empty());
        EXPECT_TRUE(flushed(w, flush_kind::pmd_range, base, base + w.geo().pmd_size())) << impl;
        for (std::uint64_t i = 0; i < 512; ++i) {
            const pte_t pte = get(w, base + i * ps);
            ASSERT_TRUE(pte_valid(pte)) << impl << " " << i;
            EXPECT_EQ(pte_pfn(pte), f->pfn + i);
            EXPECT_TRUE(pte_write(pte) && pte_young(pte) && pte_dirty(pte)) << impl << " " << i;
            EXPECT_FALSE(pte_cont(pte));
            // One set_ptes over the whole table: contpte writes every block CONT.
            EXPECT_EQ(pte_cont(raw(w, base + i * ps)), std::string(impl) == "arm64_contpte");
            EXPECT_EQ(w.m.page(f->pfn + i).anon_map_count, 1);
        }
        EXPECT_TRUE(f->dirty);
        EXPECT_EQ(w.m.mm.rss.anon, 512);
        EXPECT_EQ(w.m.hw_access(base + 3 * ps, false).value, 0x33U);
        expect_no_violations(w);
    }
}

TEST(SplitHugePmd, KeepsTheDataOfAFaultedThpInBothWorlds) {
    // The PMD-order anonymous fault, written through the PMD, split, and read through the PTEs
    // (every block CONT in contpte); then zapped as a whole after a collapse back.
    const std::string text = header4k + "do_anonymous_page addr=0x40000005000 order=9\n"
                                        "hw_access addr=0x40000005000 write=1 slot=0 value=0x55\n"
                                        "hw_access addr=0x400001ff000 write=1 slot=0 value=0x1ff\n"
                                        "split_huge_pmd addr=0x40000123000\n"
                                        "hw_access addr=0x40000005000 write=0 slot=3 value=0\n"
                                        "hw_access addr=0x400001ff000 write=0 slot=0 value=0\n"
                                        "ptep_get addr=0x40000004000\n"
                                        "collapse_huge_page addr=0x40000000000 order=9\n"
                                        "hw_access addr=0x400001ff000 write=0 slot=0 value=0\n"
                                        "zap_pte_range addr=0x40000000000 nr=512\n";
    const run_result r = run_text(text);
    EXPECT_TRUE(r.passed()) << verdict(r) << r.trace;
    EXPECT_EQ(r.applied, 10U) << r.trace;
    EXPECT_NE(r.trace.find("split_huge_pmd addr=0x40000000000  => 1"), std::string::npos)
        << r.trace;
    EXPECT_NE(r.trace.find("slot=3 value=0x0  => ok value=0x55"), std::string::npos) << r.trace;
    EXPECT_NE(r.trace.find("slot=0 value=0x0  => ok value=0x1ff"), std::string::npos) << r.trace;
}

TEST(SplitHugePmd, AMigrationPmdBecomesMigrationEntriesWithTheirBits) {
    for (const char *impl : impls) {
        world w(impl, opts4k());
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        ASSERT_EQ(do_huge_pmd_anonymous_page(w, base, true), vm_fault::done);
        const folio *f = w.folios[0];
        const hw_pmdp pmdp = w.m.pmd_off(base);
        // set_pmd_migration_entry(), by hand: the PMD becomes a young, dirty migration entry.
        w.m.spin_lock(w.m.pmd_lockptr());
        w.ops->pmdp_invalidate(&w.vma, base, pmdp);
        const softleaf_t e = make_migration_entry_dirty(
            make_migration_entry_young(make_writable_migration_entry(f->pfn)));
        w.ops->set_pmd_at(&w.m.mm, base, pmdp, softleaf_to_pmd(e));
        w.m.spin_unlock(w.m.pmd_lockptr());
        w.rmap_remove(f->pfn, f->nr_pages());
        split_huge_pmd(w, base);
        for (std::uint64_t i = 0; i < 512; i += 37) {
            const softleaf_t s = softleaf_from_pte(get(w, base + i * ps));
            ASSERT_TRUE(softleaf_is_migration_write(s)) << impl << " " << i;
            EXPECT_EQ(softleaf_to_pfn(s), f->pfn + i);
            EXPECT_TRUE(softleaf_is_migration_young(s) && softleaf_is_migration_dirty(s));
        }
        EXPECT_EQ(w.m.mm.rss.anon, 0);
        expect_no_violations(w);
    }
}

TEST(ZapHugePmd, UnmapsTheThpAndFreesTheDepositedTable) {
    for (const char *impl : impls) {
        world w(impl, opts4k());
        const std::uint64_t base = w.m.window_start();
        ASSERT_EQ(do_huge_pmd_anonymous_page(w, base, true), vm_fault::done);
        folio *f = w.folios[0];
        f->dirty = false;
        const pgtable_t deposited = w.m.pmd_huge_pte(w.m.pmd_off(base)).front();
        ASSERT_TRUE(w.m.hw_access(base + 5 * w.geo().page_size(), false).ok());
        w.m.clear_logs();
        mmu_gather tlb(w.m);
        zap_huge_pmd(w, tlb, base);
        EXPECT_TRUE(pmd_none(pmd_at(w, base))) << impl;
        EXPECT_TRUE(w.m.pmd_huge_pte(w.m.pmd_off(base)).empty());
        EXPECT_TRUE(w.m.flush_log().empty()); // the gather flushes at its end
        tlb.finish_mmu();
        // arm64 tlb_flush(): PMD stride, last level, hinted at the PMD level (tlb_get_level()).
        ASSERT_EQ(w.m.flush_log().size(), 1U);
        const tlb_flush &fl = w.m.flush_log()[0];
        EXPECT_TRUE(fl.start == base && fl.end == base + w.geo().pmd_size());
        EXPECT_EQ(fl.stride, w.geo().pmd_size());
        EXPECT_TRUE(fl.last_level);
        EXPECT_EQ(fl.level, tlb_level_pmd);
        // An anonymous folio takes neither dirty nor young from the PMD (zap_huge_pmd_folio()).
        EXPECT_FALSE(f->dirty || f->referenced);
        EXPECT_EQ(w.m.mm.rss.anon, 0);
        EXPECT_EQ(w.mapcount(f->pfn), 0);
        EXPECT_EQ(w.m.page(f->pfn).anon_map_count, 0);
        EXPECT_EQ(w.m.hw_access(base, false).fault, hw_fault::none_entry);
        // The deposited table was freed: it is the next one handed out.
        const pgtable_t next = w.m.pte_alloc_one();
        EXPECT_EQ(next, deposited);
        w.m.pte_free(next);
        expect_no_violations(w);
    }
}

TEST(SplitFolio, FindsAliasesAndLeavesOtherFoliosAlone) {
    for (const char *impl : impls) {
        world w(impl, opts4k());
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        folio *f = w.m.folio_alloc(4, true);
        folio *g = w.m.folio_alloc(4, true);
        w.folios.push_back(f);
        w.folios.push_back(g);
        const hw_ptep p = *w.pte_alloc_map(base);
        const pte_t prot = pte_mkold(pfn_pte(0, PAGE_READONLY));
        w.m.spin_lock(w.ptl(base));
        w.ops->set_ptes(&w.m.mm, base, p, pte_advance_pfn(prot, f->pfn), 16);
        // Another folio's block between, and a second mapping of one of f's pages after it.
        w.ops->set_ptes(&w.m.mm, base + 32 * ps, hw_pte_add(p, 32), pte_advance_pfn(prot, g->pfn),
                        16);
        w.ops->set_ptes(&w.m.mm, base + 64 * ps, hw_pte_add(p, 64),
                        pte_advance_pfn(prot, f->pfn + 3), 1);
        w.m.spin_unlock(w.ptl(base));
        w.rmap_add(f->pfn, 16);
        w.rmap_add(g->pfn, 16);
        w.rmap_add(f->pfn + 3, 1);
        w.m.clear_logs();
        ASSERT_TRUE(split_folio(w, base, 2)) << impl;
        std::vector<std::uint32_t> written;
        for (const pgtable_write &wr : w.m.write_log())
            if (wr.level == pt_level::pte)
                written.push_back(wr.index);
        // The alias went through a migration entry and back, like the linear mapping.
        EXPECT_NE(std::find(written.begin(), written.end(), 64U), written.end()) << impl;
        EXPECT_EQ(pte_pfn(get(w, base + 64 * ps)), f->pfn + 3);
        EXPECT_EQ(w.m.page(f->pfn + 3).anon_map_count, 2);
        for (std::uint64_t i = 32; i < 48; ++i) {
            EXPECT_EQ(std::find(written.begin(), written.end(), i), written.end()) << impl;
            EXPECT_EQ(pte_cont(raw(w, base + i * ps)), std::string(impl) == "arm64_contpte");
        }
        expect_no_violations(w);
    }
}

TEST(SplitFolio, NoAnonymousFolioOfOrder1IsMade) {
    // uniform_split_supported() refuses order 1 for anonymous folios, and khugepaged's orders
    // leave it out too (THP_ORDERS_ALL_ANON).
    for (const char *impl : impls) {
        world w(impl, opts4k());
        const std::uint64_t base = w.m.window_start();
        ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
        const folio *f = w.folios.back();
        w.m.clear_logs();
        EXPECT_FALSE(split_folio(w, base, 1)) << impl;
        EXPECT_EQ(f->order, 4U);
        EXPECT_TRUE(w.m.write_log().empty());
        EXPECT_FALSE(collapse_huge_page(w, base + 0x20000, 1)) << impl;
        EXPECT_TRUE(split_folio(w, base, 2)) << impl;
        EXPECT_EQ(f->order, 2U);
        expect_no_violations(w);
    }
}

TEST(SplitFolio, AnExclusiveReadOnlyPageGoesThroughAReadExclusiveEntry) {
    // try_to_migrate_one(): write entry for a writable page, read-exclusive for an exclusive
    // anon page that is not.
    for (const char *impl : impls) {
        world w(impl, opts4k());
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
        w.m.spin_lock(w.ptl(base));
        w.ops->wrprotect_ptes(&w.m.mm, base + 3 * ps, *w.pte_lookup(base + 3 * ps), 1);
        w.m.spin_unlock(w.ptl(base));
        w.m.flush_tlb_page(base + 3 * ps);
        w.m.clear_logs();
        ASSERT_TRUE(split_folio(w, base, 0)) << impl;
        std::map<std::uint32_t, softleaf_t> entries;
        for (const pgtable_write &wr : w.m.write_log())
            if (wr.level == pt_level::pte &&
                softleaf_is_migration(softleaf_from_pte(pte_t{wr.new_val})))
                entries[wr.index] = softleaf_from_pte(pte_t{wr.new_val});
        ASSERT_EQ(entries.size(), 16U) << impl;
        EXPECT_TRUE(softleaf_is_migration_read_exclusive(entries.at(3))) << impl;
        EXPECT_TRUE(softleaf_is_migration_write(entries.at(4))) << impl;
        EXPECT_FALSE(pte_write(get(w, base + 3 * ps)));
        EXPECT_TRUE(pte_write(get(w, base + 4 * ps)));
        expect_no_violations(w);
    }
}

TEST(SplitFolio, RemapsEveryPageFromItsMigrationEntryAndUnfolds) {
    for (const char *impl : impls) {
        world w(impl, opts4k());
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        folio *f = w.m.folio_alloc(4, true);
        w.folios.push_back(f);
        const hw_ptep p = *w.pte_alloc_map(base);
        w.m.spin_lock(w.ptl(base));
        w.ops->set_ptes(&w.m.mm, base, p,
                        pte_mkwrite_novma(pte_mkold(pfn_pte(f->pfn, PAGE_READONLY))), 16);
        w.m.spin_unlock(w.ptl(base));
        w.rmap_add(f->pfn, 16);
        EXPECT_EQ(pte_cont(raw(w, base)), std::string(impl) == "arm64_contpte");
        ASSERT_EQ(w.m.hw_access(base + 9 * ps, true, 9, 0x99).fault, hw_fault::ok);
        w.m.clear_logs();
        ASSERT_TRUE(split_folio(w, base + 2 * ps, 2)) << impl;
        EXPECT_EQ(f->order, 2U);
        ASSERT_EQ(w.folios.size(), 4U);
        EXPECT_EQ(w.folios[2]->pfn, f->pfn + 8);
        EXPECT_EQ(w.m.pfn_folio(f->pfn + 9), w.folios[2]);
        EXPECT_TRUE(f->dirty);
        for (std::uint64_t i = 0; i < 16; ++i) {
            const pte_t pte = get(w, base + i * ps);
            ASSERT_TRUE(pte_valid(pte)) << impl << " " << i;
            EXPECT_EQ(pte_pfn(pte), f->pfn + i);
            EXPECT_TRUE(pte_write(pte));
            // No folio covers the block any more: contpte unfolded it and cannot fold it again.
            EXPECT_FALSE(pte_cont(raw(w, base + i * ps))) << impl << " " << i;
            EXPECT_EQ(w.m.page(f->pfn + i).anon_map_count, 1);
        }
        EXPECT_TRUE(pte_dirty(get(w, base + 9 * ps)));
        if (std::string(impl) == "generic")
            EXPECT_FALSE(pte_dirty(get(w, base + 8 * ps)));
        EXPECT_EQ(w.m.mm.rss.anon, 16);
        EXPECT_EQ(w.m.hw_access(base + 9 * ps, false).value, 0x99U);
        EXPECT_FALSE(w.m.flush_log().empty());
        expect_no_violations(w);
    }
}

/// The text form of window page i's address (4K granule).
std::string page_addr(std::uint64_t i) {
    char b[32];
    std::snprintf(b, sizeof b, "0x%llx", 0x40000000000ULL + i * 0x1000ULL);
    return b;
}

/// Sixteen order-0 folios mapped one by one over the first CONT block (page 7 stays none, so a
/// collapse fills it with zeroes), page 3 written.
std::string sixteen_small_pages() {
    std::string t = header4k;
    for (int i = 0; i < 16; ++i)
        t += "folio_alloc order=0 anon=1\n";
    for (int i = 0; i < 16; ++i)
        if (i != 7)
            t += "set_ptes addr=" + page_addr(i) + " nr=1 folio=" + std::to_string(i) +
                 " page=0 prot=rw flags=young\n";
    return t + "hw_access addr=0x40000003000 write=1 slot=0 value=0x1234\n";
}

TEST(CollapseHugePage, MthpOrder4FoldsTheNewBlockAndKeepsTheData) {
    const std::string text = sixteen_small_pages() +
                             "collapse_huge_page addr=0x40000002000 order=4\n"
                             "hw_access addr=0x40000003000 write=0 slot=0 value=0\n"
                             "hw_access addr=0x40000007000 write=0 slot=0 value=0\n";
    const run_result r = run_text(text);
    EXPECT_TRUE(r.passed()) << verdict(r);
    EXPECT_NE(r.trace.find("collapse_huge_page addr=0x40000000000 order=4  => 1"),
              std::string::npos)
        << r.trace;
    EXPECT_NE(r.trace.find("value=0x0  => ok value=0x1234"), std::string::npos) << r.trace;

    // The same by hand, to look at the worlds.
    for (const char *impl : impls) {
        world w(impl, opts4k());
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        for (std::uint64_t i = 0; i < 16; ++i) {
            folio *f = w.m.folio_alloc(0, true);
            w.folios.push_back(f);
            if (i == 7)
                continue;
            const hw_ptep p = *w.pte_alloc_map(base + i * ps);
            w.m.spin_lock(w.ptl(base));
            w.ops->set_ptes(&w.m.mm, base + i * ps, p,
                            pte_mkwrite_novma(pfn_pte(f->pfn, PAGE_READONLY)), 1);
            w.m.spin_unlock(w.ptl(base));
            w.rmap_add(f->pfn, 1);
        }
        ASSERT_EQ(w.m.hw_access(base + 3 * ps, true, 0, 0x1234).fault, hw_fault::ok);
        EXPECT_FALSE(pte_cont(raw(w, base)));
        ASSERT_TRUE(collapse_huge_page(w, base + 5 * ps, 4)) << impl;
        const folio *nf = w.folios.back();
        EXPECT_EQ(nf->order, 4U);
        for (std::uint64_t i = 0; i < 16; ++i) {
            const pte_t pte = get(w, base + i * ps);
            EXPECT_EQ(pte_pfn(pte), nf->pfn + i);
            EXPECT_TRUE(pte_write(pte) && pte_dirty(pte) && pte_young(pte));
            EXPECT_EQ(pte_cont(raw(w, base + i * ps)), std::string(impl) == "arm64_contpte");
            EXPECT_EQ(w.mapcount(nf->pfn + i), 1);
            EXPECT_EQ(w.mapcount(w.folios[i]->pfn), 0);
        }
        EXPECT_EQ(w.m.page(nf->pfn + 3).content, 0x1234U);
        EXPECT_EQ(w.m.page(nf->pfn + 7).content, 0U);
        EXPECT_EQ(w.m.mm.rss.anon, 16); // the none slot is a new anon page
        EXPECT_TRUE(flushed(w, flush_kind::range, base, base + w.geo().pmd_size()));
        expect_no_violations(w);
    }
}

TEST(CollapseHugePage, PmdOrderDepositsTheOldTable) {
    for (const char *impl : impls) {
        world w(impl, opts4k());
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        folio *f = w.m.folio_alloc(4, true);
        w.folios.push_back(f);
        const hw_ptep p = *w.pte_alloc_map(base + 32 * ps);
        const pgtable_t table = *w.m.live_table_for(base);
        w.m.spin_lock(w.ptl(base));
        w.ops->set_ptes(&w.m.mm, base + 32 * ps, p,
                        pte_mkwrite_novma(pfn_pte(f->pfn, PAGE_READONLY)), 16);
        w.m.spin_unlock(w.ptl(base));
        w.rmap_add(f->pfn, 16);
        ASSERT_EQ(w.m.hw_access(base + 40 * ps, true, 8, 0x40).fault, hw_fault::ok);
        ASSERT_TRUE(collapse_huge_page(w, base + 40 * ps, w.geo().pmd_order())) << impl;
        const pmd_t pmd = pmd_at(w, base);
        ASSERT_TRUE(pmd_trans_huge(pmd));
        EXPECT_TRUE(pmd_dirty(pmd) && pmd_young(pmd) && pmd_write(pmd));
        EXPECT_EQ(w.m.pmd_huge_pte(w.m.pmd_off(base)).front(), table);
        EXPECT_EQ(w.m.mm.rss.anon, 512);
        EXPECT_EQ(w.m.page(f->pfn + 8).anon_map_count, 0);
        EXPECT_EQ(w.m.hw_access(base + 40 * ps, false).value, 0x40U);
        EXPECT_EQ(w.m.hw_access(base + 41 * ps, false).value, 0U);
        // And back: the split reuses the deposited table.
        split_huge_pmd(w, base);
        EXPECT_EQ(w.m.live_table_for(base), table);
        EXPECT_EQ(w.m.hw_access(base + 40 * ps, false).value, 0x40U);
        expect_no_violations(w);
    }
}

TEST(CollapseHugePage, MthpOrderRefusesAFolioAlreadyThatLarge) {
    // __collapse_huge_page_isolate(): SCAN_PTE_MAPPED_HUGEPAGE for an mTHP order no larger than
    // a source folio's.
    for (const char *impl : impls) {
        world w(impl, opts4k());
        const std::uint64_t base = w.m.window_start();
        ASSERT_EQ(do_anonymous_page(w, base, 4, true), vm_fault::done);
        ASSERT_EQ(w.m.pfn_folio(pte_pfn(get(w, base)))->order, 4U) << impl;
        EXPECT_FALSE(collapse_huge_page(w, base, 4)) << impl;
        EXPECT_FALSE(collapse_huge_page(w, base, 3)) << impl;
        EXPECT_TRUE(collapse_huge_page(w, base, 5)) << impl;
        EXPECT_EQ(w.m.pfn_folio(pte_pfn(get(w, base)))->order, 5U) << impl;
        expect_no_violations(w);
    }
}

TEST(CollapseHugePage, MthpOrderInAReadOnlyVmaIsMappedClean) {
    // map_anon_folio_pte_nopf(): dirty and writable only where the VMA is writable. The VMA
    // covers the whole PMD range, which hugepage_vma_revalidate() asks for every order.
    const run_result r =
        run_text(sixteen_small_pages() + "mprotect addr=0x40000000000 nr=512 prot=ro\n"
                                         "collapse_huge_page addr=0x40000000000 order=4\n"
                                         "hw_access addr=0x40000003000 write=0 slot=0 value=0\n");
    EXPECT_TRUE(r.passed()) << verdict(r);
    EXPECT_NE(r.trace.find("collapse_huge_page addr=0x40000000000 order=4  => 1"),
              std::string::npos)
        << r.trace;
    for (const char *impl : impls) {
        world w(impl, opts4k());
        const std::uint64_t base = w.m.window_start();
        const std::uint64_t ps = w.geo().page_size();
        ASSERT_EQ(do_anonymous_page(w, base, 0, true), vm_fault::done);
        ASSERT_EQ(do_anonymous_page(w, base + 5 * ps, 0, true), vm_fault::done);
        mprotect_fixup(w, base, 16, VM_READ);
        EXPECT_FALSE(collapse_huge_page(w, base, 4)) << impl; // the VMA ends inside the PMD
        mprotect_fixup(w, base, w.geo().ptrs_per_pte(), VM_READ);
        ASSERT_TRUE(collapse_huge_page(w, base, 4)) << impl;
        for (std::uint64_t i = 0; i < 16; ++i) {
            const pte_t pte = get(w, base + i * ps);
            EXPECT_TRUE(pte_young(pte)) << impl << " " << i;
            EXPECT_FALSE(pte_dirty(pte) || pte_write(pte)) << impl << " " << i;
        }
        expect_no_violations(w);
    }
}

TEST(CollapseHugePage, NestsThePteLockOnlyWhenItIsDistinct) {
    // Without split ptlocks the PTE lock is the PMD lock: taking it again would deadlock.
    for (const char *split : {"0", "1"}) {
        std::string text = sixteen_small_pages();
        text.replace(text.find("split_ptlocks=1"), 15, std::string("split_ptlocks=") + split);
        const run_result r = run_text(text + "collapse_huge_page addr=0x40000000000 order=3\n");
        EXPECT_TRUE(r.passed()) << verdict(r);
    }
}

TEST(HugeCanaries, TheOracleCatchesEachWrongVariant) {
    const std::string thp = header4k + "folio_alloc order=0 anon=1\n"
                                       "set_ptes addr=0x40000000000 nr=1 folio=0 page=0 prot=rw "
                                       "flags=young\n"
                                       "collapse_huge_page addr=0x40000000000 order=9\n"
                                       "split_huge_pmd addr=0x40000000000\n";
    struct expectation {
        const char *canary;
        std::string text;
        const char *invariant;
    };
    const expectation cases[] = {
        // The table published before set_ptes() fills it.
        {"split_publishes_early", thp, "LIVENESS"},
        {"split_drops_dirty", thp, "DIRTY_LOSS"},
        // update_mmu_cache_range() before pmd_populate() in the mTHP collapse (seed 003).
        {"collapse_mmu_update_early",
         sixteen_small_pages() + "collapse_huge_page addr=0x40000000000 order=2\n",
         "UPDATE_MMU_WALK"},
    };
    for (const expectation &c : cases) {
        const run_result bad = run_text(c.text, c.canary);
        ASSERT_FALSE(bad.passed()) << c.canary;
        EXPECT_EQ(bad.violation->invariant, c.invariant) << c.canary << "\n"
                                                         << bad.violation->report;
        const run_result good = run_text(c.text);
        EXPECT_TRUE(good.passed()) << c.canary << ": " << verdict(good);
    }
}

/// Random programs of direct calls, the THP flows, anonymous faults, zaps and mprotect (which
/// reach the THP fault, zap_huge_pmd() and change_huge_pmd()): none may report a violation.
TEST(HugeRandom, NoFalseAlarms) {
    const op_kind huge_ops[] = {op_kind::collapse_huge_page, op_kind::split_huge_pmd,
                                op_kind::split_folio,        op_kind::do_anonymous_page,
                                op_kind::zap_pte_range,      op_kind::mprotect};
    std::size_t applied_of[std::size(huge_ops)] = {};
    // Fewer runs on the large granules: a PMD there is 2048 or 8192 pages.
    for (const auto &[g, seeds] :
         {std::pair{granule::k4, 30}, std::pair{granule::k16, 8}, std::pair{granule::k64, 3}}) {
        for (std::uint64_t seed = 0; seed < static_cast<std::uint64_t>(seeds); ++seed) {
            const rand_fn rnd = seeded_rand(seed * 131 + static_cast<unsigned>(g));
            program_header h;
            h.options.gran = g;
            h.options.window_pmds = 1 + static_cast<unsigned>(rnd(2));
            h.options.split_ptlocks = rnd(4) != 0;
            h.options.bbml2_noabort = rnd(3) == 0;
            program p = random_program(rnd, h, 0);
            while (p.ops.size() < 90) {
                op o = random_op(rnd, h);
                if (rnd(4) == 0) {
                    const op_desc &d = desc_of(huge_ops[rnd(std::size(huge_ops))]);
                    o = op{d.kind, {}};
                    for (const field_desc &f : d.used())
                        o[f.s] = random_field(rnd, h, d, f);
                    // PMD-order collapses make the PMDs that split_huge_pmd needs.
                    // THP faults, and zaps of whole PMDs (zap_huge_pmd()).
                    if (d.kind == op_kind::do_anonymous_page && rnd(2) == 0)
                        o[slot::arg] = geometry_of(g).pmd_order();
                    if (d.kind == op_kind::zap_pte_range && rnd(2) == 0) {
                        o[slot::addr] &= ~(geometry_of(g).ptrs_per_pte() - 1);
                        o[slot::nr] = geometry_of(g).ptrs_per_pte();
                    }
                    if (d.kind == op_kind::collapse_huge_page && rnd(3) == 0) {
                        o[slot::arg] = geometry_of(g).pmd_order();
                        p.ops.push_back(o);
                        op between = random_op(rnd, h);
                        while (is_flow(between.kind))
                            between = random_op(rnd, h);
                        p.ops.push_back(between);
                        o = op{op_kind::split_huge_pmd, {}};
                        o[slot::addr] = p.ops[p.ops.size() - 2][slot::addr];
                    }
                } else if (is_flow(o.kind)) {
                    continue;
                }
                p.ops.push_back(o);
            }
            const run_result r = run_program(p, run_options{});
            for (const op &o : r.legalized.ops)
                for (std::size_t k = 0; k < std::size(huge_ops); ++k)
                    applied_of[k] += o.kind == huge_ops[k] ? 1 : 0;
            ASSERT_TRUE(r.passed()) << "granule " << static_cast<int>(g) << " seed " << seed << "\n"
                                    << r.violation->report << "\n"
                                    << print_text(r.legalized);
        }
    }
    // Each flow really ran, many times (most random ops of these kinds are no-ops).
    for (std::size_t k = 0; k < std::size(huge_ops); ++k)
        EXPECT_GE(applied_of[k], 5U) << desc_of(huge_ops[k]).name;
}

} // namespace
} // namespace mmfuzz::test
