// What reclaim, migration and memory failure share: the rmap walk of one folio (mm/rmap.c
// page_vma_mapped_walk() over an anonymous VMA, where page i of a folio sits at its linear
// address), the PTL around a table, and the swap device's slots.
#pragma once

#include "core/world.hpp"
#include "pgtable/softleaf.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace mmfuzz::unmap {

/// spin_lock(pte_lockptr()) for a scope: the PTL of the table mapping addr.
class ptl_scope {
  public:
    ptl_scope(world &w, std::uint64_t addr) : m_(w.m), lock_(w.ptl(addr)) { m_.spin_lock(lock_); }
    ~ptl_scope() { m_.spin_unlock(lock_); }
    ptl_scope(const ptl_scope &) = delete;
    ptl_scope &operator=(const ptl_scope &) = delete;

  private:
    machine &m_;
    spinlock_t lock_;
};

/// One page of a folio mapped at its linear address.
struct mapped_page {
    std::uint64_t addr;
    hw_ptep ptep;
    std::uint64_t index; ///< page index in the folio
};

/// The walk over the folio mapped at an address: every page of the folio that a present,
/// non-special entry maps at its linear address, in address order, inside one table.
struct folio_walk {
    folio *f = nullptr;
    std::uint64_t start = 0; ///< linear address of page 0
    hw_ptep first{};         ///< the entry of page 0
    std::vector<mapped_page> pages;
};

/// The walk of the folio that the entry at addr maps, or nullopt when the kernel's rmap walk
/// would find mappings this model does not reach: no table (a PMD mapping), a none, softleaf
/// or special entry at addr, a folio that would cross its table, or a page of the folio mapped
/// somewhere other than its linear address (world::mapcount counts every mapping). A fork()
/// child's mappings are on the walk too; the flows that take it handle them.
std::optional<folio_walk> walk_folio(world &w, std::uint64_t addr);

/// How try_to_unmap_one() takes a lazy-free folio, in the order of fw.pages: the length of each
/// batch. folio_unmap_pte_batch() is a folio_pte_batch_flags() that respects the write bit
/// (FPB_RESPECT_WRITE, since "mm/rmap: fix incorrect pte restoration for lazyfree folios"; the
/// soft-dirty bit it also respects is not modelled), inside the table and the VMA, and a single
/// entry in a VMA registered for uffd-wp ("if (userfaultfd_wp(vma)) return 1"): the window has
/// no registration, so a folio with a uffd-wp entry stands for one.
std::vector<unsigned> lazyfree_batches(world &w, const folio_walk &fw);

/// folio_maybe_mapped_shared(): a page of the folio is mapped by another mm too (a fork's
/// child).
bool maybe_mapped_shared(const world &w, const folio &f);

/// folio_test_swapcache() where folio_free_swap() cannot drop the folio from the swap cache: a
/// page of it is the swap-cache copy of a slot a fork child's entry names.
bool swapcache_held(const world &w, const folio &f);

/// try_to_migrate_one()'s entry for a page whose present entry was pteval: writable if the
/// entry was, read-exclusive for an exclusive anonymous page, readable otherwise; the entry's
/// young and dirty carried (make_migration_entry_young/dirty(), arm64 has the bits); uffd-wp
/// kept on the swap pte. Call it while the page is still mapped.
pte_t migration_pte(const world &w, pfn_t pfn, pte_t pteval);

/// folio_alloc_swap(): nr contiguous free slots of the core swap device (slot 0 is never
/// used: type 0 offset 0 would encode as the none entry); the first offset.
std::uint64_t alloc_swap_slots(world &w, std::uint64_t nr);

/// The live slot of a swap entry of the core swap device, if it is one.
std::optional<std::uint64_t> core_swap_slot(const world &w, softleaf_t e);

/// swap_free_nr() and free_swap_and_cache() of this mm's entry for slot off: the slot is free
/// once no entry names it, so it stays while a fork() child's entry does.
void swap_put(world &w, std::uint64_t off);

/// The protection of a present entry without write, young, dirty and uffd-wp: what
/// remove_migration_pte() takes from vma->vm_page_prot. The window's VMA has per-entry
/// protections (direct ops set them), so a remapped entry keeps its own.
pgprot_t base_prot(pte_t pte);

} // namespace mmfuzz::unmap
