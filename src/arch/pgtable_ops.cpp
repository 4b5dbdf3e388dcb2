#include "arch/pgtable_ops.hpp"

#include <string>

namespace mmfuzz {

namespace {
std::string where(std::string_view call, std::string_view what) {
    return std::string(call) + ": " + std::string(what);
}
} // namespace

void pgtable_ops::check_batch(std::string_view call, hw_ptep ptep, unsigned nr,
                              bool one_folio) const {
    if (nr == 0)
        throw api_misuse(where(call, "nr must be at least 1"));
    if (m_.index_of(ptep) + nr > m_.geo().ptrs_per_pte())
        throw api_misuse(where(call, "ptep..ptep+nr crosses the end of its PTE table"));
    if (!one_folio || nr == 1)
        return;
    const pte_t first = m_.read(ptep);
    const folio *f = m_.pfn_folio(pte_pfn(first));
    for (unsigned i = 0; i < nr; ++i) {
        const pte_t p = m_.read(hw_pte_add(ptep, i));
        if (!pte_present(p))
            throw api_misuse(where(call, "entry " + std::to_string(i) + " is not present"));
        if (pte_pfn(p) != pte_pfn(first) + i || m_.pfn_folio(pte_pfn(p)) != f)
            throw api_misuse(where(call, "entries do not map consecutive pages of one folio"));
    }
}

void pgtable_ops::check_set_ptes(hw_ptep ptep, pte_t pte, unsigned nr) const {
    check_batch("set_ptes", ptep, nr, false);
    if (nr == 1)
        return;
    if (!pte_present(pte))
        throw api_misuse("set_ptes: nr > 1 needs a present pte");
    const folio *f = m_.pfn_folio(pte_pfn(pte));
    if (f == nullptr || !f->contains(pte_pfn(pte) + nr - 1))
        throw api_misuse("set_ptes: pte..pte+nr does not stay in one folio");
    for (unsigned i = 0; i < nr; ++i)
        if (pte_present(m_.read(hw_pte_add(ptep, i))))
            throw api_misuse("set_ptes: nr > 1 over a present entry (index " + std::to_string(i) +
                             ")");
}

unsigned pgtable_ops::pte_batch_hint(hw_ptep /*ptep*/, pte_t /*pte*/) {
    return 1;
}

void pgtable_ops::update_mmu_cache_range(vm_area_struct * /*vma*/, std::uint64_t addr, hw_ptep ptep,
                                         unsigned nr) {
    m_.assert_ptl_held(ptep, "update_mmu_cache_range");
    m_.update_mmu_walk_check(addr, ptep, nr);
}

// ---- PMD family: mm/pgtable-generic.c ---------------------------------------------------------

pmd_t pgtable_ops::pmdp_get(hw_pmdp pmdp) {
    return m_.read(pmdp);
}

void pgtable_ops::set_pmd_at(mm_struct *mm, std::uint64_t /*addr*/, hw_pmdp pmdp, pmd_t pmd) {
    m_.page_table_check_pmd_set(mm, pmdp, pmd);
    m_.write(pmdp, pmd);
}

void pgtable_ops::pmd_populate(mm_struct * /*mm*/, hw_pmdp pmdp, pgtable_t table) {
    if (!m_.is_table_page(table.pfn))
        throw api_misuse("pmd_populate: not a table page");
    m_.write(pmdp, pmd_mktable(table.pfn));
}

void pgtable_ops::pmd_clear(hw_pmdp pmdp) {
    m_.write(pmdp, pmd_t{0});
}

/// pmdp_invalidate(): present-invalid PMD, then flush the PMD range. It goes through
/// pmdp_establish(), whose page_table_check_pmd_set() hook (arm64 asm/pgtable.h) uncounts the
/// old leaf: an invalid entry is not user-accessible.
pmd_t pgtable_ops::pmdp_invalidate(vm_area_struct *vma, std::uint64_t addr, hw_pmdp pmdp) {
    const pmd_t inval = pmd_mkinvalid(m_.read(pmdp));
    m_.page_table_check_pmd_set(vma->vm_mm, pmdp, inval);
    const pmd_t old = m_.xchg(pmdp, inval);
    vma->vm_mm->mach->flush_pmd_tlb_range(addr, addr + m_.geo().pmd_size());
    return old;
}

/// pmdp_collapse_flush() (mm/pgtable-generic.c): clear the table PMD and flush the whole range
/// with flush_tlb_range(), "collapse entails shooting down ptes not pmd": page stride, no level
/// hint, and the walk cache too.
pmd_t pgtable_ops::pmdp_collapse_flush(vm_area_struct *vma, std::uint64_t addr, hw_pmdp pmdp) {
    const pmd_t pmd = pmdp_huge_get_and_clear(vma->vm_mm, addr, pmdp);
    // Canary: the flush of a PMD leaf, which misses the PTEs and the walk cache.
    if (canaries.on(canary::collapse_flush_pmd_level))
        vma->vm_mm->mach->flush_pmd_tlb_range(addr, addr + m_.geo().pmd_size());
    else
        vma->vm_mm->mach->flush_tlb_range(addr, addr + m_.geo().pmd_size());
    return pmd;
}

pmd_t pgtable_ops::pmdp_huge_get_and_clear(mm_struct *mm, std::uint64_t /*addr*/, hw_pmdp pmdp) {
    const pmd_t pmd = m_.xchg(pmdp, pmd_t{0});
    m_.page_table_check_pmd_clear(mm, pmd);
    return pmd;
}

void pgtable_ops::pgtable_trans_huge_deposit(mm_struct * /*mm*/, hw_pmdp pmdp, pgtable_t table) {
    m_.assert_pmd_lock_held("pgtable_trans_huge_deposit");
    m_.pmd_huge_pte(pmdp).push_back(table);
}

/// pgtable_trans_huge_withdraw() (mm/pgtable-generic.c): the list head, which is the table
/// deposited last (deposit makes the new table the head; the "FIFO" comments there
/// notwithstanding).
pgtable_t pgtable_ops::pgtable_trans_huge_withdraw(mm_struct * /*mm*/, hw_pmdp pmdp) {
    m_.assert_pmd_lock_held("pgtable_trans_huge_withdraw");
    auto &list = m_.pmd_huge_pte(pmdp);
    if (list.empty())
        throw api_misuse("pgtable_trans_huge_withdraw: nothing deposited");
    const pgtable_t t = list.back();
    list.pop_back();
    return t;
}

void pgtable_ops::pmdp_set_wrprotect(mm_struct *mm, std::uint64_t addr, hw_pmdp pmdp) {
    set_pmd_at(mm, addr, pmdp, pmd_wrprotect(m_.read(pmdp)));
}

/// pmdp_set_access_flags() (mm/pgtable-generic.c): a changed entry goes in through set_pmd_at()
/// and the PMD range is flushed, whether or not the caller asked for dirty.
int pgtable_ops::pmdp_set_access_flags(vm_area_struct *vma, std::uint64_t addr, hw_pmdp pmdp,
                                       pmd_t entry, int /*dirty*/) {
    const bool changed = !pmd_same(m_.read(pmdp), entry);
    if (changed) {
        set_pmd_at(vma->vm_mm, addr, pmdp, entry);
        vma->vm_mm->mach->flush_pmd_tlb_range(addr, addr + m_.geo().pmd_size());
    }
    return changed ? 1 : 0;
}

bool pgtable_ops::pmdp_test_and_clear_young(vm_area_struct * /*vma*/, std::uint64_t /*addr*/,
                                            hw_pmdp pmdp) {
    const pmd_t pmd = m_.read(pmdp);
    if (!pmd_young(pmd))
        return false;
    m_.write(pmdp, pmd_mkold(pmd));
    return true;
}

void pgtable_ops::update_mmu_cache_pmd(vm_area_struct * /*vma*/, std::uint64_t /*addr*/,
                                       hw_pmdp /*pmdp*/) {}

} // namespace mmfuzz
