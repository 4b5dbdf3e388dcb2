// Migration and memory failure: mm/migrate.c, mm/migrate_device.c, mm/memory-failure.c, with
// mm/rmap.c try_to_migrate_one() / try_to_unmap_one() and remove_migration_pte().
#include "core/flows.hpp"
#include "core/unmap.hpp"

#include <utility>

namespace mmfuzz {

namespace {

/// Unmap one page to a migration entry: ptep_clear_flush(), the dirt to the folio, the
/// migration entry, folio_remove_rmap_pte().
void unmap_to_migration(world &w, folio &f, std::uint64_t addr, hw_ptep ptep, pfn_t pfn) {
    const pte_t pteval = w.ops->ptep_get_and_clear(&w.m.mm, addr, ptep);
    w.m.flush_tlb_page(addr);
    if (pte_dirty(pteval))
        f.dirty = true;
    w.ops->set_pte_at(&w.m.mm, addr, ptep, unmap::migration_pte(w, pfn, pteval));
    w.rmap_remove(pfn, 1);
}

/// remove_migration_pte(): the entry at ptep, if it is a migration entry for old_pfn, becomes a
/// present entry for new_pfn: prot from `prot` (vma->vm_page_prot), old unless the entry is
/// young, writable if it is a write entry, else uffd-wp if the swap pte was, dirty if the folio
/// and the entry are; then folio_add_anon_rmap_pte() and update_mmu_cache_range().
void remove_migration_pte(world &w, const folio &dst, std::uint64_t addr, hw_ptep ptep,
                          pfn_t old_pfn, pfn_t new_pfn, pgprot_t prot) {
    const pte_t old = w.ops->ptep_get(ptep);
    const softleaf_t e = softleaf_from_pte(old);
    if (!softleaf_is_migration(e) || softleaf_to_pfn(e) != old_pfn)
        return;
    pte_t pte = pte_mkyoung(pfn_pte(new_pfn, prot)); // vm_page_prot carries AF
    if (!softleaf_is_migration_young(e))
        pte = pte_mkold(pte);
    if (softleaf_is_migration_write(e))
        pte = pte_mkwrite_novma(pte);
    else if (pte_swp_uffd_wp(old))
        pte = pte_mkuffd_wp(pte);
    if (dst.dirty && softleaf_is_migration_dirty(e) &&
        !w.canaries.on(canary::migration_drops_dirty))
        pte = pte_mkdirty(pte);
    w.ops->set_ptes(&w.m.mm, addr, ptep, pte, 1);
    w.rmap_add(new_pfn, 1);
    w.ops->update_mmu_cache_range(&w.vma, addr, ptep, 1);
}

/// folio_copy() and folio_migrate_flags(): data, dirty and referenced to the new folio; and
/// __folio_migrate_mapping(): swap-backed only if the old one was, so a lazy-free (MADV_FREE)
/// folio stays lazy-free, and the swap cache's slot moves to the new folio.
void copy_folio(world &w, const folio &src, folio &dst) {
    const std::uint64_t pages =
        w.canaries.on(canary::migration_copies_head_only) ? 1 : src.nr_pages();
    for (std::uint64_t i = 0; i < pages; ++i)
        w.m.page(dst.pfn + i).content = w.m.page(src.pfn + i).content;
    for (std::uint64_t i = 0; i < src.nr_pages(); ++i)
        w.m.page(dst.pfn + i).child_swap_slot =
            std::exchange(w.m.page(src.pfn + i).child_swap_slot, 0);
    dst.dirty = src.dirty;
    dst.referenced = src.referenced;
    dst.lazyfree = src.lazyfree;
}

} // namespace

/// mm/migrate.c migrate_pages() of the folio mapped at addr (PTE-mapped; a PMD mapping:
/// false): migrate_folio_unmap() allocates the destination first (no memory: false, nothing
/// touched), try_to_migrate() turns every mapping into a migration entry (per page, flushed),
/// move_to_new_folio() copies, remove_migration_ptes() maps the new folio from the entries, one
/// set_ptes() per entry. The rmap walks reach a fork() child's VMA too: its mappings move to
/// the new folio, which stays shared (read migration entries, no RMAP_EXCLUSIVE). Each
/// remapped entry keeps its own protection (the window's VMA has per-entry protections). The
/// old folio stays allocated (the program's folio table holds it); the new one is appended to
/// w.folios.
bool migrate_folio(world &w, std::uint64_t addr) {
    if (!w.pte_lookup(addr))
        return false;
    std::optional<unmap::folio_walk> fw;
    {
        const unmap::ptl_scope ptl(w, addr);
        fw = unmap::walk_folio(w, addr);
    }
    if (!fw || fw->pages.empty())
        return false;
    folio &src = *fw->f;
    folio *dst = w.m.folio_alloc(src.order, src.anon);
    if (dst == nullptr)
        return false;
    std::vector<pgprot_t> prots;
    {
        const unmap::ptl_scope ptl(w, fw->start);
        for (const unmap::mapped_page &p : fw->pages) {
            prots.push_back(unmap::base_prot(w.ops->ptep_get(p.ptep)));
            unmap_to_migration(w, src, p.addr, p.ptep, src.pfn + p.index);
        }
    }
    copy_folio(w, src, *dst);
    for (std::uint64_t i = 0; i < src.nr_pages(); ++i)
        w.child_move(src.pfn + i, dst->pfn + i);
    w.folios.push_back(dst);
    const unmap::ptl_scope ptl(w, fw->start);
    for (std::size_t k = 0; k < fw->pages.size(); ++k) {
        const unmap::mapped_page &p = fw->pages[k];
        remove_migration_pte(w, *dst, p.addr, p.ptep, src.pfn + p.index, dst->pfn + p.index,
                             prots[k]);
    }
    return true;
}

/// mm/migrate_device.c, one order-0 anonymous page. To the device (migrate_vma_setup(),
/// migrate_vma_pages(), migrate_vma_finalize()): the present entry becomes a migration entry
/// (migrate_vma_collect_pmd(): ptep_get_and_clear(), the flush, A/D and uffd-wp carried), the
/// driver's device-private page is allocated (none: the old mapping is restored from the
/// migration entry, false), the data copied, and the entry becomes a device-private entry,
/// writable if the migration entry was, uffd-wp kept (remove_migration_pte() for a device
/// page). Back to RAM (the device's migrate_to_ram() from do_swap_page()): the device-private
/// entry becomes a migration entry (write if the device entry was), a new page receives the
/// data, and the migration entry becomes a present entry from vma->vm_page_prot, old and clean
/// (a device entry carries no A/D), writable if the device entry was, else uffd-wp if it was.
/// A device page was mapped exclusive (remove_migration_pte() with RMAP_EXCLUSIVE), so a read
/// device entry comes back through a read-exclusive migration entry, unless a fork() child's
/// entry names the page too: then the entry is plain readable and the child's comes back with
/// it, to the same new page. Device-private entries are not counted in RSS or the page
/// mapcounts here (the model counts present and swap entries only), so the rmap moves out on
/// the way there and back in on return.
bool migrate_device(world &w, std::uint64_t addr, bool to_ram) {
    const auto ptep = w.pte_lookup(addr);
    if (!ptep)
        return false;
    mm_struct *mm = &w.m.mm;
    const unmap::ptl_scope ptl(w, addr);
    const pte_t orig = w.ops->ptep_get(*ptep);
    if (!to_ram) {
        if (!pte_present(orig) || pte_special(orig))
            return false;
        folio *src = w.m.pfn_folio(pte_pfn(orig));
        if (src == nullptr || src->order != 0 || !src->anon)
            return false;
        const pgprot_t prot = unmap::base_prot(orig);
        unmap_to_migration(w, *src, addr, *ptep, src->pfn);
        // migrate_vma_pages(): a folio in the swap cache moves only if folio_free_swap() drops
        // it there, which a fork() child's entry naming its slot prevents; migrate_vma_finalize()
        // restores the mapping, as it does when the driver has no page.
        folio *dev = w.m.page(src->pfn).child_swap_slot != 0 ? nullptr : w.m.folio_alloc(0, true);
        if (dev == nullptr) {
            remove_migration_pte(w, *src, addr, *ptep, src->pfn, src->pfn, prot);
            return false;
        }
        dev->device_private = true;
        copy_folio(w, *src, *dev);
        w.folios.push_back(dev);
        const pte_t mig = w.ops->ptep_get(*ptep);
        pte_t dev_pte = softleaf_to_pte(softleaf_is_migration_write(softleaf_from_pte(mig))
                                            ? make_writable_device_private_entry(dev->pfn)
                                            : make_readable_device_private_entry(dev->pfn));
        if (pte_swp_uffd_wp(mig))
            dev_pte = pte_swp_mkuffd_wp(dev_pte);
        w.ops->set_pte_at(mm, addr, *ptep, dev_pte);
        return true;
    }
    const softleaf_t e = softleaf_from_pte(orig);
    if (!softleaf_is_device_private(e))
        return false;
    folio *dev = w.m.pfn_folio(softleaf_to_pfn(e));
    if (dev == nullptr)
        return false;
    folio *f = w.m.folio_alloc(0, true);
    if (f == nullptr)
        return false;
    const pfn_t dev_pfn = softleaf_to_pfn(e);
    // migrate_vma_collect_pmd(): the device entry becomes a migration entry, exclusive unless
    // a fork() child's entry names the page too. The entry is not accessible, so clearing it
    // needs no flush (ptep_clear_flush() flushes only a pte_accessible() one).
    w.ops->ptep_get_and_clear(mm, addr, *ptep);
    const softleaf_t mig =
        softleaf_is_device_private_write(e) ? make_writable_migration_entry(dev_pfn)
        : w.page_anon_exclusive(dev_pfn)    ? make_readable_exclusive_migration_entry(dev_pfn)
                                            : make_readable_migration_entry(dev_pfn);
    pte_t mig_pte = softleaf_to_pte(mig);
    if (pte_swp_uffd_wp(orig))
        mig_pte = pte_swp_mkuffd_wp(mig_pte);
    w.ops->set_pte_at(mm, addr, *ptep, mig_pte);
    w.m.page(f->pfn).content = w.m.page(dev_pfn).content;
    f->dirty = dev->dirty;
    w.folios.push_back(f);
    // migrate_device_unmap() -> try_to_migrate() and remove_migration_ptes() take the child's
    // entries along: the child maps the new page, old and read-only.
    const int children = dev->device_private ? w.m.child_unmap(dev_pfn) : 0;
    for (int i = 0; i < children; ++i)
        w.child_map(pte_mkold(pfn_pte(f->pfn, w.vm_page_prot(addr))), 1);
    remove_migration_pte(w, *f, addr, *ptep, dev_pfn, f->pfn, w.vm_page_prot(addr));
    return true;
}

/// mm/memory-failure.c memory_failure() of the order-0 anonymous page mapped at addr:
/// hwpoison_user_mappings() -> try_to_unmap(TTU_HWPOISON): ptep_clear_flush(), the dirt to the
/// folio, a hwpoison entry (make_hwpoison_entry()) in place of the entry (and of a fork()
/// child's, so the child stops mapping the page), MM_ANONPAGES decremented with the rmap. The
/// page's data is lost by design. A large folio would be split first
/// (try_to_split_thp_page()): false here.
bool memory_failure(world &w, std::uint64_t addr) {
    const auto ptep = w.pte_lookup(addr);
    if (!ptep)
        return false;
    mm_struct *mm = &w.m.mm;
    const unmap::ptl_scope ptl(w, addr);
    const pte_t orig = w.ops->ptep_get(*ptep);
    if (!pte_present(orig) || pte_special(orig))
        return false;
    folio *f = w.m.pfn_folio(pte_pfn(orig));
    if (f == nullptr || f->order != 0 || !f->anon)
        return false;
    const pte_t pteval = w.ops->ptep_get_and_clear(mm, addr, *ptep);
    w.m.flush_tlb_page(addr);
    if (pte_dirty(pteval))
        f->dirty = true;
    w.ops->set_pte_at(mm, addr, *ptep, softleaf_to_pte(make_hwpoison_entry(f->pfn)));
    w.rmap_remove(f->pfn, 1);
    w.child_unmap(f->pfn); // try_to_unmap() poisons a fork child's entry too
    return true;
}

} // namespace mmfuzz
