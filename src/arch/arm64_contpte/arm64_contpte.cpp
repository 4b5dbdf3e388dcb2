// The handle API of the arm64 implementation: the public wrappers of
// arch/arm64/include/asm/pgtable.h (CONFIG_ARM64_CONTPTE) and arch/arm64/mm/mmu.c, choosing
// between the raw layer (no CONT involved) and the contpte layer. The preconditions and PTL
// assertions are the same as the reference implementation's.
#include "arch/arm64_contpte/arm64_contpte.hpp"

namespace mmfuzz {

/// ptep_get() (asm/pgtable.h): a valid CONT entry carries the young/dirty of its whole block.
/// Unlike upstream, PTE_CONT itself never reaches core code.
pte_t arm64_contpte_pgtable::ptep_get(hw_ptep ptep) {
    const pte_t pte = __ptep_get(ptep);
    // Canary: upstream's own behaviour, PTE_CONT handed to core code, which copies it around.
    if (canaries.on(canary::ptep_get_leaks_cont))
        return pte_valid_cont(pte) ? contpte_ptep_get(ptep, pte) : pte;
    // Canary: a getter that reads the one entry as if the block were not contiguous.
    if (!pte_valid_cont(pte) || canaries.on(canary::ptep_get_no_gather))
        return pte_mknoncont(pte);
    return pte_mknoncont(contpte_ptep_get(ptep, pte));
}

/// __ptep_get() is already READ_ONCE(), so both getter flavours are the same on arm64.
pte_t arm64_contpte_pgtable::ptep_get_once(hw_ptep ptep) {
    return ptep_get(ptep);
}

/// ptep_get_lockless() (asm/pgtable.h): a valid CONT entry needs the block-validating read.
pte_t arm64_contpte_pgtable::ptep_get_lockless(hw_ptep ptep) {
    const pte_t pte = __ptep_get(ptep);
    if (!pte_valid_cont(pte))
        return pte_mknoncont(pte);
    return pte_mknoncont(contpte_ptep_get_lockless(ptep));
}

void arm64_contpte_pgtable::set_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep, pte_t pte,
                                     unsigned nr) {
    check_set_ptes(ptep, pte, nr);
    m_.assert_ptl_held(ptep, "set_ptes");
    arch_set_ptes(mm, addr, ptep, pte, nr);
}

/// pte_clear() (asm/pgtable.h): unfold the block first, then store 0.
void arm64_contpte_pgtable::pte_clear(mm_struct *mm, std::uint64_t addr, hw_ptep ptep) {
    m_.assert_ptl_held(ptep, "pte_clear");
    contpte_try_unfold(mm, addr, ptep, __ptep_get(ptep));
    __pte_clear(mm, addr, ptep);
}

/// ptep_get_and_clear() (asm/pgtable.h): unfold first, so the value returned carries the young/
/// dirty of the whole block and the rest of the block keeps them.
pte_t arm64_contpte_pgtable::ptep_get_and_clear(mm_struct *mm, std::uint64_t addr, hw_ptep ptep) {
    m_.assert_ptl_held(ptep, "ptep_get_and_clear");
    contpte_try_unfold(mm, addr, ptep, __ptep_get(ptep));
    return pte_mknoncont(__ptep_get_and_clear(mm, addr, ptep));
}

/// get_and_clear_full_ptes() (asm/pgtable.h): one entry unfolds its block; a batch unfolds only
/// the partly covered edge blocks. No flush: the caller's mmu_gather flushes.
pte_t arm64_contpte_pgtable::get_and_clear_full_ptes(mm_struct *mm, std::uint64_t addr,
                                                     hw_ptep ptep, unsigned nr, int full) {
    check_batch("get_and_clear_full_ptes", ptep, nr, true);
    m_.assert_ptl_held(ptep, "get_and_clear_full_ptes");
    pte_t pte;
    if (nr == 1) {
        contpte_try_unfold(mm, addr, ptep, __ptep_get(ptep));
        pte = __get_and_clear_full_ptes(mm, addr, ptep, nr, full);
    } else {
        pte = contpte_get_and_clear_full_ptes(mm, addr, ptep, nr, full);
    }
    return pte_mknoncont(pte);
}

