// khugepaged: mm/khugepaged.c collapse_huge_page(), to PMD order and to mTHP orders
// (SEMANTICS 4.2, with the seed 003 ordering for mTHP).
#include "core/flows.hpp"
#include "core/unmap.hpp"

#include <vector>

namespace mmfuzz {

namespace {

/// The scan's verdict on one source entry (hpage_collapse_scan_pmd() and
/// __collapse_huge_page_isolate()): none slots are filled with zeroes; a present entry must map
/// a normal page of an anonymous folio and not be uffd-wp; anything else stops the collapse.
bool collapsible(world &w, pte_t pte) {
    if (pte_none(pte))
        return true;
    if (!pte_valid(pte) || pte_special(pte) || pte_uffd_wp(pte))
        return false;
    const folio *f = w.m.pfn_folio(pte_pfn(pte));
    return f != nullptr && f->anon;
}

} // namespace

/// mm/khugepaged.c collapse_huge_page() over the 2^order pages around addr, order from 1 to the
/// PMD order, in a VMA that covers the whole PMD range. The scan (hpage_collapse_scan_pmd(),
/// __collapse_huge_page_isolate()) refuses pages a fork's child shares beyond
/// khugepaged_max_ptes_shared, and any for an mTHP, and for an mTHP a folio of that order or
/// larger. The new folio is allocated first (alloc_charge_folio()). Under the mmap write lock and
/// the anon_vma lock (implicit: one context runs at a time), with the PMD lock:
/// pmdp_collapse_flush() clears the PMD and flushes the PMD range, so the table is detached.
/// __collapse_huge_page_isolate() reads the source entries through the detached table (on
/// failure pmd_populate() puts the table back); __collapse_huge_page_copy() copies each page
/// (zeroes for none slots), clears the source entries under the PTE lock and drops their rmap
/// (a none slot counts as a new anon page).
/// PMD order: the emptied table is deposited, and the PMD maps the folio dirty, young and
/// writable if the VMA is (set_pmd_at(), update_mmu_cache_pmd()).
/// mTHP order (seed 003): under the PMD lock and, when it is a different lock, the PTE lock
/// taken nested, FIRST pmd_populate() reinstalls the table, THEN set_ptes() maps the new folio,
/// THEN update_mmu_cache_range(): an arch may walk the live hierarchy there (MIPS), so the table
/// must be reachable and its PTE lock held. The entry is map_anon_folio_pte_nopf()'s
/// (mm/memory.c): young, and dirty and writable only where the VMA is writable. The source A/D
/// bits are discarded.
/// Of the scan's policy, the model keeps what the mappings decide with khugepaged's defaults
/// (max_ptes_none 511: one present page is enough; max_ptes_shared 256) and leaves out two
/// heuristics: the referenced-page requirement (SCAN_LACK_REFERENCED_PAGE, which MADV_COLLAPSE
/// does not apply either) and the swap-in of up to max_ptes_swap swap entries
/// (__collapse_huge_page_swapin()): a swap entry in the range refuses the collapse here.
bool collapse_huge_page(world &w, std::uint64_t addr, unsigned order) {
    const geometry &g = w.geo();
    if (order < 2 || order > g.pmd_order()) // THP_ORDERS_ALL_ANON: no order-1 anon folio
        return false;
    const std::uint64_t nr = std::uint64_t{1} << order;
    const std::uint64_t start = addr & ~((nr << g.page_shift) - 1);
    const std::uint64_t haddr = start & ~(g.pmd_size() - 1);
    const bool pmd_order = order == g.pmd_order();
    mm_struct *mm = &w.m.mm;
    const hw_pmdp pmdp = w.m.pmd_off(start);
    const auto first = w.m.pte_offset_map(pmdp, start); // find_pmd_or_thp_or_none(): a table
    // hugepage_vma_revalidate(): the whole PMD range lies in the VMA, whatever the order
    // ("Always check the PMD order here").
    if (!first || !w.one_vma(haddr, g.ptrs_per_pte()))
        return false;

    // hpage_collapse_scan_pmd(): at least one present page, and nothing that cannot collapse.
    {
        const spinlock_t ptl = w.ptl(start);
        w.m.spin_lock(ptl);
        bool any = false;
        bool ok = true;
        // Entries of folios a fork's child shares: none for an mTHP, at most
        // khugepaged_max_ptes_shared (HPAGE_PMD_NR / 2) for a THP (SCAN_EXCEED_SHARED_PTE).
        std::uint64_t shared = 0;
        const folio *last = nullptr;
        bool last_shared = false;
        for (std::uint64_t i = 0; i < nr && ok; ++i) {
            const pte_t pte = w.ops->ptep_get(hw_pte_add(*first, static_cast<std::ptrdiff_t>(i)));
            ok = collapsible(w, pte);
            any = any || pte_present(pte);
            if (!ok || !pte_present(pte))
                continue;
            if (const folio *f = w.m.pfn_folio(pte_pfn(pte)); f != last) {
                last = f;
                last_shared = unmap::maybe_mapped_shared(w, *f);
                // SCAN_PTE_MAPPED_HUGEPAGE: an mTHP collapse of a folio already that large.
                ok = pmd_order || f->order < order;
            }
            if (last_shared)
                ok = pmd_order && ++shared <= g.ptrs_per_pte() / 2;
        }
        w.m.spin_unlock(ptl);
        if (!ok || !any)
            return false;
    }
    folio *nf = w.m.folio_alloc(order, true);
    if (nf == nullptr)
        return false; // SCAN_ALLOC_HUGE_PAGE_FAIL

    const spinlock_t pmd_ptl = w.m.pmd_lockptr();
    w.m.spin_lock(pmd_ptl);
    const pmd_t _pmd = w.ops->pmdp_collapse_flush(&w.vma, haddr, pmdp);
    w.m.spin_unlock(pmd_ptl);
    const pgtable_t table = w.m.pmd_pgtable(_pmd);
    const spinlock_t pte_ptl = w.m.pte_lockptr(table);
    const staged_ptep src = w.m.pte_offset_staged(table, start);
    const auto src_at = [&](std::uint64_t i) {
        return staged_pte_add(src, static_cast<std::ptrdiff_t>(i));
    };

    // __collapse_huge_page_isolate(): the entries, through the detached table.
    std::vector<pte_t> orig(nr);
    w.m.spin_lock(pte_ptl);
    for (std::uint64_t i = 0; i < nr; ++i)
        orig[i] = w.ops->ptep_get(src_at(i));
    w.m.spin_unlock(pte_ptl);

    // __collapse_huge_page_copy() and __collapse_huge_page_copy_succeeded().
    for (std::uint64_t i = 0; i < nr; ++i) {
        const pte_t pte = orig[i];
        w.m.page(nf->pfn + i).content = pte_present(pte) ? w.m.page(pte_pfn(pte)).content : 0;
        if (!pte_present(pte)) {
            w.rmap_add(nf->pfn + i, 1); // add_mm_counter(MM_ANONPAGES, 1), the new page's rmap
            continue;
        }
        w.m.spin_lock(pte_ptl);
        w.ops->set_ptes(mm, start + i * g.page_size(), src_at(i), pte_t{0}, 1); // ptep_clear()
        w.m.spin_unlock(pte_ptl);
        w.rmap_remove(pte_pfn(pte), 1); // folio_remove_rmap_ptes()
        w.rmap_add(nf->pfn + i, 1);
    }

    w.m.spin_lock(pmd_ptl);
    if (pmd_order) {
        pmd_t entry = pmd_mkdirty(mk_huge_pmd(nf->pfn, w.vm_page_prot(start)));
        if ((w.vm_flags_at(start) & VM_WRITE) != 0)
            entry = pmd_mkwrite_novma(entry); // maybe_pmd_mkwrite()
        w.ops->pgtable_trans_huge_deposit(mm, pmdp, table);
        w.ops->set_pmd_at(mm, haddr, pmdp, entry);
        w.ops->update_mmu_cache_pmd(&w.vma, haddr, pmdp);
    } else {
        pte_t entry = pfn_pte(nf->pfn, w.vm_page_prot(start));
        if ((w.vm_flags_at(start) & VM_WRITE) != 0)
            entry = pte_mkwrite_novma(pte_mkdirty(entry));
        if (pte_ptl != pmd_ptl)
            w.m.spin_lock_nested(pte_ptl, 1); // SINGLE_DEPTH_NESTING
        if (w.canaries.on(canary::collapse_mmu_update_early)) {
            // Canary (seed 003, the first version of the mTHP patch): map the folio in the
            // detached table and update the MMU cache through the entry pointer taken before the
            // collapse, then reinstall the table; an arch that walks the live hierarchy there
            // finds no table.
            w.ops->set_ptes(mm, start, src, entry, static_cast<unsigned>(nr));
            w.ops->update_mmu_cache_range(&w.vma, start, *first, static_cast<unsigned>(nr));
            w.ops->pmd_populate(mm, pmdp, table);
        } else {
            w.ops->pmd_populate(mm, pmdp, table);
            const hw_ptep pte = *w.m.pte_offset_map(pmdp, start);
            w.ops->set_ptes(mm, start, pte, entry, static_cast<unsigned>(nr));
            w.ops->update_mmu_cache_range(&w.vma, start, pte, static_cast<unsigned>(nr));
        }
        if (pte_ptl != pmd_ptl)
            w.m.spin_unlock(pte_ptl);
    }
    w.m.spin_unlock(pmd_ptl);
    w.folios.push_back(nf);
    return true;
}

} // namespace mmfuzz
