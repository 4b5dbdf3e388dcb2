// fork(): kernel/fork.c dup_mmap() -> mm/memory.c copy_page_range(), the parent's side.
#include "core/flows.hpp"
#include "core/pte_walk.hpp"
#include "core/unmap.hpp"
#include "pgtable/softleaf.hpp"

namespace mmfuzz {

namespace {

/// The parent's entry rebuilt as `readable`, with only its uffd-wp bit carried over, as
/// copy_nonpresent_pte() does for writable migration and device-private entries.
void make_parent_readable(world &w, std::uint64_t addr, hw_ptep ptep, pte_t orig,
                          softleaf_t readable) {
    pte_t pte = softleaf_to_pte(readable);
    if (pte_swp_uffd_wp(orig))
        pte = pte_swp_mkuffd_wp(pte);
    w.ops->set_pte_at(&w.m.mm, addr, ptep, pte);
}

/// copy_nonpresent_pte(), the parent's entry: a swap entry becomes shared
/// (pte_swp_clear_exclusive()) and the child's copy counts on its slot (swap_duplicate()); a
/// migration entry that is not plain readable becomes readable, as copy-on-write needs both
/// sides read-only, uffd-wp kept; so does a writable device-private entry, and the child's
/// copy holds the device page (folio_try_dup_anon_rmap_pte()). Markers and hwpoison entries go
/// to the child only.
void copy_nonpresent_pte(world &w, std::uint64_t addr, hw_ptep ptep, pte_t orig) {
    const softleaf_t e = softleaf_from_pte(orig);
    if (softleaf_is_device_private(e)) {
        if (softleaf_is_device_private_write(e))
            make_parent_readable(w, addr, ptep, orig,
                                 make_readable_device_private_entry(softleaf_to_pfn(e)));
        w.m.child_map_device(softleaf_to_pfn(e));
        return;
    }
    if (softleaf_is_swap(e)) {
        if (const auto slot = unmap::core_swap_slot(w, e))
            ++w.swap_slots[*slot].child_refs;
        if (pte_swp_exclusive(orig) && !w.canaries.on(canary::fork_keeps_swp_exclusive))
            w.ops->set_pte_at(&w.m.mm, addr, ptep, pte_swp_clear_exclusive(orig));
        return;
    }
    if (softleaf_is_migration(e) && !softleaf_is_migration_read(e))
        make_parent_readable(w, addr, ptep, orig, swp_entry(SWP_MIGRATION_READ, swp_offset(e)));
}

/// copy_present_ptes() and __copy_present_ptes() for the batch at ptep: entries of one large
/// folio batch with the dirty bit respected (FPB_RESPECT_DIRTY: the child copies it) and the
/// write bit merged (FPB_MERGE_WRITE). If any entry of the batch is writable, the parent's
/// entries are write-protected together (wrprotect_ptes()); the child maps the batch old and
/// read-only, without uffd-wp (its VMA has none registered). Returns the batch's length.
unsigned copy_present_ptes(world &w, std::uint64_t addr, hw_ptep ptep, pte_t pte, unsigned max) {
    const folio *f = w.vm_normal_folio(pte);
    const unsigned nr = f != nullptr && f->order > 0 && max != 1
                            ? folio_pte_batch(w, ptep, pte, max, FPB_RESPECT_DIRTY)
                            : 1;
    bool any_writable = pte_write(pte);
    if (!w.canaries.on(canary::fork_write_bit_from_first))
        for (unsigned i = 1; i < nr && !any_writable; ++i)
            any_writable = pte_write(w.ops->ptep_get(hw_pte_add(ptep, i)));
    // is_cow_mapping(): the window is a private mapping that may write (VM_MAYWRITE).
    if (any_writable) {
        w.ops->wrprotect_ptes(&w.m.mm, addr, ptep, nr);
        pte = pte_wrprotect(pte);
    }
    w.child_map(pte_clear_uffd_wp(pte_mkold(pte)), nr);
    return nr;
}

/// copy_pte_range() over the table mapping start, under its PTL. dup_mmap() copies one VMA at
/// a time, so a batch ends where the pages' flags change (a VMA ends there).
void copy_pte_range(world &w, std::uint64_t start) {
    const std::uint64_t ps = w.geo().page_size();
    const auto per = static_cast<unsigned>(w.geo().ptrs_per_pte());
    const pte_locked first(w, start);
    unsigned vma_end = 0; ///< the end of the run of equal flags entry i lies in
    for (unsigned i = 0; i < per;) {
        const std::uint64_t addr = start + i * ps;
        const hw_ptep ptep = hw_pte_add(*first, i);
        const pte_t pte = w.ops->ptep_get(ptep);
        if (pte_none(pte)) {
            ++i;
        } else if (!pte_present(pte)) {
            copy_nonpresent_pte(w, addr, ptep, pte);
            ++i;
        } else {
            if (i >= vma_end) {
                const vm_flags_t flags = w.vm_flags_at(addr);
                vma_end = i + 1;
                while (vma_end < per && w.vm_flags_at(start + vma_end * ps) == flags)
                    ++vma_end;
            }
            i += copy_present_ptes(w, addr, ptep, pte, vma_end - i);
        }
    }
}

/// mm/huge_memory.c copy_huge_pmd() for a PMD-mapped anonymous THP: the parent's PMD is
/// write-protected whatever its write bit (pmdp_set_wrprotect()), and the child maps the folio
/// old and read-only (folio_try_dup_anon_rmap_pmd(), set_pmd_at() in the child).
void copy_huge_pmd(world &w, std::uint64_t haddr) {
    const hw_pmdp pmdp = w.m.pmd_off(haddr);
    const spinlock_t ptl = w.m.pmd_lockptr();
    w.m.spin_lock(ptl);
    const pmd_t pmd = w.ops->pmdp_get(pmdp);
    w.ops->pmdp_set_wrprotect(&w.m.mm, haddr, pmdp);
    w.child_map(pte_clear_uffd_wp(pte_mkold(pte_wrprotect(pmd_pte(pmd)))), w.geo().ptrs_per_pte());
    w.m.spin_unlock(ptl);
}

} // namespace

void copy_page_range(world &w) {
    const std::uint64_t pmd_size = w.geo().pmd_size();
    for (std::uint64_t a = w.m.window_start(); a < w.page_va(w.nr_pages()); a += pmd_size) {
        const pmd_t pmd = w.ops->pmdp_get(w.m.pmd_off(a));
        if (pmd_trans_huge(pmd))
            copy_huge_pmd(w, a);
        else if (pmd_table(pmd))
            copy_pte_range(w, a);
    }
    // dup_mmap(): the parent's write-protected entries may still be writable in the TLB.
    w.m.flush_tlb_mm();
}

} // namespace mmfuzz
