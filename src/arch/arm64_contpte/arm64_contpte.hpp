// The optimized arm64 implementation of the handle API: arch/arm64/include/asm/pgtable.h and
// arch/arm64/mm/contpte.c (SEMANTICS 1.3-1.7).
//
// Two layers, as in the kernel:
//  - the raw layer (raw.cpp): the "__" primitives of asm/pgtable.h, one entry or a plain loop of
//    entries over the machine, never looking at PTE_CONT;
//  - the contpte layer (contpte.cpp): the functions of contpte.c, which fold, unfold and gather
//    over CONT_PTES-entry blocks using only the raw layer;
//  - the public wrappers of asm/pgtable.h (arm64_contpte.cpp) choose between the two.
//
// One deliberate difference from upstream: core code never sees PTE_CONT. Upstream ptep_get()
// leaks it (for pte_leaf_size()); here every value returned through the handle API has it cleared,
// and pte_batch_hint() reads the stored entry to report the block.
//
// The contpte functions that fill or convert a table are templates over the handle type, because
// a table that hardware cannot reach yet (staged_ptep) is filled by the same set_ptes() on arm64.
// A staged handle has no index of its own, so those functions locate its block from addr.
#pragma once

#include "arch/pgtable_ops.hpp"

#include <cstddef>
#include <cstdint>

namespace mmfuzz {

class arm64_contpte_pgtable final : public pgtable_ops {
  public:
    using pgtable_ops::pgtable_ops;
    using pgtable_ops::ptep_get;
    using pgtable_ops::set_ptes;

    [[nodiscard]] std::string_view name() const override { return "arm64_contpte"; }

    // ---- the handle API: public wrappers of asm/pgtable.h (arm64_contpte.cpp) ----------------
    pte_t ptep_get(hw_ptep ptep) override;
    pte_t ptep_get_once(hw_ptep ptep) override;
    pte_t ptep_get_lockless(hw_ptep ptep) override;
    void set_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, pte_t pte, unsigned nr) override;
    void pte_clear(mm_struct *mm, std::uint64_t addr, hw_ptep ptep) override;
    pte_t ptep_get_and_clear(mm_struct *mm, std::uint64_t addr, hw_ptep ptep) override;
    pte_t get_and_clear_full_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, unsigned nr,
                                  int full) override;
    void clear_full_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, unsigned nr,
                         int full) override;
    bool ptep_test_and_clear_young(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep) override;
    bool ptep_clear_flush_young(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep) override;
    bool clear_flush_young_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                unsigned nr) override;
    void clear_young_dirty_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep, unsigned nr,
                                cydp_t flags) override;
    void wrprotect_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, unsigned nr) override;
    int ptep_set_access_flags(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep, pte_t entry,
                              int dirty) override;
    pte_t modify_prot_start_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                 unsigned nr) override;
    void modify_prot_commit_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                 pte_t old_pte, pte_t pte, unsigned nr) override;
    unsigned pte_batch_hint(hw_ptep ptep, pte_t pte) override;
    void set_ptes(mm_struct *mm, std::uint64_t addr, staged_ptep ptep, pte_t pte,
                  unsigned nr) override;
    pte_t ptep_get(staged_ptep ptep) override;
    int pmdp_set_access_flags(vm_area_struct *vma, std::uint64_t addr, hw_pmdp pmdp, pmd_t entry,
                              int dirty) override;

    /// test_and_clear_young_ptes(): the batched young clear that ptep_test_and_clear_young()
    /// wraps with nr = 1.
    bool test_and_clear_young_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                   unsigned nr);

    // ---- contpte.c (contpte.cpp) ---------------------------------------------------------------
    template <typename P>
    void contpte_convert(mm_struct *mm, std::uint64_t addr, P ptep, pte_t pte);
    template <typename P>
    void contpte_try_fold(mm_struct *mm, std::uint64_t addr, P ptep, pte_t pte);
    template <typename P>
    void __contpte_try_fold(mm_struct *mm, std::uint64_t addr, P ptep, pte_t pte);
    template <typename P>
    void contpte_try_unfold(mm_struct *mm, std::uint64_t addr, P ptep, pte_t pte);
    template <typename P>
    void __contpte_try_unfold(mm_struct *mm, std::uint64_t addr, P ptep, pte_t pte);
    template <typename P>
    void contpte_set_ptes(mm_struct *mm, std::uint64_t addr, P ptep, pte_t pte, unsigned nr);
    /// The body of asm/pgtable.h set_ptes(), shared by live and staged tables.
    template <typename P>
    void arch_set_ptes(mm_struct *mm, std::uint64_t addr, P ptep, pte_t pte, unsigned nr);

    void contpte_try_unfold_partial(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, unsigned nr);
    /// contpte_align_addr_ptep(): widen [start, end) to block edges where its ends are CONT.
    hw_ptep contpte_align_addr_ptep(std::uint64_t &start, std::uint64_t &end, hw_ptep ptep,
                                    unsigned nr);
    pte_t contpte_ptep_get(hw_ptep ptep, pte_t orig_pte);
    pte_t contpte_ptep_get(staged_ptep ptep, std::uint64_t addr, pte_t orig_pte);
    pte_t contpte_ptep_get_lockless(hw_ptep orig_ptep);
    void contpte_clear_full_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, unsigned nr,
                                 int full);
    pte_t contpte_get_and_clear_full_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep,
                                          unsigned nr, int full);
    bool contpte_test_and_clear_young_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                           unsigned nr);
    bool contpte_clear_flush_young_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                        unsigned nr);
    void contpte_wrprotect_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, unsigned nr);
    void contpte_clear_young_dirty_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                        unsigned nr, cydp_t flags);
    bool contpte_all_subptes_match_access_flags(hw_ptep ptep, pte_t entry);
    int contpte_ptep_set_access_flags(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                      pte_t entry, int dirty);

    /// CONT_PTES and CONT_PTE_SIZE of the machine's granule.
    [[nodiscard]] std::size_t cont_ptes() const { return m_.geo().cont_ptes(); }
    [[nodiscard]] std::uint64_t cont_pte_size() const { return m_.geo().cont_pte_size(); }
    /// contpte_align_down(): the first entry of ptep's block (table pages are size-aligned).
    [[nodiscard]] hw_ptep contpte_align_down(hw_ptep ptep) const;
    /// pte_cont_addr_end(): the end of addr's block, or end if that comes first.
    [[nodiscard]] std::uint64_t pte_cont_addr_end(std::uint64_t addr, std::uint64_t end) const;

    // ---- raw layer: the "__" primitives of asm/pgtable.h (raw.cpp) ----------------------------
    [[nodiscard]] pte_t __ptep_get(hw_ptep ptep) const;
    [[nodiscard]] pte_t __ptep_get(staged_ptep ptep) const;
    void __set_pte(hw_ptep ptep, pte_t pte);
    /// cmpxchg_relaxed() on an entry: stores new_pte if the entry still holds old_pte; returns
    /// the value found.
    pte_t ptep_cmpxchg_relaxed(hw_ptep ptep, pte_t old_pte, pte_t new_pte);
    void __set_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, pte_t pte, unsigned nr);
    void __set_ptes(mm_struct *mm, std::uint64_t addr, staged_ptep ptep, pte_t pte, unsigned nr);
    pte_t __ptep_get_and_clear(mm_struct *mm, std::uint64_t addr, hw_ptep ptep);
    pte_t __ptep_get_and_clear(mm_struct *mm, std::uint64_t addr, staged_ptep ptep);
    void __pte_clear(mm_struct *mm, std::uint64_t addr, hw_ptep ptep);
    bool __ptep_test_and_clear_young(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep);
    bool __ptep_clear_flush_young(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep);
    void ___ptep_set_wrprotect(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, pte_t pte);
    void __ptep_set_wrprotect(mm_struct *mm, std::uint64_t addr, hw_ptep ptep);
    void __wrprotect_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, unsigned nr);
    void __clear_young_dirty_pte(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep, pte_t pte,
                                 cydp_t flags);
    void __clear_young_dirty_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                  unsigned nr, cydp_t flags);
    int __ptep_set_access_flags(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep, pte_t entry,
                                int dirty);
    /// old with the AF, DIRTY and WRITE of entry ORed in and RDONLY = old AND entry: the value
    /// __ptep_set_access_flags() stores.
    [[nodiscard]] static pte_t access_flags_merged(pte_t old, pte_t entry);
    void __clear_full_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, unsigned nr, int full);
    pte_t __get_and_clear_full_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, unsigned nr,
                                    int full);
    void __flush_tlb_range(std::uint64_t start, std::uint64_t end, std::uint64_t stride,
                           bool last_level, int tlb_level);
    void __flush_tlb_range_nosync(std::uint64_t start, std::uint64_t end, std::uint64_t stride,
                                  bool last_level, int tlb_level);
    /// The index of a staged entry in its table (a staged handle carries no index of its own).
    [[nodiscard]] std::size_t staged_index(staged_ptep ptep) const;

  private:
    hw_ptep block_start(hw_ptep ptep, std::uint64_t addr) const;
    staged_ptep block_start(staged_ptep ptep, std::uint64_t addr) const;

    mutable pgtable_t staged_hint_table_{};
    mutable std::size_t staged_hint_index_ = 0;
};

