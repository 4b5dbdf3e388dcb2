// Swap in: mm/memory.c do_swap_page().
#include "core/flows.hpp"
#include "core/unmap.hpp"

namespace mmfuzz {

/// mm/memory.c do_swap_page() for the swap entry at addr, reading from a swap device that goes
/// through the swap cache (not SWP_SYNCHRONOUS_IO), and one order-0 folio per fault (no mTHP
/// swap-in). The new page is mapped from vma->vm_page_prot (young); pte_swp_uffd_wp() gives
/// pte_mkuffd_wp(). An exclusive entry (pte_swp_exclusive()) in a VM_WRITE VMA maps writable
/// unless uffd-wp, and dirty on a write fault. swap_free_nr() then drops this entry's count:
/// - no other entry names the slot: it is freed (folio_free_swap(), which dirties the folio:
///   the swap copy is gone), as should_try_to_free_swap() does under swap pressure
///   (mem_cgroup_swap_full()) or for a write;
/// - a fork() child's entry still names it (folio_swapped()): the folio stays in the swap
///   cache, clean, and is not exclusive; the child's swap-in would map this very page
///   (page_state::child_swap_slot).
/// A write fault the exclusive path did not handle goes to do_wp_page(): wp_page_reuse() for a
/// folio that is ours alone, wp_page_copy() for one the swap cache keeps for a child
/// (wp_can_reuse_anon_folio(): folio_free_swap() fails, the refcount is not 1); a uffd-wp entry
/// is left write-protected for the userfaultfd handler (the access faults again).
/// MM_SWAPENTS -> MM_ANONPAGES. nopage when the entry is not a live slot of the core swap
/// device, oom when no folio can be allocated (the entry stays).
vm_fault do_swap_page(world &w, std::uint64_t addr, bool write) {
    const auto ptep = w.pte_lookup(addr);
    if (!ptep)
        return vm_fault::nopage;
    mm_struct *mm = &w.m.mm;
    const unmap::ptl_scope ptl(w, addr);
    const pte_t orig = w.ops->ptep_get(*ptep);
    const auto slot = unmap::core_swap_slot(w, softleaf_from_pte(orig));
    if (!slot)
        return vm_fault::nopage;
    folio *f = w.m.folio_alloc(0, true);
    if (f == nullptr)
        return vm_fault::oom;
    swap_slot &s = w.swap_slots[*slot];
    w.m.page(f->pfn).content = *s.content;
    w.folios.push_back(f);

    const bool uffd_wp = pte_swp_uffd_wp(orig);
    const bool swapped = s.child_refs != 0;
    // The decision `exclusive || folio_ref_count(folio) == 1`; the canary leaves the swap
    // cache's reference out of the count.
    const bool exclusive =
        pte_swp_exclusive(orig) || (swapped && w.canaries.on(canary::swapin_reuses_shared_slot));
    const bool vm_write = (w.vm_flags_at(addr) & VM_WRITE) != 0;
    pte_t pte = pfn_pte(f->pfn, w.vm_page_prot(addr));
    if (uffd_wp)
        pte = pte_mkuffd_wp(pte);
    bool write_handled = false;
    if (exclusive && vm_write && !uffd_wp) {
        pte = w.maybe_mkwrite(pte, addr);
        if (write) {
            pte = pte_mkdirty(pte);
            write_handled = true;
        }
    }
    --w.m.mm.rss.swap;
    w.rmap_add(f->pfn, 1);
    w.ops->set_ptes(mm, addr, *ptep, pte, 1);
    if (swapped) {
        w.m.page(f->pfn).child_swap_slot = *slot;
    } else {
        unmap::swap_put(w, *slot);
        f->dirty = true;
    }
    w.ops->update_mmu_cache_range(&w.vma, addr, *ptep, 1);
    if (write && !write_handled && !uffd_wp && vm_write)
        return do_wp_page(w, addr, *ptep, w.ops->ptep_get(*ptep));
    return vm_fault::done;
}

} // namespace mmfuzz
