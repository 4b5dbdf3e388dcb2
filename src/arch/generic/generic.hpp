// The reference implementation: the generic kernel semantics of include/linux/pgtable.h and
// mm/pgtable-generic.c (SEMANTICS 2), one entry at a time, no contiguous mappings.
#pragma once

#include "arch/pgtable_ops.hpp"

namespace mmfuzz {

class generic_pgtable : public pgtable_ops {
  public:
    using pgtable_ops::pgtable_ops;
    using pgtable_ops::ptep_get;
    using pgtable_ops::set_ptes;

    [[nodiscard]] std::string_view name() const override { return "generic"; }

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
    void set_ptes(mm_struct *mm, std::uint64_t addr, staged_ptep ptep, pte_t pte,
                  unsigned nr) override;
    pte_t ptep_get(staged_ptep ptep) override;

  private:
    pte_t get_and_clear_one(mm_struct *mm, hw_ptep ptep);
    bool test_and_clear_young_one(mm_struct *mm, hw_ptep ptep);
};

} // namespace mmfuzz
