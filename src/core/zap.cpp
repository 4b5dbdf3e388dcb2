// Unmapping: mm/memory.c zap_pte_range() as MADV_DONTNEED calls it, empty tables reclaimed,
// and mm/madvise.c madvise_free_pte_range() (MADV_FREE).
//
// RSS here counts present entries (MM_ANONPAGES/MM_FILEPAGES) and swap entries (MM_SWAPENTS);
// migration and device entries are not counted, as in the rest of the model.
#include "core/flows.hpp"
#include "core/pte_walk.hpp"
#include "core/unmap.hpp"
#include "machine/tlb.hpp"
#include "pgtable/softleaf.hpp"

namespace mmfuzz {

namespace {

/// free_swap_and_cache() of a swap entry of the core swap device.
void free_swap(world &w, softleaf_t e) {
    if (swp_type(e) == core_swap_type && swp_offset(e) < w.swap_slots.size())
        unmap::swap_put(w, swp_offset(e));
}

/// zap_nonpresent_ptes() for one entry: whether it was cleared. Guard markers survive an
/// ordinary zap; uffd-wp markers of an anonymous VMA do not.
bool zap_nonpresent(world &w, std::uint64_t addr, hw_ptep ptep, pte_t old) {
    const softleaf_t e = softleaf_from_pte(old);
    if (softleaf_is_guard_marker(e))
        return false;
    if (softleaf_is_swap(e)) {
        --w.m.mm.rss.swap;
        free_swap(w, e);
    }
    w.ops->pte_clear(&w.m.mm, addr, ptep); // clear_not_present_full_ptes()
    return true;
}

/// zap_empty_pte_table() (mm/memory.c), the PTL of the table held: the table the zap emptied
/// is unlinked under the PMD lock too, when that is another lock; the caller frees it through
/// the gather. As in zap_pte_range()'s fast path, the entries are not read again: a zap of the
/// whole table that skipped none left every one of them none.
void zap_empty_pte_table(world &w, std::uint64_t addr) {
    const spinlock_t pml = w.m.pmd_lockptr();
    const bool nest = pml != w.ptl(addr);
    if (nest)
        w.m.spin_lock(pml); // spin_trylock(), which cannot fail without another CPU
    w.ops->pmd_clear(w.m.pmd_off(addr));
    if (nest)
        w.m.spin_unlock(pml);
}

/// zap_pte_range()'s loop over [a, a + room pages) of one table, under its PTL. With
/// `reclaim` set, it is left set only when no entry was skipped, and the table is unlinked.
void zap_table(world &w, mmu_gather &tlb, std::uint64_t a, std::uint64_t room, bool &reclaim) {
    const std::uint64_t ps = w.geo().page_size();
    const pte_locked first(w, a);
    for (std::uint64_t i = 0; i < room;) {
        const std::uint64_t va = a + i * ps;
        const hw_ptep ptep = hw_pte_add(*first, static_cast<std::ptrdiff_t>(i));
        const pte_t old = w.ops->ptep_get(ptep);
        if (pte_none(old)) {
            ++i;
            continue;
        }
        if (!pte_present(old)) {
            if (!zap_nonpresent(w, va, ptep, old))
                reclaim = false; // any_skipped
            ++i;
            continue;
        }
        // zap_present_ptes() / zap_present_folio_ptes(): one folio batch at a time; a
        // file folio takes the batch's dirty and young (anon ones need not).
        const unsigned n = folio_pte_batch(w, ptep, old, static_cast<unsigned>(room - i));
        const pte_t ptent = w.ops->get_and_clear_full_ptes(&w.m.mm, va, ptep, n, 0);
        // Special entries of program folios are counted like any mapping by the model's
        // accounting (program/apply.cpp), so they are uncounted here too.
        if (folio *f = w.m.pfn_folio(pte_pfn(ptent))) {
            if (!f->anon && !pte_special(ptent)) {
                f->dirty |= pte_dirty(ptent);
                f->referenced |= pte_young(ptent);
            }
            w.rmap_remove(pte_pfn(ptent), n);
            if (w.canaries.on(canary::zap_rss_per_batch))
                (f->anon ? w.m.mm.rss.anon : w.m.mm.rss.file) += static_cast<long>(n) - 1;
            f->refcount -= static_cast<int>(n);
        }
        tlb.remove_tlb_entries(va, n);
        i += n;
    }
    if (reclaim)
        zap_empty_pte_table(w, a);
}

} // namespace

void zap_page_range(world &w, std::uint64_t addr, std::uint64_t nr, bool reclaim_pt) {
    const std::uint64_t ps = w.geo().page_size();
    const std::uint64_t end = addr + nr * ps;
    mmu_gather tlb(w.m);
    for (std::uint64_t a = addr; a < end;) {
        const std::uint64_t room = std::min(table_room(w, a), (end - a) / ps);
        if (pmd_leaf(w.ops->pmdp_get(w.m.pmd_off(a)))) {
            zap_huge_pmd(w, tlb, a); // the legalizer gives a PMD leaf only whole
            a += room * ps;
            continue;
        }
        const std::optional<hw_ptep> ptep = w.pte_lookup(a);
        if (!ptep) {
            a += room * ps;
            continue;
        }
        // A PTE table emptied whole is reclaimed (zap_details.reclaim_pt,
        // pte_table_reclaim_enabled()): the range must cover the table and skip no entry.
        bool reclaim = reclaim_pt && room == w.geo().ptrs_per_pte();
        const pgtable_t table = w.m.table_of(*ptep);
        zap_table(w, tlb, a, room, reclaim);
        // pte_free_tlb() once the PTL is dropped: the table goes after the gather's flush.
        if (reclaim) {
            if (w.canaries.on(canary::pt_reclaim_frees_unflushed))
                w.m.pte_free(table);
            else
                tlb.pte_free_tlb(table, a);
        }
        a += room * ps;
    }
    tlb.finish_mmu();
}

void zap_pte_range(world &w, std::uint64_t addr, std::uint64_t nr) {
    zap_page_range(w, addr, nr, true);
}

void madvise_free(world &w, std::uint64_t addr, std::uint64_t nr) {
    const std::uint64_t ps = w.geo().page_size();
    const std::uint64_t end = addr + nr * ps;
    const bool canary = w.canaries.on(canary::madv_free_beyond_range);
    mmu_gather tlb(w.m);
    for (std::uint64_t a = addr; a < end;) {
        const std::uint64_t room = std::min(table_room(w, a), (end - a) / ps);
        if (!w.pte_lookup(a) || pmd_leaf(w.ops->pmdp_get(w.m.pmd_off(a)))) {
            a += room * ps;
            continue;
        }
        const pte_locked first(w, a);
        for (std::uint64_t i = 0; i < room;) {
            const std::uint64_t va = a + i * ps;
            const hw_ptep ptep = hw_pte_add(*first, static_cast<std::ptrdiff_t>(i));
            const pte_t old = w.ops->ptep_get(ptep);
            if (pte_none(old)) {
                ++i;
                continue;
            }
            if (!pte_present(old)) {
                // A swapped-out page is dropped; hwpoison entries and poison markers too; the
                // other markers (guard, uffd-wp) stay.
                const softleaf_t e = softleaf_from_pte(old);
                if (softleaf_is_swap(e)) {
                    --w.m.mm.rss.swap;
                    free_swap(w, e);
                    w.ops->pte_clear(&w.m.mm, va, ptep);
                } else if (softleaf_is_hwpoison(e) || softleaf_is_poison_marker(e)) {
                    w.ops->pte_clear(&w.m.mm, va, ptep);
                }
                ++i;
                continue;
            }
            folio *f = w.vm_normal_folio(old);
            if (f == nullptr) {
                ++i;
                continue;
            }
            unsigned n = folio_pte_batch(w, ptep, old, static_cast<unsigned>(room - i));
            // A large folio only partly in the range, or not mapped whole here, would be split
            // (split_folio()); this model skips it instead. The canary cleans the whole folio
            // batch even beyond the range.
            const bool whole = pte_pfn(old) == f->pfn && n == f->nr_pages();
            if (f->order > 0 && !whole && !canary) {
                i += n;
                continue;
            }
            if (canary && f->order > 0) {
                const unsigned beyond =
                    folio_pte_batch(w, ptep, old,
                                    static_cast<unsigned>(
                                        std::min<std::uint64_t>(table_room(w, va), f->nr_pages())));
                n = std::max(n, beyond);
            }
            // A folio dirty in its own flag or in the swap cache is left alone if another mm
            // maps it too (a fork child) or folio_free_swap() cannot drop its swap copy; else
            // folio_clear_dirty().
            const bool cached = unmap::swapcache_held(w, *f);
            if ((f->dirty || cached) && (cached || unmap::maybe_mapped_shared(w, *f))) {
                i += n;
                continue;
            }
            f->dirty = false;
            // madvise_folio_pte_batch() merges the batch's young and dirty into its entry.
            bool young_or_dirty = false;
            for (unsigned k = 0; k < n && !young_or_dirty; ++k) {
                const pte_t p = w.ops->ptep_get(hw_pte_add(ptep, static_cast<std::ptrdiff_t>(k)));
                young_or_dirty = pte_young(p) || pte_dirty(p);
            }
            if (young_or_dirty) {
                w.ops->clear_young_dirty_ptes(&w.vma, va, ptep, n,
                                              CYDP_CLEAR_YOUNG | CYDP_CLEAR_DIRTY);
                tlb.remove_tlb_entries(va, n);
            }
            if (f->anon)
                f->lazyfree = true; // folio_mark_lazyfree()
            i += n;
        }
        a += room * ps;
    }
    tlb.finish_mmu();
}

} // namespace mmfuzz
