// Aging: mm/rmap.c folio_referenced() and folio_referenced_one().
#include "core/flows.hpp"
#include "core/pte_walk.hpp"

namespace mmfuzz {

/// folio_referenced_one(): for a PMD-mapped THP pmdp_clear_flush_young_notify(); for PTEs,
/// clear_flush_young_ptes_notify() over each folio batch the rmap walk finds, under its PTL.
bool folio_referenced(world &w, std::uint64_t addr) {
    const hw_pmdp pmdp = w.m.pmd_off(addr);
    if (pmd_leaf(w.ops->pmdp_get(pmdp))) {
        const std::uint64_t haddr = w.geo().pmd_align_down(addr);
        w.m.spin_lock(w.m.pmd_lockptr());
        const bool young = w.ops->pmdp_test_and_clear_young(&w.vma, haddr, pmdp);
        if (young)
            w.m.flush_pmd_tlb_range(haddr, haddr + w.geo().pmd_size());
        w.m.spin_unlock(w.m.pmd_lockptr());
        return young;
    }
    bool referenced = false;
    for (const pte_run &r : folio_mapped_runs(w, addr)) {
        if (w.canaries.on(canary::referenced_without_ptl)) {
            if (w.ops->clear_flush_young_ptes(&w.vma, r.addr, w.pte_lookup(r.addr).value(), r.nr))
                referenced = true;
            continue;
        }
        const pte_locked pte(w, r.addr);
        if (w.ops->clear_flush_young_ptes(&w.vma, r.addr, *pte, r.nr))
            referenced = true;
    }
    return referenced;
}

} // namespace mmfuzz
