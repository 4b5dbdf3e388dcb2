// Reclaim of one folio: mm/vmscan.c shrink_folio_list() with mm/rmap.c try_to_unmap_one().
#include "core/flows.hpp"
#include "core/pte_walk.hpp"
#include "core/unmap.hpp"

namespace mmfuzz {

namespace {

using unmap::folio_walk;

/// try_to_unmap_one() for a lazy-free (MADV_FREE, !swapbacked) folio, a batch at a time
/// (lazyfree_batches()); get_and_clear_ptes() clears a batch and the range is flushed
/// (mm/rmap.c). Dirt found in a batch goes to the folio (folio_mark_dirty()). While the folio is
/// clean its pages are discarded (their entries stay none, their data is gone by design); once
/// it is redirtied, the batch just cleared is mapped again with the value read (set_ptes()), the
/// folio becomes swap-backed again (folio_set_swapbacked()) so reclaim keeps it, and the walk
/// stops (walk_abort): batches discarded before stay discarded, the ones after stay mapped.
reclaim_result reclaim_lazyfree(world &w, folio_walk &fw) {
    mm_struct *mm = &w.m.mm;
    folio &f = *fw.f;
    const std::uint64_t psz = w.geo().page_size();
    std::size_t k = 0;
    for (const unsigned nr : unmap::lazyfree_batches(w, fw)) {
        const unmap::mapped_page &p = fw.pages[k];
        const pte_t pteval = w.ops->get_and_clear_full_ptes(mm, p.addr, p.ptep, nr, 0);
        w.m.flush_tlb_range(p.addr, p.addr + nr * psz);
        if (pte_dirty(pteval))
            f.dirty = true;
        if (!f.dirty) {
            w.rmap_remove(f.pfn + p.index, nr);
            k += nr;
            continue;
        }
        w.ops->set_ptes(mm, p.addr, p.ptep, pteval, nr);
        f.lazyfree = false;
        return reclaim_result::kept;
    }
    return reclaim_result::discarded;
}

/// add_to_swap() and try_to_unmap_one() for a swap-backed anonymous folio, then pageout():
/// slots for the whole folio (an mTHP keeps its order, as arm64's THP_SWAP does), each mapped
/// page's entry cleared and flushed (ptep_clear_flush(); reclaim's TTU_BATCH_FLUSH defers the
/// flush to try_to_unmap_flush() before pageout, which needs no BBM since the new entry is not
/// valid), its dirt folded into the folio, and
/// replaced by a swap entry that keeps the page's exclusivity (pte_swp_mkexclusive()) and the
/// entry's uffd-wp bit (pte_swp_mkuffd_wp()); MM_ANONPAGES -> MM_SWAPENTS. The data of every
/// mapped page goes to its slot. The folio itself stays allocated: the program's folio table
/// holds a reference to it.
reclaim_result swap_out(world &w, folio_walk &fw) {
    mm_struct *mm = &w.m.mm;
    folio &f = *fw.f;
    // A folio still in the swap cache keeps its slot (add_to_swap() is skipped); one is
    // there only while a fork() child's entry names the slot, and only after an order-0
    // swap-in.
    const std::uint64_t cached = f.nr_pages() == 1 ? w.m.page(f.pfn).child_swap_slot : 0;
    const std::uint64_t base = cached != 0 ? cached : unmap::alloc_swap_slots(w, f.nr_pages());
    // Offset bit 40 is pte bit 52 (PTE_CONT), which arm64's set_ptes() clears: no device is
    // that large (legalize_softleaf() keeps direct swap entries below it too).
    if (base + f.nr_pages() > (std::uint64_t{1} << 40)) {
        w.swap_slots.resize(base);
        return reclaim_result::failed;
    }
    const bool drop_flags = w.canaries.on(canary::swap_drops_flags);
    for (const unmap::mapped_page &p : fw.pages) {
        const pfn_t pfn = f.pfn + p.index;
        const bool exclusive = w.page_anon_exclusive(pfn);
        const pte_t pteval = w.ops->ptep_get_and_clear(mm, p.addr, p.ptep);
        w.m.flush_tlb_page(p.addr);
        if (pte_dirty(pteval))
            f.dirty = true;
        const std::uint64_t off = base + p.index;
        w.swap_slots[off].content = w.m.page(pfn).content;
        pte_t swp_pte = softleaf_to_pte(swp_entry(core_swap_type, off));
        if (exclusive && !drop_flags)
            swp_pte = pte_swp_mkexclusive(swp_pte);
        if (pte_uffd_wp(pteval) && !drop_flags)
            swp_pte = pte_swp_mkuffd_wp(swp_pte);
        w.ops->set_pte_at(mm, p.addr, p.ptep, swp_pte);
        w.rmap_remove(pfn, 1);
        ++w.m.mm.rss.swap;
    }
    // The walk reaches a fork() child's mappings too: each becomes a swap entry naming the
    // page's slot (folio_dup_swap()), and the slot keeps the page's data for the child.
    for (std::uint64_t i = 0; i < f.nr_pages(); ++i) {
        const int child = w.child_unmap(f.pfn + i);
        if (child == 0)
            continue;
        swap_slot &s = w.swap_slots[base + i];
        s.child_refs += child;
        if (!s.content)
            s.content = w.m.page(f.pfn + i).content;
    }
    return reclaim_result::swapped;
}

} // namespace

/// mm/vmscan.c shrink_folio_list() for the folio mapped at addr, PTE-mapped only (a PMD-mapped
/// THP would be split first: failed). Lazy-free folios are discarded or kept
/// (try_to_unmap_one()'s MADV_FREE check); other anonymous folios are swapped out. File folios
/// are written back to their file, which this model does not have: failed. Precondition: no
/// fork() child maps a lazy-free folio (whether the child's entries are dirty decides its fate,
/// and the model does not keep them).
reclaim_result shrink_folio(world &w, std::uint64_t addr) {
    if (!w.pte_lookup(addr))
        return reclaim_result::failed;
    const unmap::ptl_scope ptl(w, addr);
    auto fw = unmap::walk_folio(w, addr);
    if (!fw || !fw->f->anon || fw->pages.empty())
        return reclaim_result::failed;
    return fw->f->lazyfree ? reclaim_lazyfree(w, *fw) : swap_out(w, *fw);
}

} // namespace mmfuzz
