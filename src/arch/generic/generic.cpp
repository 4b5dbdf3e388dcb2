#include "arch/generic/generic.hpp"

namespace mmfuzz {

pte_t generic_pgtable::ptep_get(hw_ptep ptep) {
    return m_.read_once(ptep);
}

pte_t generic_pgtable::ptep_get_once(hw_ptep ptep) {
    return m_.read_once(ptep);
}

/// 64-bit entries are read in one access, so the lockless read is ptep_get() (pgtable.h).
pte_t generic_pgtable::ptep_get_lockless(hw_ptep ptep) {
    return m_.read_once(ptep);
}

/// set_ptes(): page_table_check, then one entry at a time advancing the PFN (pgtable.h).
void generic_pgtable::set_ptes(mm_struct *mm, std::uint64_t /*addr*/, hw_ptep ptep, pte_t pte,
                               unsigned nr) {
    check_set_ptes(ptep, pte, nr);
    m_.assert_ptl_held(ptep, "set_ptes");
    m_.page_table_check_ptes_set(mm, ptep, pte, nr);
    for (unsigned i = 0; i < nr; ++i) {
        m_.write(ptep, pte);
        ptep = hw_pte_next(ptep);
        pte = pte_next_pfn(pte);
    }
}

void generic_pgtable::pte_clear(mm_struct * /*mm*/, std::uint64_t /*addr*/, hw_ptep ptep) {
    m_.assert_ptl_held(ptep, "pte_clear");
    m_.write(ptep, pte_t{0});
}

pte_t generic_pgtable::get_and_clear_one(mm_struct *mm, hw_ptep ptep) {
    const pte_t pte = m_.xchg(ptep, pte_t{0});
    m_.page_table_check_pte_clear(mm, pte);
    return pte;
}

pte_t generic_pgtable::ptep_get_and_clear(mm_struct *mm, std::uint64_t /*addr*/, hw_ptep ptep) {
    m_.assert_ptl_held(ptep, "ptep_get_and_clear");
    return get_and_clear_one(mm, ptep);
}

/// get_and_clear_full_ptes(): the first entry with young/dirty of the others ORed in (pgtable.h).
pte_t generic_pgtable::get_and_clear_full_ptes(mm_struct *mm, std::uint64_t /*addr*/, hw_ptep ptep,
                                               unsigned nr, int /*full*/) {
    check_batch("get_and_clear_full_ptes", ptep, nr, true);
    m_.assert_ptl_held(ptep, "get_and_clear_full_ptes");
    pte_t pte = get_and_clear_one(mm, ptep);
    for (unsigned i = 1; i < nr; ++i) {
        const pte_t tmp = get_and_clear_one(mm, hw_pte_add(ptep, i));
        if (pte_dirty(tmp))
            pte = pte_mkdirty(pte);
        if (pte_young(tmp))
            pte = pte_mkyoung(pte);
    }
    return pte;
}

void generic_pgtable::clear_full_ptes(mm_struct *mm, std::uint64_t /*addr*/, hw_ptep ptep,
                                      unsigned nr, int /*full*/) {
    check_batch("clear_full_ptes", ptep, nr, true);
    m_.assert_ptl_held(ptep, "clear_full_ptes");
    for (unsigned i = 0; i < nr; ++i)
        get_and_clear_one(mm, hw_pte_add(ptep, i));
}

/// ptep_test_and_clear_young(): if young, write it old; no flush (mm/pgtable-generic.c).
bool generic_pgtable::test_and_clear_young_one(mm_struct *mm, hw_ptep ptep) {
    const pte_t pte = m_.read(ptep);
    if (!pte_young(pte))
        return false;
    m_.page_table_check_ptes_set(mm, ptep, pte_mkold(pte), 1);
    m_.write(ptep, pte_mkold(pte));
    return true;
}

bool generic_pgtable::ptep_test_and_clear_young(vm_area_struct *vma, std::uint64_t /*addr*/,
                                                hw_ptep ptep) {
    m_.assert_ptl_held(ptep, "ptep_test_and_clear_young");
    return test_and_clear_young_one(vma->vm_mm, ptep);
}

/// ptep_clear_flush_young(): plus a page flush if the entry was young.
bool generic_pgtable::ptep_clear_flush_young(vm_area_struct *vma, std::uint64_t addr,
                                             hw_ptep ptep) {
    m_.assert_ptl_held(ptep, "ptep_clear_flush_young");
    const bool young = test_and_clear_young_one(vma->vm_mm, ptep);
    if (young)
        m_.flush_tlb_page(addr);
    return young;
}

/// clear_flush_young_ptes(): ptep_clear_flush_young() on each entry (pgtable.h).
bool generic_pgtable::clear_flush_young_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                             unsigned nr) {
    check_batch("clear_flush_young_ptes", ptep, nr, true);
    bool young = false;
    for (unsigned i = 0; i < nr; ++i)
        young |= ptep_clear_flush_young(vma, addr + i * m_.geo().page_size(), hw_pte_add(ptep, i));
    return young;
}

