// Aging: mm/rmap.c folio_referenced() and folio_referenced_one().
#include "core/flows.hpp"
#include "core/pte_walk.hpp"

#include <optional>

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
        std::optional<pte_locked> pte;
        if (!w.canaries.on(canary::referenced_without_ptl))
            pte.emplace(w, r.addr);
        const hw_ptep ptep = pte ? **pte : w.pte_lookup(r.addr).value();
        if (w.ops->clear_flush_young_ptes(&w.vma, r.addr, ptep, r.nr))
            referenced = true;
    }
    return referenced;
}

} // namespace mmfuzz
