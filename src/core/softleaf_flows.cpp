// Markers and the uffd-wp bit: mm/madvise.c MADV_GUARD_INSTALL / MADV_GUARD_REMOVE and
// mm/userfaultfd.c mwriteprotect_range() -> mm/mprotect.c change_pte_range().
#include "core/flows.hpp"
#include "core/pte_walk.hpp"
#include "core/unmap.hpp"
#include "machine/tlb.hpp"

namespace mmfuzz {

namespace {

hw_ptep at(hw_ptep first, std::uint64_t i) {
    return hw_pte_add(first, static_cast<std::ptrdiff_t>(i));
}

} // namespace

/// mm/madvise.c madvise_guard_install(): zap the range first (zap_page_range_single(), which
/// reclaims no table), then walk it and set a PTE_MARKER_GUARD marker in every none entry
/// (guard_install_set_pte(), set_pte_at(); the walk allocates the table). Entries a zap keeps
/// (guard markers) stay as they are.
void madvise_guard_install(world &w, std::uint64_t addr, std::uint64_t nr) {
    const auto first = w.pte_alloc_map(addr);
    if (!first)
        return;
    zap_page_range(w, addr, nr, false);
    const unmap::ptl_scope ptl(w, addr);
    const pte_t marker = softleaf_to_pte(make_pte_marker_entry(PTE_MARKER_GUARD));
    for (std::uint64_t i = 0; i < nr; ++i) {
        const hw_ptep p = at(*first, i);
        if (pte_none(w.ops->ptep_get(p)))
            w.ops->set_pte_at(&w.m.mm, addr + (i << w.geo().page_shift), p, marker);
    }
}

/// mm/madvise.c madvise_guard_remove(): guard_remove_pte_entry() clears every guard marker
/// (pte_clear_not_present_full(), then update_mmu_cache()); nothing else changes.
void madvise_guard_remove(world &w, std::uint64_t addr, std::uint64_t nr) {
    const auto first = w.pte_lookup(addr);
    if (!first)
        return;
    const unmap::ptl_scope ptl(w, addr);
    for (std::uint64_t i = 0; i < nr; ++i) {
        const hw_ptep p = at(*first, i);
        if (!softleaf_is_guard_marker(softleaf_from_pte(w.ops->ptep_get(p))))
            continue;
        const std::uint64_t va = addr + (i << w.geo().page_shift);
        w.ops->pte_clear(&w.m.mm, va, p);
        w.ops->update_mmu_cache_range(&w.vma, va, p, 1);
    }
}

/// mm/userfaultfd.c mwriteprotect_range() -> change_protection() with MM_CP_UFFD_WP (enable)
/// or MM_CP_UFFD_WP_RESOLVE, mm/mprotect.c change_pte_range():
/// - present entries, a folio batch at a time (mprotect_folio_pte_batch(), the write bit
///   respected): modify_prot_start_ptes(), pte_mkuffd_wp() (which write-protects) or
///   pte_clear_uffd_wp(), modify_prot_commit_ptes(). Resolving in a writable private VMA asks
///   for writable entries (MM_CP_TRY_CHANGE_WRITABLE, vma_wants_manual_pte_write_upgrade()):
///   an exclusive anon batch becomes writable again (can_change_pte_writable()). The kernel
///   applies vm_page_prot (pte_modify()); here only a NUMA hint (PROT_NONE in an accessible
///   VMA) takes it, which ends the hint, and other entries keep their protection, as direct
///   ops may have given one the VMA does not;
/// - software leaves: a write migration entry becomes read(-exclusive for anon), a write
///   device-private entry read, then pte_swp_mkuffd_wp() / pte_swp_clear_uffd_wp(); poison and
///   guard markers are skipped, a uffd-wp marker is dropped on resolve;
/// - none entries: left none. The kernel installs uffd-wp markers there only where
///   userfaultfd_wp_use_markers() (shmem/hugetlb, or UFFD_FEATURE_WP_UNPOPULATED), not for
///   this anonymous VMA.
/// Then the range flush. A PMD leaf (change_pmd_range()) the range covers whole goes through
/// change_huge_pmd() and its own gather; one it covers in part is split first.
void uffd_writeprotect(world &w, std::uint64_t addr, std::uint64_t nr, bool enable) {
    {
        mmu_gather tlb(w.m);
        const bool whole =
            change_pmd_range(w, tlb, addr, nr, !enable && (w.vm_flags_at(addr) & VM_WRITE) != 0,
                             enable ? prot_change::uffd_wp : prot_change::uffd_wp_resolve);
        tlb.finish_mmu();
        if (whole)
            return;
    }
    const auto first = w.pte_lookup(addr);
    if (!first)
        return;
    mm_struct *mm = &w.m.mm;
    {
        const unmap::ptl_scope ptl(w, addr);
        for (std::uint64_t i = 0; i < nr; ++i) {
            const hw_ptep p = at(*first, i);
            const std::uint64_t va = addr + (i << w.geo().page_shift);
            const pte_t oldpte = w.ops->ptep_get(p);
            if (pte_none(oldpte))
                continue;
            if (pte_present(oldpte)) {
                const unsigned n =
                    folio_pte_batch(w, p, oldpte, static_cast<unsigned>(nr - i), FPB_RESPECT_WRITE);
                const pte_t old = w.ops->modify_prot_start_ptes(&w.vma, va, p, n);
                const pte_t prot = pte_protnone(old) ? pte_modify(old, w.vm_page_prot(va)) : old;
                commit_prot_batch(w, va, p, old,
                                  enable ? pte_mkuffd_wp(prot) : pte_clear_uffd_wp(prot), n,
                                  !enable && (w.vm_flags_at(va) & VM_WRITE) != 0);
                i += n - 1;
                continue;
            }
            softleaf_t e = softleaf_from_pte(oldpte);
            pte_t newpte = oldpte;
            if (softleaf_is_marker(e)) {
                if (softleaf_is_poison_marker(e) || softleaf_is_guard_marker(e))
                    continue;
                if (!enable)
                    w.ops->pte_clear(mm, va, p);
                continue;
            }
            if (softleaf_is_migration_write(e)) {
                const folio *f = w.m.pfn_folio(softleaf_to_pfn(e));
                // The offset keeps the young/dirty bits.
                e = swp_entry(f != nullptr && f->anon ? SWP_MIGRATION_READ_EXCLUSIVE
                                                      : SWP_MIGRATION_READ,
                              swp_offset(e));
                newpte = softleaf_to_pte(e);
                if (pte_swp_uffd_wp(oldpte))
                    newpte = pte_swp_mkuffd_wp(newpte);
            } else if (softleaf_is_device_private_write(e)) {
                newpte = softleaf_to_pte(make_readable_device_private_entry(softleaf_to_pfn(e)));
                if (pte_swp_uffd_wp(oldpte))
                    newpte = pte_swp_mkuffd_wp(newpte);
            }
            newpte = enable ? pte_swp_mkuffd_wp(newpte) : pte_swp_clear_uffd_wp(newpte);
            if (newpte != oldpte)
                w.ops->set_pte_at(mm, va, p, newpte);
        }
    }
    w.m.flush_tlb_range(addr, addr + (nr << w.geo().page_shift));
}

} // namespace mmfuzz