/// clear_young_dirty_ptes(): young only is a loop of test-and-clear; otherwise each entry is
/// cleared, made old and/or clean, and set again (pgtable.h). No flush.
void generic_pgtable::clear_young_dirty_ptes(vm_area_struct *vma, std::uint64_t /*addr*/,
                                             hw_ptep ptep, unsigned nr, cydp_t flags) {
    check_batch("clear_young_dirty_ptes", ptep, nr, true);
    m_.assert_ptl_held(ptep, "clear_young_dirty_ptes");
    for (unsigned i = 0; i < nr; ++i) {
        const hw_ptep p = hw_pte_add(ptep, i);
        if (flags == CYDP_CLEAR_YOUNG) {
            test_and_clear_young_one(vma->vm_mm, p);
            continue;
        }
        pte_t pte = get_and_clear_one(vma->vm_mm, p);
        if ((flags & CYDP_CLEAR_YOUNG) != 0)
            pte = pte_mkold(pte);
        if ((flags & CYDP_CLEAR_DIRTY) != 0)
            pte = pte_mkclean(pte);
        m_.page_table_check_ptes_set(vma->vm_mm, p, pte, 1);
        m_.write(p, pte);
    }
}

/// wrprotect_ptes(): ptep_set_wrprotect() on each entry: read, wrprotect, write (pgtable.h).
void generic_pgtable::wrprotect_ptes(mm_struct *mm, std::uint64_t /*addr*/, hw_ptep ptep,
                                     unsigned nr) {
    check_batch("wrprotect_ptes", ptep, nr, true);
    m_.assert_ptl_held(ptep, "wrprotect_ptes");
    for (unsigned i = 0; i < nr; ++i) {
        const hw_ptep p = hw_pte_add(ptep, i);
        const pte_t pte = pte_wrprotect(m_.read(p));
        m_.page_table_check_ptes_set(mm, p, pte, 1);
        m_.write(p, pte);
    }
}

/// ptep_set_access_flags(): write if changed and fix up a spurious fault with a page flush;
/// returns whether it changed (mm/pgtable-generic.c).
int generic_pgtable::ptep_set_access_flags(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                           pte_t entry, int /*dirty*/) {
    m_.assert_ptl_held(ptep, "ptep_set_access_flags");
    const bool changed = !pte_same(m_.read(ptep), entry);
    if (changed) {
        m_.page_table_check_ptes_set(vma->vm_mm, ptep, entry, 1);
        m_.write(ptep, entry);
        m_.flush_tlb_page(addr); // flush_tlb_fix_spurious_fault()
    }
    return changed ? 1 : 0;
}

/// modify_prot_start_ptes(): get_and_clear each entry, young/dirty ORed into the first.
pte_t generic_pgtable::modify_prot_start_ptes(vm_area_struct *vma, std::uint64_t addr, hw_ptep ptep,
                                              unsigned nr) {
    return get_and_clear_full_ptes(vma->vm_mm, addr, ptep, nr, 0);
}

/// modify_prot_commit_ptes(): set_pte_at() each entry, advancing the PFN only.
void generic_pgtable::modify_prot_commit_ptes(vm_area_struct *vma, std::uint64_t /*addr*/,
                                              hw_ptep ptep, pte_t /*old_pte*/, pte_t pte,
                                              unsigned nr) {
    check_batch("modify_prot_commit_ptes", ptep, nr, false);
    m_.assert_ptl_held(ptep, "modify_prot_commit_ptes");
    for (unsigned i = 0; i < nr; ++i) {
        const hw_ptep p = hw_pte_add(ptep, i);
        m_.page_table_check_ptes_set(vma->vm_mm, p, pte, 1);
        m_.write(p, pte);
        pte = pte_next_pfn(pte);
    }
}

void generic_pgtable::set_ptes(mm_struct *mm, std::uint64_t /*addr*/, staged_ptep ptep, pte_t pte,
                               unsigned nr) {
    if (nr == 0 || nr > m_.geo().ptrs_per_pte())
        throw api_misuse("set_ptes(staged): nr out of range");
    m_.page_table_check_ptes_set(mm, ptep, pte, nr);
    for (unsigned i = 0; i < nr; ++i) {
        m_.write(ptep, pte);
        ptep = staged_pte_next(ptep);
        pte = pte_next_pfn(pte);
    }
}

pte_t generic_pgtable::ptep_get(staged_ptep ptep) {
    return m_.read(ptep);
}

} // namespace mmfuzz