/// clear_full_ptes() (asm/pgtable.h): as get_and_clear_full_ptes() without the value.
void arm64_contpte_pgtable::clear_full_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep,
                                            unsigned nr, int full) {
    check_batch("clear_full_ptes", ptep, nr, true);
    m_.assert_ptl_held(ptep, "clear_full_ptes");
    if (nr == 1) {
        contpte_try_unfold(mm, addr, ptep, __ptep_get(ptep));
        __clear_full_ptes(mm, addr, ptep, nr, full);
    } else {
        contpte_clear_full_ptes(mm, addr, ptep, nr, full);
    }
}

/// test_and_clear_young_ptes() (asm/pgtable.h): a single non-CONT entry is cleared alone,
/// anything else block-wide.
bool arm64_contpte_pgtable::test_and_clear_young_ptes(vm_area_struct *vma, std::uint64_t addr,
                                                      hw_ptep ptep, unsigned nr) {
    if (nr == 1 && !pte_cont(__ptep_get(ptep)))
        return __ptep_test_and_clear_young(vma, addr, ptep);
    return contpte_test_and_clear_young_ptes(vma, addr, ptep, nr);
}

bool arm64_contpte_pgtable::ptep_test_and_clear_young(vm_area_struct *vma, std::uint64_t addr,
                                                      hw_ptep ptep) {
    m_.assert_ptl_held(ptep, "ptep_test_and_clear_young");
    return test_and_clear_young_ptes(vma, addr, ptep, 1);
}

/// ptep_clear_flush_young() (asm/pgtable.h): a valid CONT entry clears and flushes its block.
bool arm64_contpte_pgtable::ptep_clear_flush_young(vm_area_struct *vma, std::uint64_t addr,
                                                   hw_ptep ptep) {
    m_.assert_ptl_held(ptep, "ptep_clear_flush_young");
    if (!pte_valid_cont(__ptep_get(ptep)))
        return __ptep_clear_flush_young(vma, addr, ptep);
    return contpte_clear_flush_young_ptes(vma, addr, ptep, 1);
}

/// clear_flush_young_ptes() (asm/pgtable.h).
bool arm64_contpte_pgtable::clear_flush_young_ptes(vm_area_struct *vma, std::uint64_t addr,
                                                   hw_ptep ptep, unsigned nr) {
    check_batch("clear_flush_young_ptes", ptep, nr, true);
    m_.assert_ptl_held(ptep, "clear_flush_young_ptes");
    if (nr == 1 && !pte_cont(__ptep_get(ptep)))
        return __ptep_clear_flush_young(vma, addr, ptep);
    return contpte_clear_flush_young_ptes(vma, addr, ptep, nr);
}

/// clear_young_dirty_ptes() (asm/pgtable.h).
void arm64_contpte_pgtable::clear_young_dirty_ptes(vm_area_struct *vma, std::uint64_t addr,
                                                   hw_ptep ptep, unsigned nr, cydp_t flags) {
    check_batch("clear_young_dirty_ptes", ptep, nr, true);
    m_.assert_ptl_held(ptep, "clear_young_dirty_ptes");
    if (nr == 1 && !pte_cont(__ptep_get(ptep)))
        __clear_young_dirty_ptes(vma, addr, ptep, nr, flags);
    else
        contpte_clear_young_dirty_ptes(vma, addr, ptep, nr, flags);
}

/// wrprotect_ptes() (asm/pgtable.h): one entry unfolds its whole block when it is CONT (the
/// fork fast path tests only the CONT bit: the entry is present), then write-protects through a
/// cmpxchg loop; a batch goes to contpte_wrprotect_ptes().
void arm64_contpte_pgtable::wrprotect_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep,
                                           unsigned nr) {
    check_batch("wrprotect_ptes", ptep, nr, true);
    m_.assert_ptl_held(ptep, "wrprotect_ptes");
    if (nr == 1) {
        pte_t orig_pte = __ptep_get(ptep);
        if (pte_cont(orig_pte)) {
            __contpte_try_unfold(mm, addr, ptep, orig_pte);
            orig_pte = pte_mknoncont(orig_pte);
        }
        ___ptep_set_wrprotect(mm, addr, ptep, orig_pte);
    } else {
        contpte_wrprotect_ptes(mm, addr, ptep, nr);
    }
}

