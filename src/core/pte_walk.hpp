// Helpers the core flows share to walk PTEs the way mm/*.c does: the PTL around a table
// (pte_offset_map_lock()), folio batches (folio_pte_batch()), and the runs of entries that map
// one folio (the rmap walk of page_vma_mapped_walk()).
#pragma once

#include "core/world.hpp"

#include <cstdint>
#include <vector>

namespace mmfuzz {

/// pte_offset_map_lock(): the entry for addr, its table's PTL held for the scope. The PMD must
/// point to a table.
class pte_locked {
  public:
    pte_locked(world &w, std::uint64_t addr)
        : w_(w), ptep_(w.pte_lookup(addr).value()), lock_(w.ptl(addr)) {
        w_.m.spin_lock(lock_);
    }
    ~pte_locked() { w_.m.spin_unlock(lock_); }
    pte_locked(const pte_locked &) = delete;
    pte_locked &operator=(const pte_locked &) = delete;
    hw_ptep operator*() const { return ptep_; }

  private:
    world &w_;
    hw_ptep ptep_;
    spinlock_t lock_;
};

/// folio_pte_batch_flags() flags (mm/internal.h) this model needs: what a batch must not ignore.
using fpb_t = unsigned;
/// Stop at a change of the dirty bit (fork's batches, which the child copies dirty or clean).
constexpr fpb_t FPB_RESPECT_DIRTY = 1U << 0;
/// Stop at a change of the write bit (mprotect's and try_to_unmap()'s batches).
constexpr fpb_t FPB_RESPECT_WRITE = 1U << 2;

/// mm/internal.h folio_pte_batch_flags(): how many entries from ptep (at most max, first == its
/// value) map consecutive pages of one folio with the same protection: young ignored, dirty
/// ignored unless FPB_RESPECT_DIRTY, the write bit unless FPB_RESPECT_WRITE
/// (__pte_batch_clear_ignored()). 1 for an entry that maps no folio. Flags 0 is
/// folio_pte_batch(), as zap, MADV_FREE and the rmap walk batch.
unsigned folio_pte_batch(world &w, hw_ptep ptep, pte_t first, unsigned max, fpb_t flags = 0);

/// mm/mprotect.c can_change_pte_writable() in this private anonymous VMA (the caller checks
/// VM_WRITE): an entry already given the VMA's protection may become writable without a write
/// fault when it is not PROT_NONE, not uffd-wp, and maps an exclusive anonymous page
/// (world::page_anon_exclusive()). mprotect, uffd-wp resolve and the NUMA-hint fault ask.
bool can_change_pte_writable(world &w, pte_t pte);

/// The commit of a change_pte_range() batch that modify_prot_start_ptes() started at ptep:
/// with try_writable (MM_CP_TRY_CHANGE_WRITABLE) and a read-only ptent, the batch is committed
/// in runs of pages that can all become writable or all cannot (commit_anon_folio_batch(),
/// page_anon_exclusive_sub_batch(): a page a fork's child shares stays read-only), else with
/// one modify_prot_commit_ptes().
void commit_prot_batch(world &w, std::uint64_t addr, hw_ptep ptep, pte_t oldpte, pte_t ptent,
                       unsigned nr, bool try_writable);

/// Entries left in the table of addr from addr on.
std::uint64_t table_room(const world &w, std::uint64_t addr);

/// A run of entries [addr, addr + nr pages) in one table.
struct pte_run {
    std::uint64_t addr;
    unsigned nr;
};

/// The folio mapped at addr (by a present PTE), or nullptr.
folio *folio_at(world &w, std::uint64_t addr);

/// page_vma_mapped_walk() over the folio mapped at addr: the runs of present entries that map
/// its pages at their linear addresses (the page of addr at addr), each one folio batch inside
/// one table, in address order.
std::vector<pte_run> folio_mapped_runs(world &w, std::uint64_t addr);

/// A zeroed anonymous folio (vma_alloc_zeroed_movable_folio()), added to w.folios; nullptr
/// when memory is full.
folio *alloc_anon_folio(world &w, unsigned order);

} // namespace mmfuzz