extern template void arm64_contpte_pgtable::contpte_convert(mm_struct *, std::uint64_t, hw_ptep,
                                                            pte_t);
extern template void arm64_contpte_pgtable::contpte_convert(mm_struct *, std::uint64_t, staged_ptep,
                                                            pte_t);
extern template void arm64_contpte_pgtable::contpte_try_fold(mm_struct *, std::uint64_t, hw_ptep,
                                                             pte_t);
extern template void arm64_contpte_pgtable::contpte_try_fold(mm_struct *, std::uint64_t,
                                                             staged_ptep, pte_t);
extern template void arm64_contpte_pgtable::__contpte_try_fold(mm_struct *, std::uint64_t, hw_ptep,
                                                               pte_t);
extern template void arm64_contpte_pgtable::__contpte_try_fold(mm_struct *, std::uint64_t,
                                                               staged_ptep, pte_t);
extern template void arm64_contpte_pgtable::contpte_try_unfold(mm_struct *, std::uint64_t, hw_ptep,
                                                               pte_t);
extern template void arm64_contpte_pgtable::contpte_try_unfold(mm_struct *, std::uint64_t,
                                                               staged_ptep, pte_t);
extern template void arm64_contpte_pgtable::__contpte_try_unfold(mm_struct *, std::uint64_t,
                                                                 hw_ptep, pte_t);
extern template void arm64_contpte_pgtable::__contpte_try_unfold(mm_struct *, std::uint64_t,
                                                                 staged_ptep, pte_t);
extern template void arm64_contpte_pgtable::contpte_set_ptes(mm_struct *, std::uint64_t, hw_ptep,
                                                             pte_t, unsigned);
extern template void arm64_contpte_pgtable::contpte_set_ptes(mm_struct *, std::uint64_t,
                                                             staged_ptep, pte_t, unsigned);
extern template void arm64_contpte_pgtable::arch_set_ptes(mm_struct *, std::uint64_t, hw_ptep,
                                                          pte_t, unsigned);
extern template void arm64_contpte_pgtable::arch_set_ptes(mm_struct *, std::uint64_t, staged_ptep,
                                                          pte_t, unsigned);

} // namespace mmfuzz