/// ptep_set_access_flags() (asm/pgtable.h): CONT is cleared from the requested entry; a target
/// that is not valid+CONT takes the single-entry path.
int arm64_contpte_pgtable::ptep_set_access_flags(vm_area_struct *vma, std::uint64_t addr,
                                                 hw_ptep ptep, pte_t entry, int dirty) {
    m_.assert_ptl_held(ptep, "ptep_set_access_flags");
    const pte_t orig_pte = __ptep_get(ptep);
    entry = pte_mknoncont(entry);
    if (!pte_valid_cont(orig_pte))
        return __ptep_set_access_flags(vma, addr, ptep, entry, dirty);
    return contpte_ptep_set_access_flags(vma, addr, ptep, entry, dirty);
}

/// modify_prot_start_ptes() (arch/arm64/mm/mmu.c): get_and_clear_ptes() over the range. The
/// erratum 2645198 flush is not modelled.
pte_t arm64_contpte_pgtable::modify_prot_start_ptes(vm_area_struct *vma, std::uint64_t addr,
                                                    hw_ptep ptep, unsigned nr) {
    return get_and_clear_full_ptes(vma->vm_mm, addr, ptep, nr, 0);
}

/// modify_prot_commit_ptes() (arch/arm64/mm/mmu.c): set_ptes() of the new entry, so a batch
/// over a whole aligned block comes back CONT. The preconditions are the reference's (the
/// entries were cleared by modify_prot_start_ptes()).
void arm64_contpte_pgtable::modify_prot_commit_ptes(vm_area_struct *vma, std::uint64_t addr,
                                                    hw_ptep ptep, pte_t /*old_pte*/, pte_t pte,
                                                    unsigned nr) {
    check_batch("modify_prot_commit_ptes", ptep, nr, false);
    m_.assert_ptl_held(ptep, "modify_prot_commit_ptes");
    arch_set_ptes(vma->vm_mm, addr, ptep, pte, nr);
}

/// pte_batch_hint() (asm/pgtable.h): the entries left in the CONT block from ptep. Upstream
/// tests the value core code passes; here that value never has CONT, so the stored entry is
/// tested instead.
unsigned arm64_contpte_pgtable::pte_batch_hint(hw_ptep ptep, pte_t /*pte*/) {
    if (!pte_valid_cont(__ptep_get(ptep)))
        return 1;
    const std::size_t off = hw_pte_index(ptep, m_.geo().ptrs_per_pte()) & (cont_ptes() - 1);
    return static_cast<unsigned>(cont_ptes() - off);
}

/// set_ptes() on a table hardware cannot reach yet: arm64 has one set_ptes(), so a THP split's
/// fill over a whole PTE table writes every block CONT (SEMANTICS 4.1).
void arm64_contpte_pgtable::set_ptes(mm_struct *mm, std::uint64_t addr, staged_ptep ptep, pte_t pte,
                                     unsigned nr) {
    if (nr == 0 || m_.geo().pte_index(addr) + nr > m_.geo().ptrs_per_pte())
        throw api_misuse("set_ptes(staged): nr out of range");
    arch_set_ptes(mm, addr, ptep, pte, nr);
}

/// pmdp_set_access_flags() (asm/pgtable.h): __ptep_set_access_flags() on the PMD as a pte, so
/// only more permissive AF, DIRTY, WRITE and RDONLY and no page_table_check hook, unlike the
/// generic set_pmd_at() of any change; the flush, of the block's range, only when dirty
/// (__ptep_set_access_flags_anysz() at PMD_SIZE, arch/arm64/mm/fault.c).
int arm64_contpte_pgtable::pmdp_set_access_flags(vm_area_struct *vma, std::uint64_t addr,
                                                 hw_pmdp pmdp, pmd_t entry, int dirty) {
    const pmd_t pmd = m_.read(pmdp);
    if (pmd_same(pmd, entry))
        return 0;
    const pmd_t merged = pte_pmd(access_flags_merged(pmd_pte(pmd), pmd_pte(entry)));
    if (merged != pmd)
        m_.write(pmdp, merged);
    if (dirty != 0)
        vma->vm_mm->mach->flush_pmd_tlb_range(addr, addr + m_.geo().pmd_size());
    return 1;
}

pte_t arm64_contpte_pgtable::ptep_get(staged_ptep ptep) {
    const pte_t pte = __ptep_get(ptep);
    if (!pte_valid_cont(pte))
        return pte_mknoncont(pte);
    const std::uint64_t addr = staged_index(ptep) * m_.geo().page_size();
    return pte_mknoncont(contpte_ptep_get(ptep, addr, pte));
}

} // namespace mmfuzz
