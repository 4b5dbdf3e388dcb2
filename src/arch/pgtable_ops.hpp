// The handle API: every page-table access of core code goes through this interface.
//
// Two implementations sit behind it: generic (the reference, include/linux/pgtable.h and
// mm/pgtable-generic.c) and arm64 contpte (arch/arm64/include/asm/pgtable.h, arch/arm64/mm/
// contpte.c). Signatures follow the kernel's, with hw_ptep/hw_pmdp in place of pte_t*/pmd_t*.
// The PMD family defaults to the generic behaviour; arm64 overrides pmdp_set_access_flags().
#pragma once

#include "arch/canary.hpp"
#include "machine/machine.hpp"
#include "machine/mm.hpp"
#include "pgtable/handle.hpp"
#include "pgtable/pte.hpp"

#include <cstdint>
#include <string_view>

namespace mmfuzz {

/// Flags of clear_young_dirty_ptes() (include/linux/mm_types.h).
using cydp_t = unsigned;
constexpr cydp_t CYDP_CLEAR_YOUNG = 1U << 0;
constexpr cydp_t CYDP_CLEAR_DIRTY = 1U << 1;

class pgtable_ops {
  public:
    explicit pgtable_ops(machine &m) : m_(m) {}
    virtual ~pgtable_ops() = default;
    pgtable_ops(const pgtable_ops &) = delete;
    pgtable_ops &operator=(const pgtable_ops &) = delete;

    [[nodiscard]] virtual std::string_view name() const = 0;
    [[nodiscard]] machine &mach() const { return m_; }
    /// Canary bugs enabled in this implementation (none by default).
    canary_set canaries;

    // ---- PTE reads ---------------------------------------------------------------------------
    /// ptep_get(): the entry as core code must see it.
    virtual pte_t ptep_get(hw_ptep ptep) = 0;
    /// ptep_get_once(): single-copy-atomic flavour (seed 000/004).
    virtual pte_t ptep_get_once(hw_ptep ptep) = 0;
    /// ptep_get_lockless(): for readers without the PTL.
    virtual pte_t ptep_get_lockless(hw_ptep ptep) = 0;

    // ---- PTE writes (PTL held) -----------------------------------------------------------------
    virtual void set_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, pte_t pte,
                          unsigned nr) = 0;
    void set_pte_at(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, pte_t pte) {
        set_ptes(mm, addr, ptep, pte, 1);
    }
    virtual void pte_clear(mm_struct *mm, std::uint64_t addr, hw_ptep ptep) = 0;
    virtual pte_t ptep_get_and_clear(mm_struct *mm, std::uint64_t addr, hw_ptep ptep) = 0;
    virtual pte_t get_and_clear_full_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep,
                                          unsigned nr, int full) = 0;
    virtual void clear_full_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, unsigned nr,
                                 int full) = 0;
    virtual bool ptep_test_and_clear_young(vm_area_struct *vma, std::uint64_t addr,
                                           hw_ptep ptep) = 0;
    virtual bool ptep_clear_flush_young(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep) = 0;
    virtual bool clear_flush_young_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                        unsigned nr) = 0;
    virtual void clear_young_dirty_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                        unsigned nr, cydp_t flags) = 0;
    virtual void wrprotect_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, unsigned nr) = 0;
    void ptep_set_wrprotect(mm_struct *mm, std::uint64_t addr, hw_ptep ptep) {
        wrprotect_ptes(mm, addr, ptep, 1);
    }
    virtual int ptep_set_access_flags(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                      pte_t entry, int dirty) = 0;
    virtual pte_t modify_prot_start_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                         unsigned nr) = 0;
    virtual void modify_prot_commit_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                         pte_t old_pte, pte_t pte, unsigned nr) = 0;
    /// pte_batch_hint(): how many entries from ptep share one contiguous mapping (1 if none).
    virtual unsigned pte_batch_hint(hw_ptep ptep, pte_t pte);
    /// update_mmu_cache_range(): called after mapping; PTE lock held. Models an arch that
    /// re-walks the live table from the mm root (MIPS), so the table must be reachable (seed 003).
    virtual void update_mmu_cache_range(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                        unsigned nr);

    // ---- staged tables (not reachable by hardware)
    // -----------------------------------------------
    virtual void set_ptes(mm_struct *mm, std::uint64_t addr, staged_ptep ptep, pte_t pte,
                          unsigned nr) = 0;
    virtual pte_t ptep_get(staged_ptep ptep) = 0;

    // ---- PMD family (generic: mm/pgtable-generic.c) --------------------------------------------
    virtual pmd_t pmdp_get(hw_pmdp pmdp);
    virtual void set_pmd_at(mm_struct *mm, std::uint64_t addr, hw_pmdp pmdp, pmd_t pmd);
    /// pmd_populate(): publish a table page. The only way a staged table becomes live.
    virtual void pmd_populate(mm_struct *mm, hw_pmdp pmdp, pgtable_t table);
    /// pmd_clear(): unlink the table (or clear the entry) without a flush; the caller frees the
    /// table through its mmu_gather (pte_free_tlb()), which flushes the walk cache first.
    virtual void pmd_clear(hw_pmdp pmdp);
    virtual pmd_t pmdp_invalidate(vm_area_struct *vma, std::uint64_t addr, hw_pmdp pmdp);
    virtual pmd_t pmdp_collapse_flush(vm_area_struct *vma, std::uint64_t addr, hw_pmdp pmdp);
    virtual pmd_t pmdp_huge_get_and_clear(mm_struct *mm, std::uint64_t addr, hw_pmdp pmdp);
    virtual void pgtable_trans_huge_deposit(mm_struct *mm, hw_pmdp pmdp, pgtable_t table);
    virtual pgtable_t pgtable_trans_huge_withdraw(mm_struct *mm, hw_pmdp pmdp);
    virtual void pmdp_set_wrprotect(mm_struct *mm, std::uint64_t addr, hw_pmdp pmdp);
    virtual int pmdp_set_access_flags(vm_area_struct *vma, std::uint64_t addr, hw_pmdp pmdp,
                                      pmd_t entry, int dirty);
    virtual bool pmdp_test_and_clear_young(vm_area_struct *vma, std::uint64_t addr, hw_pmdp pmdp);
    virtual void update_mmu_cache_pmd(vm_area_struct *vma, std::uint64_t addr, hw_pmdp pmdp);

  protected:
    /// The documented preconditions of a batched call: 1 <= nr, the range inside one table,
    /// and with `one_folio` the entries present and mapping consecutive pages of one folio.
    void check_batch(std::string_view call, hw_ptep ptep, unsigned nr, bool one_folio) const;
    /// set_ptes(): nr > 1 only over non-present entries, with a present pte of one folio.
    void check_set_ptes(hw_ptep ptep, pte_t pte, unsigned nr) const;

    machine &m_;
};

} // namespace mmfuzz
