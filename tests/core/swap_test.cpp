// Reclaim, swap, migration, device-private, hwpoison, guard and uffd-wp flows in both worlds:
// their kernel-observable outcome (entries, folio state, map counts, RSS, flushes), the data
// they must keep, contpte folding and unfolding during them, and the canaries of the group.
#include "core/flows.hpp"
#include "pgtable/softleaf.hpp"
#include "program/apply.hpp"
#include "program/codec.hpp"
#include "program/runner.hpp"
#include "world_helpers.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace mmfuzz {
namespace {

constexpr const char *impls[] = {"generic", "arm64_contpte"};
constexpr std::uint64_t base = machine::window_base;
constexpr std::uint64_t pg = 0x1000;

/// A world after a setup program in the text form (4K granule), each op applied as is.
std::unique_ptr<world> setup(const char *impl, const std::string &ops) {
    const program p = parse_text("mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n" + ops);
    auto w = std::make_unique<world>(impl, p.header.options);
    for (const op &o : p.ops)
        apply_op(*w, o);
    w->m.clear_logs();
    return w;
}

pte_t get(world &w, std::uint64_t addr) {
    return w.ops->ptep_get(*w.pte_lookup(addr));
}
pte_t raw(world &w, std::uint64_t addr) {
    return w.m.peek_pte(*w.m.live_table_for(addr), w.geo().pte_index(addr));
}
std::uint64_t read(world &w, std::uint64_t addr) {
    const hw_access_result r = w.m.hw_access(addr, false);
    EXPECT_TRUE(r.ok()) << std::hex << addr;
    return r.value;
}
std::size_t page_flushes(const world &w) {
    std::size_t n = 0;
    for (const tlb_flush &f : w.m.flush_log())
        n += f.kind == flush_kind::page ? 1 : 0;
    return n;
}
void expect_clean_run(world &w) {
    for (const violation &v : w.m.violations())
        ADD_FAILURE() << w.ops->name() << ": " << v.id << " " << v.detail;
    w.m.check_locks_released("test");
}

/// A 16-page anonymous folio mapped at page 0 (one CONT block on 4K) with 0x100 + i written
/// to page i, and an order-0 folio mapped uffd-wp at page 16.
const std::string mapped16 = [] {
    std::string s = "folio_alloc order=4 anon=1\n"
                    "set_ptes addr=0x40000000000 nr=16 folio=0 page=0 prot=rw flags=young\n"
                    "folio_alloc order=0 anon=1\n"
                    "set_ptes addr=0x40000010000 nr=1 folio=1 page=0 prot=ro flags=young|uffd_wp\n";
    for (int i = 0; i < 16; ++i)
        s += "hw_access addr=" + std::to_string(base + i * pg) +
             " write=1 slot=" + std::to_string(i) + " value=" + std::to_string(0x100 + i) + "\n";
    return s;
}();

TEST(SwapFlows, SwapOutKeepsFlagsAndDataThenSwapInMapsThem) {
    for (const char *impl : impls) {
        SCOPED_TRACE(impl);
        auto w = setup(impl, mapped16);
        folio *f = w->folios[0];
        EXPECT_EQ(shrink_folio(*w, base + 3 * pg), reclaim_result::swapped);
        EXPECT_EQ(shrink_folio(*w, base + 16 * pg), reclaim_result::swapped);
        for (int i = 0; i < 17; ++i) {
            const pte_t p = get(*w, base + i * pg);
            const softleaf_t e = softleaf_from_pte(p);
            ASSERT_TRUE(softleaf_is_swap(e)) << i;
            EXPECT_EQ(swp_type(e), core_swap_type);
            EXPECT_TRUE(pte_swp_exclusive(p)) << i;
            EXPECT_EQ(pte_swp_uffd_wp(p), i == 16) << i;
            if (i < 16)
                EXPECT_EQ(w->swap_slots[swp_offset(e)].content, 0x100U + i);
        }
        EXPECT_TRUE(f->dirty);
        EXPECT_EQ(w->m.mm.rss.anon, 0);
        EXPECT_EQ(w->m.mm.rss.swap, 17);
        EXPECT_EQ(w->mapcount(f->pfn + 3), 0);
        EXPECT_EQ(w->m.page(f->pfn + 3).anon_map_count, 0);
        EXPECT_EQ(page_flushes(*w), 17U); // ptep_clear_flush() per page
        EXPECT_FALSE(w->m.hw_access(base + 3 * pg, false).ok());
        expect_clean_run(*w);

        // Swap-in, read fault: exclusive, so writable but clean; young; the slot is freed.
        const std::uint64_t slot = swp_offset(softleaf_from_pte(get(*w, base + 3 * pg)));
        EXPECT_EQ(do_swap_page(*w, base + 3 * pg, false), vm_fault::done);
        pte_t p = get(*w, base + 3 * pg);
        EXPECT_TRUE(pte_present(p) && pte_write(p) && pte_young(p) && !pte_dirty(p));
        EXPECT_FALSE(w->swap_slots[slot].in_use());
        EXPECT_EQ(read(*w, base + 3 * pg), 0x103U);
        // Write fault: writable and dirty at once.
        EXPECT_EQ(do_swap_page(*w, base + 4 * pg, true), vm_fault::done);
        p = get(*w, base + 4 * pg);
        EXPECT_TRUE(pte_write(p) && pte_dirty(p));
        // uffd-wp: mapped write-protected even on a write fault; the write faults again.
        EXPECT_EQ(do_swap_page(*w, base + 16 * pg, true), vm_fault::done);
        p = get(*w, base + 16 * pg);
        EXPECT_TRUE(pte_uffd_wp(p) && !pte_write(p) && !pte_dirty(p));
        EXPECT_EQ(w->m.hw_access(base + 16 * pg, true).fault, hw_fault::write_protect);
        EXPECT_EQ(w->m.mm.rss.anon, 3);
        EXPECT_EQ(w->m.mm.rss.swap, 14);
        EXPECT_EQ(w->mapcount(pte_pfn(p)), 1);
        EXPECT_EQ(do_swap_page(*w, base + 3 * pg, false), vm_fault::nopage);
        expect_clean_run(*w);
    }
}

TEST(SwapFlows, SwapDropsFlagsCanary) {
    for (const char *impl : impls) {
        auto w = setup(impl, mapped16);
        w->canaries.enable(canary::swap_drops_flags);
        EXPECT_EQ(shrink_folio(*w, base + 16 * pg), reclaim_result::swapped);
        const pte_t p = get(*w, base + 16 * pg);
        EXPECT_FALSE(pte_swp_uffd_wp(p) || pte_swp_exclusive(p));
    }
}

/// A 16-page anonymous folio mapped young and clean at page 0 (one CONT block on 4K).
const std::string clean16 = "folio_alloc order=4 anon=1\n"
                            "set_ptes addr=0x40000000000 nr=16 folio=0 page=0 prot=rw "
                            "flags=young\n";

TEST(SwapFlows, LazyFreeCleanIsDiscardedRedirtiedIsKept) {
    const std::string &clean = clean16;
    for (const char *impl : impls) {
        SCOPED_TRACE(impl);
        auto w = setup(impl, clean);
        folio *f = w->folios[0];
        f->lazyfree = true; // what madvise_free() leaves on a clean folio
        EXPECT_EQ(shrink_folio(*w, base + 5 * pg), reclaim_result::discarded);
        for (int i = 0; i < 16; ++i)
            EXPECT_TRUE(pte_none(get(*w, base + i * pg)));
        EXPECT_EQ(w->m.mm.rss.anon, 0);
        EXPECT_EQ(w->mapcount(f->pfn), 0);
        expect_clean_run(*w);

        // Written after MADV_FREE: unmapped in one batch, found dirty, mapped again.
        w = setup(impl, clean + "hw_access addr=0x40000007000 write=1 slot=7 value=0x77\n");
        f = w->folios[0];
        f->lazyfree = true;
        if (std::string(impl) == "arm64_contpte")
            EXPECT_TRUE(pte_cont(raw(*w, base)));
        EXPECT_EQ(shrink_folio(*w, base + 5 * pg), reclaim_result::kept);
        EXPECT_FALSE(f->lazyfree);
        EXPECT_TRUE(f->dirty);
        for (int i = 0; i < 16; ++i) {
            const pte_t p = get(*w, base + i * pg);
            EXPECT_TRUE(pte_present(p) && pte_pfn(p) == f->pfn + i && pte_dirty(p)) << i;
        }
        // set_ptes() of a whole aligned block: contpte maps it CONT again.
        if (std::string(impl) == "arm64_contpte")
            EXPECT_TRUE(pte_cont(raw(*w, base)));
        EXPECT_EQ(read(*w, base + 7 * pg), 0x77U);
        EXPECT_EQ(w->m.mm.rss.anon, 16);
        expect_clean_run(*w);
    }
}

TEST(SwapFlows, LazyFreeUnmapsInBatchesAndStopsAtTheRedirtiedOne) {
    // Page 4 write-protected splits the folio into three batches: [0, 4), [4] and [5, 16).
    const std::string text = clean16 + "wrprotect_ptes addr=0x40000004000 nr=1\n"
                                       "hw_access addr=0x40000009000 write=1 slot=0 value=0x99\n";
    for (const char *impl : impls) {
        SCOPED_TRACE(impl);
        auto w = setup(impl, text);
        folio *f = w->folios[0];
        f->lazyfree = true;
        EXPECT_EQ(shrink_folio(*w, base + 5 * pg), reclaim_result::kept);
        // The clean batches before it are gone; the redirtied batch is mapped again whole,
        // with the dirty bit it gathered.
        for (int i = 0; i < 5; ++i)
            EXPECT_TRUE(pte_none(get(*w, base + i * pg))) << i;
        for (int i = 5; i < 16; ++i) {
            const pte_t p = get(*w, base + i * pg);
            EXPECT_TRUE(pte_present(p) && pte_pfn(p) == f->pfn + i && pte_dirty(p)) << i;
        }
        EXPECT_EQ(read(*w, base + 9 * pg), 0x99U);
        EXPECT_EQ(w->m.mm.rss.anon, 11);
        EXPECT_EQ(w->mapcount(f->pfn + 4), 0);
        EXPECT_EQ(w->mapcount(f->pfn + 5), 1);
        expect_clean_run(*w);
    }
}

TEST(SwapFlows, LazyFreeUnmapsOnePageAtATimeWithUffdWp) {
    // folio_unmap_pte_batch(): no batching in a VMA registered for uffd-wp, so the clean pages
    // before the redirtied one are discarded one by one and only that one is mapped again.
    const std::string text = clean16 + "uffd_writeprotect addr=0x40000000000 nr=16 enable=1\n"
                                       "set_ptes addr=0x40000009000 nr=1 folio=0 page=9 prot=ro "
                                       "flags=young|dirty|uffd_wp\n";
    for (const char *impl : impls) {
        SCOPED_TRACE(impl);
        auto w = setup(impl, text);
        folio *f = w->folios[0];
        f->lazyfree = true;
        EXPECT_EQ(shrink_folio(*w, base + 5 * pg), reclaim_result::kept);
        for (int i = 0; i < 9; ++i)
            EXPECT_TRUE(pte_none(get(*w, base + i * pg))) << i;
        for (int i = 9; i < 16; ++i)
            EXPECT_TRUE(pte_present(get(*w, base + i * pg))) << i;
        EXPECT_EQ(w->m.mm.rss.anon, 7);
        expect_clean_run(*w);
    }
}

TEST(SwapFlows, MigrationKeepsALazyFreeFolioLazyFree) {
    // __folio_migrate_mapping() sets swap-backed on the new folio only if the old one was.
    for (const char *impl : impls) {
        SCOPED_TRACE(impl);
        auto w = setup(impl, clean16);
        w->folios[0]->lazyfree = true;
        ASSERT_TRUE(migrate_folio(*w, base + 3 * pg));
        EXPECT_TRUE(w->folios.back()->lazyfree);
        EXPECT_EQ(shrink_folio(*w, base + 3 * pg), reclaim_result::discarded);
        expect_clean_run(*w);
    }
}

TEST(SwapFlows, MigrationOfAContBlockKeepsDirtyAndDataAndRefolds) {
    for (const char *impl : impls) {
        SCOPED_TRACE(impl);
        const bool contpte = std::string(impl) == "arm64_contpte";
        auto w = setup(impl, mapped16);
        folio *src = w->folios[0];
        if (contpte)
            EXPECT_TRUE(pte_cont(raw(*w, base + 9 * pg)));
        const std::size_t nfolios = w->folios.size();
        ASSERT_TRUE(migrate_folio(*w, base + 9 * pg));
        ASSERT_EQ(w->folios.size(), nfolios + 1);
        folio *dst = w->folios.back();
        EXPECT_EQ(dst->order, 4U);
        EXPECT_TRUE(dst->dirty);
        for (int i = 0; i < 16; ++i) {
            const pte_t p = get(*w, base + i * pg);
            EXPECT_EQ(pte_pfn(p), dst->pfn + i);
            EXPECT_TRUE(pte_write(p) && pte_young(p) && pte_dirty(p)) << i;
            EXPECT_EQ(w->mapcount(src->pfn + i), 0);
            EXPECT_EQ(w->mapcount(dst->pfn + i), 1);
        }
        // Unfolded by the first clear, folded again by the last remap.
        if (contpte)
            EXPECT_TRUE(pte_cont(raw(*w, base + 9 * pg)));
        EXPECT_GE(page_flushes(*w), 16U);
        EXPECT_EQ(w->m.mm.rss.anon, 17);
        for (int i = 0; i < 16; ++i)
            EXPECT_EQ(read(*w, base + i * pg), 0x100U + i);
        expect_clean_run(*w);

        // Read-only and uffd-wp entries come back as they were.
        ASSERT_TRUE(migrate_folio(*w, base + 16 * pg));
        const pte_t p = get(*w, base + 16 * pg);
        EXPECT_TRUE(pte_uffd_wp(p) && !pte_write(p));
    }
}

TEST(SwapFlows, DeviceRoundTripKeepsData) {
    const std::string one = "folio_alloc order=0 anon=1\n"
                            "set_ptes addr=0x40000000000 nr=1 folio=0 page=0 prot=rw flags=young\n"
                            "hw_access addr=0x40000000000 write=1 slot=0 value=0x42\n";
    for (const char *impl : impls) {
        SCOPED_TRACE(impl);
        auto w = setup(impl, one);
        ASSERT_TRUE(migrate_device(*w, base, false));
        const pte_t d = get(*w, base);
        const softleaf_t e = softleaf_from_pte(d);
        ASSERT_TRUE(softleaf_is_device_private_write(e));
        EXPECT_EQ(softleaf_to_pfn(e), w->folios.back()->pfn);
        EXPECT_TRUE(w->folios.back()->device_private);
        EXPECT_EQ(w->m.page(softleaf_to_pfn(e)).content, 0x42U);
        EXPECT_EQ(w->m.mm.rss.anon, 0);
        EXPECT_EQ(w->m.hw_access(base, false).fault, hw_fault::softleaf);
        ASSERT_TRUE(migrate_device(*w, base, true));
        const pte_t p = get(*w, base);
        EXPECT_TRUE(pte_present(p) && pte_write(p) && !pte_young(p) && !pte_dirty(p));
        EXPECT_EQ(pte_pfn(p), w->folios.back()->pfn);
        EXPECT_FALSE(w->folios.back()->device_private);
        EXPECT_EQ(read(*w, base), 0x42U);
        EXPECT_EQ(w->m.mm.rss.anon, 1);
        expect_clean_run(*w);
    }
}

TEST(SwapFlows, MemoryFailureLeavesAHwpoisonEntry) {
    for (const char *impl : impls) {
        auto w = setup(impl, mapped16);
        const pfn_t pfn = w->folios[1]->pfn;
        EXPECT_FALSE(memory_failure(*w, base + 3 * pg)); // a large folio is split first
        ASSERT_TRUE(memory_failure(*w, base + 16 * pg));
        const softleaf_t e = softleaf_from_pte(get(*w, base + 16 * pg));
        EXPECT_TRUE(softleaf_is_hwpoison(e));
        EXPECT_EQ(softleaf_to_pfn(e), pfn);
        EXPECT_EQ(w->mapcount(pfn), 0);
        EXPECT_EQ(w->m.mm.rss.anon, 16);
        EXPECT_EQ(w->m.hw_access(base + 16 * pg, false).fault, hw_fault::softleaf);
        expect_clean_run(*w);
    }
}

TEST(SwapFlows, GuardInstallZapsAndMarksRemoveClears) {
    for (const char *impl : impls) {
        SCOPED_TRACE(impl);
        auto w = setup(impl, mapped16);
        ASSERT_EQ(shrink_folio(*w, base + 16 * pg), reclaim_result::swapped);
        // Pages 12..19: part of the CONT block, the swapped page, and none entries.
        madvise_guard_install(*w, base + 12 * pg, 8);
        for (int i = 12; i < 20; ++i)
            EXPECT_TRUE(softleaf_is_guard_marker(softleaf_from_pte(get(*w, base + i * pg)))) << i;
        EXPECT_TRUE(pte_present(get(*w, base + 11 * pg)));
        EXPECT_EQ(w->m.mm.rss.anon, 12);
        EXPECT_EQ(w->m.mm.rss.swap, 0);
        EXPECT_EQ(w->mapcount(w->folios[0]->pfn + 12), 0);
        // zap_present_folio_ptes(): an anonymous folio does not take the entries' dirty bit.
        EXPECT_FALSE(w->folios[0]->dirty);
        if (std::string(impl) == "arm64_contpte")
            EXPECT_FALSE(pte_cont(raw(*w, base + 11 * pg))); // the partial zap unfolded it
        EXPECT_EQ(w->m.hw_access(base + 12 * pg, false).fault, hw_fault::softleaf);
        madvise_guard_remove(*w, base + 10 * pg, 4);
        EXPECT_TRUE(pte_present(get(*w, base + 11 * pg)));
        EXPECT_TRUE(pte_none(get(*w, base + 12 * pg)));
        EXPECT_TRUE(softleaf_is_guard_marker(softleaf_from_pte(get(*w, base + 14 * pg))));
        expect_clean_run(*w);
    }
}

TEST(SwapFlows, UffdWriteProtectSetsAndClearsTheBitEverywhere) {
    for (const char *impl : impls) {
        SCOPED_TRACE(impl);
        auto w =
            setup(impl, mapped16 + "set_softleaf addr=0x40000011000 type=marker folio=0 page=0 "
                                   "swapfile=0 offset=0x4 flags=0\n");
        ASSERT_EQ(shrink_folio(*w, base + 16 * pg), reclaim_result::swapped);
        uffd_writeprotect(*w, base + 16 * pg, 1, false);
        EXPECT_FALSE(pte_swp_uffd_wp(get(*w, base + 16 * pg)));
        uffd_writeprotect(*w, base, 18, true);
        for (int i = 0; i < 16; ++i) {
            const pte_t p = get(*w, base + i * pg);
            EXPECT_TRUE(pte_uffd_wp(p) && !pte_write(p) && pte_dirty(p)) << i;
        }
        EXPECT_TRUE(pte_swp_uffd_wp(get(*w, base + 16 * pg)));
        // A guard marker is left alone; none entries get no marker in an anonymous VMA.
        EXPECT_TRUE(softleaf_is_guard_marker(softleaf_from_pte(get(*w, base + 17 * pg))));
        EXPECT_EQ(w->m.hw_access(base + 2 * pg, true).fault, hw_fault::write_protect);
        if (std::string(impl) == "arm64_contpte")
            EXPECT_TRUE(pte_cont(raw(*w, base + 2 * pg))); // one batch over the whole block
        uffd_writeprotect(*w, base, 17, false);
        // Resolving in a writable VMA makes the exclusive anon pages writable again
        // (MM_CP_TRY_CHANGE_WRITABLE).
        for (int i = 0; i < 16; ++i) {
            const pte_t p = get(*w, base + i * pg);
            EXPECT_TRUE(!pte_uffd_wp(p) && pte_write(p)) << i;
        }
        EXPECT_EQ(w->m.hw_access(base + 2 * pg, true, 0, 0x102).fault, hw_fault::ok);
        EXPECT_FALSE(pte_swp_uffd_wp(get(*w, base + 16 * pg)));
        for (int i = 0; i < 16; ++i)
            EXPECT_EQ(read(*w, base + i * pg), 0x100U + i);
        expect_clean_run(*w);
    }
}

/// Whole programs through the runner: both worlds, every check after every op.
run_result run_text(const std::string &body, const std::string &inject = "") {
    run_options o;
    o.inject = inject;
    return run_program(parse_text("mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n" + body),
                       o);
}

// change_softleaf_pte() builds the read entry afresh: the swap-exclusive bit is not kept, a
// device-private entry keeps uffd-wp. The oracle expects the same (no SOFTLEAF_ROUNDTRIP).
TEST(SwapFlows, MprotectRebuildsWritableSoftleaves) {
    const std::string text = "folio_alloc order=0 anon=1\n"
                             "folio_alloc order=0 anon=1\n"
                             "set_softleaf addr=0x40000000000 type=migration_write folio=0 page=0 "
                             "flags=exclusive\n"
                             "set_softleaf addr=0x40000001000 type=device_write folio=1 page=0 "
                             "flags=exclusive|uffd_wp\n";
    for (const char *impl : impls) {
        SCOPED_TRACE(impl);
        auto w = setup(impl, text);
        mprotect_fixup(*w, base, 2, VM_READ);
        const pte_t mig = get(*w, base);
        EXPECT_TRUE(softleaf_is_migration_read_exclusive(softleaf_from_pte(mig)));
        EXPECT_FALSE(pte_swp_exclusive(mig));
        const pte_t dev = get(*w, base + pg);
        EXPECT_TRUE(softleaf_is_device_private(softleaf_from_pte(dev)) &&
                    !softleaf_is_device_private_write(softleaf_from_pte(dev)));
        EXPECT_FALSE(pte_swp_exclusive(dev));
        EXPECT_TRUE(pte_swp_uffd_wp(dev));
    }
    const run_result r = run_text(text + "mprotect addr=0x40000000000 nr=2 prot=ro\n");
    EXPECT_TRUE(r.passed()) << r.violation->report;
    EXPECT_EQ(r.noops, 0U) << r.trace;
}

TEST(SwapFlows, ProgramsKeepDataAcrossEveryFlow) {
    const std::string body = mapped16 + "shrink_folio addr=0x40000003000\n"
                                        "do_swap_page addr=0x40000003000 write=0\n"
                                        "hw_access addr=0x40000003000 write=0 slot=0 value=0\n"
                                        "do_swap_page addr=0x40000005000 write=1\n"
                                        "hw_access addr=0x40000005000 write=1 slot=0 value=0x55\n"
                                        "migrate_folio addr=0x40000005000\n"
                                        "hw_access addr=0x40000005000 write=0 slot=0 value=0\n"
                                        "uffd_writeprotect addr=0x40000000000 nr=16 enable=1\n"
                                        "shrink_folio addr=0x40000003000\n"
                                        "do_swap_page addr=0x40000003000 write=1\n"
                                        "hw_access addr=0x40000003000 write=1 slot=0 value=0x66\n"
                                        "uffd_writeprotect addr=0x40000000000 nr=16 enable=0\n"
                                        "migrate_device addr=0x40000003000 to_ram=0\n"
                                        "migrate_device addr=0x40000003000 to_ram=1\n"
                                        "hw_access addr=0x40000003000 write=0 slot=0 value=0\n"
                                        "memory_failure addr=0x40000003000\n"
                                        "madvise_guard addr=0x40000008000 nr=8 remove=0\n"
                                        "madvise_guard addr=0x40000008000 nr=8 remove=1\n"
                                        "hw_access addr=0x40000006000 write=0 slot=0 value=0\n";
    run_options o;
    o.trace = true;
    const run_result r = run_program(
        parse_text("mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n" + body), o);
    EXPECT_TRUE(r.passed()) << r.violation->report << r.trace;
    EXPECT_EQ(r.noops, 0U) << r.trace;
    EXPECT_NE(r.trace.find("hw_access addr=0x40000003000 write=0 slot=0 value=0x0  => ok "
                           "value=0x103"),
              std::string::npos)
        << r.trace;
}

TEST(SwapFlows, LazyFreeDiscardReadsZero) {
    const run_result r = run_text("folio_alloc order=4 anon=1\n"
                                  "set_ptes addr=0x40000000000 nr=16 folio=0 page=0 prot=rw "
                                  "flags=young\n"
                                  "hw_access addr=0x40000002000 write=1 slot=2 value=0x9\n"
                                  "madvise_free addr=0x40000000000 nr=16\n"
                                  "shrink_folio addr=0x40000002000\n"
                                  "ptep_get addr=0x40000002000\n");
    EXPECT_TRUE(r.passed()) << r.violation->report;
}

// Reclaim that would discard a clean first batch of a lazy-free folio and keep a later, dirty
// one is skipped: arm64 may hold the first batch dirty (contpte_convert() gathers a block's
// dirty bits into every entry when it unfolds it), and then keeps the whole folio where the
// generic world drops the first batch. Reclaim whose first batch is dirty runs in both. How
// each world batches is tested on the worlds directly above.
TEST(SwapFlows, LazyFreeReclaimThatWouldDropACleanFirstBatchIsSkipped) {
    const auto program = [](const char *write_at) {
        return std::string("do_anonymous_page addr=0x40000000000 order=4\n"
                           "madvise_free addr=0x40000000000 nr=16\n"
                           "hw_access addr=") +
               write_at +
               " write=1 slot=0 value=0x5\n"
               "wrprotect_ptes addr=0x40000008000 nr=8\n"
               "shrink_folio addr=0x40000000000\n"
               "handle_mm_fault addr=0x40000002000 write=0 slot=0 value=0x0\n";
    };
    // Written in the second batch: the unfold made the first batch dirty on arm64 only.
    const run_result later = test::run_text(
        "mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n" + program("0x4000000c000"));
    ASSERT_TRUE(later.passed()) << later.violation->report;
    EXPECT_EQ(later.noops, 1U) << later.trace;
    EXPECT_NE(later.trace.find("clean in its first batch"), std::string::npos) << later.trace;
    // Written in the first batch: kept whole in both worlds.
    const run_result first = test::run_text(
        "mmfuzz v1 granule=4K window=1 bbml2=0 split_ptlocks=1\n" + program("0x40000002000"));
    ASSERT_TRUE(first.passed()) << first.violation->report;
    EXPECT_EQ(first.noops, 0U) << first.trace;
    EXPECT_NE(first.trace.find("ok value=0x5"), std::string::npos) << first.trace;
}

TEST(SwapFlows, MigrationDropsDirtyCanaryIsCaught) {
    const std::string body = "folio_alloc order=4 anon=1\n"
                             "set_ptes addr=0x40000000000 nr=16 folio=0 page=0 prot=rw "
                             "flags=young\n"
                             "hw_access addr=0x40000003000 write=1 slot=3 value=0x1\n"
                             "migrate_folio addr=0x40000003000\n";
    EXPECT_TRUE(run_text(body).passed());
    const run_result r = run_text(body, "migration_drops_dirty");
    ASSERT_FALSE(r.passed());
    EXPECT_EQ(r.violation->invariant, "DIRTY_LOSS");
}

} // namespace
} // namespace mmfuzz
