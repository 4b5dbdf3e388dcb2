// PMD-mapped THPs and large folios: mm/huge_memory.c. The THP fault with its deposited table,
// the split of a PMD into a table of PTEs (SEMANTICS 4.1), the zap of a PMD mapping, and the
// split of a large folio into smaller ones through migration entries.
#include "core/flows.hpp"
#include "core/unmap.hpp"

#include "pgtable/softleaf.hpp"

#include <optional>
#include <vector>

namespace mmfuzz {

namespace {

std::uint64_t pmd_align_down(const world &w, std::uint64_t addr) {
    return addr & ~(w.geo().pmd_size() - 1);
}

/// The PTE a split gives every page of a present PMD leaf at haddr (__split_huge_pmd_locked()):
/// mk_pte() with the VMA's vm_page_prot, then write, young, dirty and uffd-wp as the PMD had
/// them. A NUMA hint (PROT_NONE in an accessible VMA) is not carried over.
pte_t pte_from_pmd(const world &w, std::uint64_t haddr, pmd_t pmd, bool dirty) {
    pte_t entry = pfn_pte(pmd_pfn(pmd), w.vm_page_prot(haddr));
    if (pmd_write(pmd))
        entry = pte_mkwrite_novma(entry);
    if (!pmd_young(pmd))
        entry = pte_mkold(entry);
    if (dirty)
        entry = pte_mkdirty(entry);
    if (pmd_uffd_wp(pmd))
        entry = pte_mkuffd_wp(entry);
    return entry;
}

/// The migration or device-private entry of page i of a non-present PMD leaf.
pte_t split_softleaf(pmd_t pmd, std::uint64_t i) {
    const softleaf_t e = softleaf_from_pmd(pmd);
    const pfn_t pfn = softleaf_to_pfn(e) + i;
    softleaf_t sub;
    if (softleaf_is_migration(e)) {
        sub = softleaf_is_migration_write(e) ? make_writable_migration_entry(pfn)
              : softleaf_is_migration_read_exclusive(e)
                  ? make_readable_exclusive_migration_entry(pfn)
                  : make_readable_migration_entry(pfn);
        if (softleaf_is_migration_young(e))
            sub = make_migration_entry_young(sub);
        if (softleaf_is_migration_dirty(e))
            sub = make_migration_entry_dirty(sub);
    } else {
        sub = softleaf_is_device_private_write(e) ? make_writable_device_private_entry(pfn)
                                                  : make_readable_device_private_entry(pfn);
    }
    pte_t pte = softleaf_to_pte(sub);
    if (pte_swp_uffd_wp(pmd_pte(pmd)))
        pte = pte_swp_mkuffd_wp(pte);
    return pte;
}

/// mm/huge_memory.c __pmd_trans_huge_lock(): the PMD lock, taken and returned held when the PMD
/// maps a THP or holds a PMD-level software leaf (is_swap_pmd(), a migration entry), dropped
/// again otherwise (nullopt). `cur` is the PMD as read under the lock.
std::optional<spinlock_t> pmd_trans_huge_lock(world &w, hw_pmdp pmdp, pmd_t &cur, bool &softleaf) {
    const spinlock_t ptl = w.m.pmd_lockptr();
    w.m.spin_lock(ptl);
    cur = w.ops->pmdp_get(pmdp);
    softleaf = !pmd_none(cur) && !pmd_present(cur) && pmd_is_valid_softleaf(cur);
    if (pmd_trans_huge(cur) || softleaf)
        return ptl;
    w.m.spin_unlock(ptl);
    return std::nullopt;
}

} // namespace

/// mm/huge_memory.c do_huge_pmd_anonymous_page() and map_anon_folio_pmd(): the table that a
/// later split needs is allocated up front (pte_alloc_one()) and deposited; the zeroed folio is
/// mapped with a dirty, young PMD, writable if the VMA is, under the PMD lock. Read faults take
/// the same path (the huge zero page is not modelled: use_zero_page = 0).
vm_fault do_huge_pmd_anonymous_page(world &w, std::uint64_t addr, bool /*write*/) {
    const std::uint64_t haddr = pmd_align_down(w, addr);
    // thp_vma_allowable_order(): an anonymous VMA covering the whole PMD range.
    if (!w.vma.anon || haddr < w.vma.vm_start || haddr + w.geo().pmd_size() > w.vma.vm_end ||
        !w.one_vma(haddr, w.geo().ptrs_per_pte()))
        return vm_fault::fallback;
    const hw_pmdp pmdp = w.m.pmd_off(haddr);
    if (!pmd_none(w.ops->pmdp_get(pmdp)))
        return vm_fault::fallback;
    folio *f = w.m.folio_alloc(w.geo().pmd_order(), true);
    if (f == nullptr)
        return vm_fault::fallback; // THP_FAULT_FALLBACK: the caller maps small pages
    for (std::uint64_t i = 0; i < f->nr_pages(); ++i)
        w.m.page(f->pfn + i).content = 0; // folio_zero_user()
    const pgtable_t pgtable = w.m.pte_alloc_one();

    mm_struct *mm = &w.m.mm;
    const spinlock_t ptl = w.m.pmd_lockptr();
    w.m.spin_lock(ptl);
    pmd_t entry = pmd_mkdirty(mk_huge_pmd(f->pfn, w.vm_page_prot(haddr)));
    if ((w.vm_flags_at(haddr) & VM_WRITE) != 0)
        entry = pmd_mkwrite_novma(entry); // maybe_pmd_mkwrite()
    w.ops->pgtable_trans_huge_deposit(mm, pmdp, pgtable);
    w.ops->set_pmd_at(mm, haddr, pmdp, entry);
    w.ops->update_mmu_cache_pmd(&w.vma, haddr, pmdp);
    w.rmap_add(f->pfn, f->nr_pages()); // folio_add_new_anon_rmap(), add_mm_counter()
    w.m.spin_unlock(ptl);
    w.folios.push_back(f);
    return vm_fault::done;
}

/// mm/huge_memory.c __split_huge_pmd() -> __split_huge_pmd_locked() (SEMANTICS 4.1). A present
/// PMD is invalidated first (pmdp_invalidate() flushes the PMD range); write, young, dirty and
/// uffd-wp come from the old PMD, and dirty marks the folio dirty. The deposited table is
/// withdrawn and filled while hardware cannot reach it, with one set_ptes() over all
/// PTRS_PER_PTE entries; a migration (or device-private) PMD becomes PTRS_PER_PTE migration
/// (device-private) entries, one set_pte_at() each. smp_wmb(), then pmd_populate() publishes
/// the table (invalid -> table: no break-before-make needed). The page mapcounts and RSS do
/// not change: the same pages stay mapped, by PTEs now.
void split_huge_pmd(world &w, std::uint64_t addr) {
    const std::uint64_t haddr = pmd_align_down(w, addr);
    const hw_pmdp pmdp = w.m.pmd_off(haddr);
    mm_struct *mm = &w.m.mm;
    pmd_t cur;
    bool softleaf = false;
    const auto ptl = pmd_trans_huge_lock(w, pmdp, cur, softleaf);
    if (!ptl)
        return;
    const std::uint64_t nr = w.geo().ptrs_per_pte();
    const pmd_t old_pmd = softleaf ? cur : w.ops->pmdp_invalidate(&w.vma, haddr, pmdp);
    bool dirty = false;
    if (!softleaf) {
        // Canary: the split forgets the PMD's dirty bit, for the PTEs and the folio.
        dirty = pmd_dirty(old_pmd) && !w.canaries.on(canary::split_drops_dirty);
        if (dirty)
            if (folio *f = w.m.pfn_folio(pmd_pfn(old_pmd)))
                f->dirty = true; // folio_set_dirty()
    }
    const pgtable_t pgtable = w.ops->pgtable_trans_huge_withdraw(mm, pmdp);
    // Canary: the table is published before it is filled, so hardware can walk it half-made
    // (and the fill still goes through the staged handle of a now live table).
    const bool early = w.canaries.on(canary::split_publishes_early);
    if (early)
        w.ops->pmd_populate(mm, pmdp, pgtable);
    const staged_ptep pte = w.m.pte_offset_staged(pgtable, haddr);
    if (softleaf) {
        for (std::uint64_t i = 0; i < nr; ++i)
            w.ops->set_ptes(mm, haddr + i * w.geo().page_size(),
                            staged_pte_add(pte, static_cast<std::ptrdiff_t>(i)),
                            split_softleaf(old_pmd, i), 1);
    } else {
        w.ops->set_ptes(mm, haddr, pte, pte_from_pmd(w, haddr, old_pmd, dirty),
                        static_cast<unsigned>(nr));
    }
    if (!early)
        w.ops->pmd_populate(mm, pmdp, pgtable); // after smp_wmb(): the filled table goes live
    w.m.spin_unlock(*ptl);
}

/// mm/huge_memory.c zap_huge_pmd(): pmdp_huge_get_and_clear_full(), the PMD range recorded in
/// the mmu_gather, zap_deposited_table() (withdraw and free the deposited table), and for a
/// present PMD the dirty/young bits handed to the folio, folio_remove_rmap_pmd() and the RSS.
void zap_huge_pmd(world &w, mmu_gather &tlb, std::uint64_t addr) {
    const std::uint64_t haddr = pmd_align_down(w, addr);
    const hw_pmdp pmdp = w.m.pmd_off(haddr);
    mm_struct *mm = &w.m.mm;
    pmd_t cur;
    bool softleaf = false;
    const auto ptl = pmd_trans_huge_lock(w, pmdp, cur, softleaf);
    if (!ptl)
        return;
    const pmd_t orig = w.ops->pmdp_huge_get_and_clear(mm, haddr, pmdp);
    // Canary: the PMD recorded as the PTEs it mapped, so the flush is hinted at the PTE level.
    if (w.canaries.on(canary::zap_huge_pmd_pte_level))
        tlb.remove_tlb_entries(haddr, static_cast<unsigned>(w.geo().ptrs_per_pte()));
    else
        tlb.remove_pmd_tlb_entry(haddr);
    w.m.pte_free(w.ops->pgtable_trans_huge_withdraw(mm, pmdp));
    if (!softleaf) {
        if (folio *f = w.m.pfn_folio(pmd_pfn(orig))) {
            // zap_huge_pmd_folio(): a file folio takes the PMD's dirty and young; an
            // anonymous one need not.
            if (!f->anon && pmd_dirty(orig))
                f->dirty = true; // folio_mark_dirty()
            if (!f->anon && pmd_young(orig))
                f->referenced = true; // folio_mark_accessed()
            w.rmap_remove(f->pfn, f->nr_pages());
        }
    }
    w.m.spin_unlock(*ptl);
}

namespace {

/// mm/huge_memory.c can_change_pmd_writable() in this private anonymous VMA (the caller checks
/// VM_WRITE): not PROT_NONE, not uffd-wp, and an exclusive anonymous folio.
bool can_change_pmd_writable(world &w, pmd_t pmd) {
    if (pmd_protnone(pmd) || pmd_uffd_wp(pmd))
        return false;
    return w.page_anon_exclusive(pmd_pfn(pmd));
}

} // namespace

/// mm/huge_memory.c do_huge_pmd_wp_page(): a write fault on a read-only PMD leaf in a writable
/// VMA. A uffd-wp PMD goes to the monitor (handle_userfault()). An exclusive anonymous THP is
/// reused: young, dirty and writable through pmdp_set_access_flags(), then
/// update_mmu_cache_pmd(). One a fork's child shares is split (__split_huge_pmd()) and the
/// fault falls back to the PTE level, where do_wp_page() copies the one page.
vm_fault do_huge_pmd_wp_page(world &w, std::uint64_t addr) {
    const std::uint64_t haddr = pmd_align_down(w, addr);
    const hw_pmdp pmdp = w.m.pmd_off(haddr);
    const spinlock_t ptl = w.m.pmd_lockptr();
    w.m.spin_lock(ptl);
    const pmd_t orig = w.ops->pmdp_get(pmdp);
    if (!pmd_trans_huge(orig) || pmd_write(orig) || pmd_uffd_wp(orig)) {
        w.m.spin_unlock(ptl);
        return vm_fault::nopage;
    }
    if (can_change_pmd_writable(w, orig)) {
        const pmd_t entry = pmd_mkwrite_novma(pmd_mkdirty(pmd_mkyoung(orig)));
        if (w.ops->pmdp_set_access_flags(&w.vma, haddr, pmdp, entry, 1) != 0)
            w.ops->update_mmu_cache_pmd(&w.vma, haddr, pmdp);
        w.m.spin_unlock(ptl);
        return vm_fault::done;
    }
    w.m.spin_unlock(ptl);
    split_huge_pmd(w, haddr);
    return vm_fault::fallback;
}

vm_fault huge_pmd_set_accessed(world &w, std::uint64_t addr, pmd_t orig, bool write) {
    const std::uint64_t haddr = pmd_align_down(w, addr);
    const hw_pmdp pmdp = w.m.pmd_off(haddr);
    const spinlock_t ptl = w.m.pmd_lockptr();
    w.m.spin_lock(ptl);
    if (pmd_same(w.ops->pmdp_get(pmdp), orig) && !w.canaries.on(canary::thp_access_fault_ignored)) {
        pmd_t entry = pmd_mkyoung(orig);
        if (write)
            entry = pmd_mkdirty(entry);
        if (w.ops->pmdp_set_access_flags(&w.vma, haddr, pmdp, entry, write ? 1 : 0) != 0)
            w.ops->update_mmu_cache_pmd(&w.vma, addr, pmdp);
    }
    w.m.spin_unlock(ptl);
    return vm_fault::done;
}

/// mm/huge_memory.c change_huge_pmd() of a present PMD leaf, under the PMD lock. arm64 has no
/// pmdp_invalidate_ad(), so the generic one is pmdp_invalidate(): the PMD goes present-invalid
/// and its range is flushed before the new protection is written, which makes a change of
/// execute permission break-before-make. pmd_modify() keeps young, dirty and uffd-wp; with
/// MM_CP_TRY_CHANGE_WRITABLE an exclusive anonymous PMD becomes writable at once. arm64 has no
/// huge_pmd_needs_flush(), so the PMD range always goes into the gather. For a NUMA hint the
/// new protection is PAGE_NONE, and a PMD that is PROT_NONE already or whose folio
/// folio_can_map_prot_numa() refuses is left as it is (the huge zero page is not modelled).
/// UFFDIO_WRITEPROTECT sets uffd-wp with pmd_mkuffd_wp(), which write-protects, or clears it,
/// leaving the write bit to the fault unless MM_CP_TRY_CHANGE_WRITABLE upgrades it.
void change_huge_pmd(world &w, mmu_gather &tlb, std::uint64_t addr, bool try_writable,
                     prot_change how) {
    const bool prot_numa = how == prot_change::numa;
    const std::uint64_t haddr = pmd_align_down(w, addr);
    const hw_pmdp pmdp = w.m.pmd_off(haddr);
    const spinlock_t ptl = w.m.pmd_lockptr();
    w.m.spin_lock(ptl);
    const pmd_t cur = w.ops->pmdp_get(pmdp);
    if (!pmd_trans_huge(cur) ||
        (prot_numa &&
         (pmd_protnone(cur) || !folio_can_map_prot_numa(w, w.m.pfn_folio(pmd_pfn(cur)))))) {
        w.m.spin_unlock(ptl);
        return;
    }
    // Canary: the new protection written over the live PMD, without the invalidation.
    const pmd_t oldpmd = w.canaries.on(canary::change_huge_pmd_in_place)
                             ? cur
                             : w.ops->pmdp_invalidate(&w.vma, haddr, pmdp);
    pmd_t entry = pmd_modify(oldpmd, prot_numa ? PAGE_NONE : w.vm_page_prot(haddr));
    if (how == prot_change::uffd_wp)
        entry = pmd_mkuffd_wp(entry);
    else if (how == prot_change::uffd_wp_resolve)
        entry = pmd_clear_uffd_wp(entry);
    if (try_writable && !pmd_write(entry) && can_change_pmd_writable(w, entry))
        entry = pmd_mkwrite_novma(entry);
    w.ops->set_pmd_at(&w.m.mm, haddr, pmdp, entry);
    tlb.remove_pmd_tlb_entry(haddr);
    w.m.spin_unlock(ptl);
}

bool change_pmd_range(world &w, mmu_gather &tlb, std::uint64_t addr, std::uint64_t nr,
                      bool try_writable, prot_change how) {
    if (!pmd_trans_huge(w.ops->pmdp_get(w.m.pmd_off(addr))))
        return false;
    if (pmd_align_down(w, addr) == addr && nr == w.geo().ptrs_per_pte()) {
        change_huge_pmd(w, tlb, addr, try_writable, how);
        return true;
    }
    split_huge_pmd(w, addr);
    return false;
}

/// mm/huge_memory.c do_huge_pmd_numa_page(): nothing is migrated (numa_migrate_check() finds
/// no better node in the model), so out_map restores the PMD under its lock: pmd_modify() with
/// the VMA's protection, young, and writable where the VMA wants manual write upgrades (a
/// private writable one) and can_change_pmd_writable() allows it; set_pmd_at() from
/// present-invalid (no break-before-make), update_mmu_cache_pmd(). A PMD no longer `orig` is
/// left to the retried access.
vm_fault do_huge_pmd_numa_page(world &w, std::uint64_t addr, pmd_t orig) {
    const std::uint64_t haddr = pmd_align_down(w, addr);
    const hw_pmdp pmdp = w.m.pmd_off(haddr);
    const spinlock_t ptl = w.m.pmd_lockptr();
    w.m.spin_lock(ptl);
    if (!pmd_same(w.ops->pmdp_get(pmdp), orig)) {
        w.m.spin_unlock(ptl);
        return vm_fault::done;
    }
    pmd_t pmd = pmd_modify(orig, w.vm_page_prot(haddr));
    const bool writable = pmd_write(pmd) || ((w.vm_flags_at(haddr) & VM_WRITE) != 0 &&
                                             can_change_pmd_writable(w, pmd));
    pmd = pmd_mkyoung(pmd);
    if (writable)
        pmd = pmd_mkwrite_novma(pmd);
    w.ops->set_pmd_at(&w.m.mm, haddr, pmdp, pmd);
    w.ops->update_mmu_cache_pmd(&w.vma, addr, pmdp);
    w.m.spin_unlock(ptl);
    return vm_fault::done;
}

/// mm/huge_memory.c split_folio_to_order() -> __folio_split() for an anonymous, PTE-mapped
/// folio: unmap_folio() turns every mapping into a migration entry (try_to_migrate_one():
/// ptep_get_and_clear() plus the page flush of ptep_clear_flush(), the entry of
/// unmap::migration_pte(), read-exclusive for an exclusive page, and the dirt into the folio),
/// the folio is split into folios of 2^new_order (__split_folio_to_order()), and remap_page()
/// maps each page again from its migration entry (remove_migration_pte(): young from the
/// entry, dirty if entry and folio are dirty, write if the entry is writable, else uffd-wp
/// kept), one set_pte_at() and update_mmu_cache() each. The model's VMA has no per-mapping
/// protection, so each page is remapped with the protection its entry had. False (nothing
/// changed) if the folio cannot be split.
bool split_folio(world &w, std::uint64_t addr, unsigned new_order) {
    const auto at = w.pte_lookup(addr);
    if (!at)
        return false;
    pte_t first;
    {
        const spinlock_t ptl = w.ptl(addr);
        w.m.spin_lock(ptl);
        first = w.ops->ptep_get(*at);
        w.m.spin_unlock(ptl);
    }
    if (!pte_present(first))
        return false;
    folio *f = w.m.pfn_folio(pte_pfn(first));
    // uniform_split_supported(): an anonymous folio is never split to order 1.
    if (f == nullptr || !f->anon || f->order == 0 || new_order >= f->order || new_order == 1)
        return false;

    // The rmap walk: every PTE that maps a page of the folio (special entries have no folio),
    // one table at a time under its PTL, as page_vma_mapped_walk() does. A batch of entries
    // that map consecutive pages of one folio (pte_batch_hint()) and none of this folio's is
    // passed over after its first entry.
    struct mapping {
        std::uint64_t va;
        pte_t old;
    };
    std::vector<mapping> maps;
    const std::uint64_t per = w.geo().ptrs_per_pte();
    for (std::uint64_t t = 0; t < w.m.options().window_pmds; ++t) {
        const std::uint64_t va0 = w.page_va(t * per);
        const auto base = w.pte_lookup(va0);
        if (!base)
            continue;
        const spinlock_t ptl = w.ptl(va0);
        w.m.spin_lock(ptl);
        for (std::uint64_t k = 0; k < per; ++k) {
            const hw_ptep p = hw_pte_add(*base, static_cast<std::ptrdiff_t>(k));
            const pte_t pte = w.ops->ptep_get(p);
            if (!pte_present(pte) || pte_special(pte))
                continue;
            if (f->contains(pte_pfn(pte))) {
                maps.push_back({va0 + k * w.geo().page_size(), pte});
                continue;
            }
            const unsigned batch = w.ops->pte_batch_hint(p, pte);
            if (pte_pfn(pte) + batch <= f->pfn || pte_pfn(pte) >= f->pfn + f->nr_pages())
                k += batch - 1;
        }
        w.m.spin_unlock(ptl);
    }

    mm_struct *mm = &w.m.mm;
    // unmap_folio(): try_to_migrate() over each mapping.
    for (mapping &mp : maps) {
        const hw_ptep p = *w.pte_lookup(mp.va);
        const spinlock_t ptl = w.ptl(mp.va);
        w.m.spin_lock(ptl);
        const pte_t pteval = w.ops->ptep_get_and_clear(mm, mp.va, p);
        if (pte_valid(pteval))
            w.m.flush_tlb_page(mp.va); // ptep_clear_flush(): pte_accessible()
        if (pte_dirty(pteval))
            f->dirty = true;
        const pfn_t pfn = pte_pfn(pteval);
        w.ops->set_pte_at(mm, mp.va, p, unmap::migration_pte(w, pfn, pteval));
        w.rmap_remove(pfn, 1); // folio_remove_rmap_pte()
        w.m.spin_unlock(ptl);
        mp.old = pteval;
    }

    const bool dirty = f->dirty;
    for (folio *tail : w.m.folio_split(f, new_order))
        w.folios.push_back(tail);

    // remap_page(): remove_migration_ptes() for every page.
    for (const mapping &mp : maps) {
        const hw_ptep p = *w.pte_lookup(mp.va);
        const spinlock_t ptl = w.ptl(mp.va);
        w.m.spin_lock(ptl);
        const pte_t old = w.ops->ptep_get(p);
        const softleaf_t e = softleaf_from_pte(old);
        pte_t pte = pte_mkold(pte_mkclean(pfn_pte(softleaf_to_pfn(e), pte_pgprot(mp.old))));
        pte = pte_wrprotect(pte);
        if (softleaf_is_migration_young(e))
            pte = pte_mkyoung(pte);
        if (dirty && softleaf_is_migration_dirty(e))
            pte = pte_mkdirty(pte);
        if (softleaf_is_migration_write(e))
            pte = pte_mkwrite_novma(pte);
        else if (pte_swp_uffd_wp(old))
            pte = pte_mkuffd_wp(pte);
        w.rmap_add(softleaf_to_pfn(e), 1); // folio_add_anon_rmap_pte()
        w.ops->set_pte_at(mm, mp.va, p, pte);
        w.ops->update_mmu_cache_range(&w.vma, mp.va, p, 1);
        w.m.spin_unlock(ptl);
    }
    return true;
}

} // namespace mmfuzz
