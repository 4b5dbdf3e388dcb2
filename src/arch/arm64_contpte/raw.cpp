// The raw layer: the "__" primitives of arch/arm64/include/asm/pgtable.h over the machine. They
// act on the entries they are given and never look at PTE_CONT; the contpte layer decides which
// entries those are.
#include "arch/arm64_contpte/arm64_contpte.hpp"

#include <string>

namespace mmfuzz {

/// __ptep_get(): READ_ONCE() of the entry.
pte_t arm64_contpte_pgtable::__ptep_get(hw_ptep ptep) const {
    return m_.read_once(ptep);
}

pte_t arm64_contpte_pgtable::__ptep_get(staged_ptep ptep) const {
    return m_.read(ptep);
}

/// __set_pte(): a plain store (WRITE_ONCE()).
void arm64_contpte_pgtable::__set_pte(hw_ptep ptep, pte_t pte) {
    m_.write(ptep, pte);
}

/// The PTL serializes every software writer, so a cmpxchg only races with the hardware's A/D
/// updates; an exchange that would store the value already there is not observable and is
/// not stored.
pte_t arm64_contpte_pgtable::ptep_cmpxchg_relaxed(hw_ptep ptep, pte_t old_pte, pte_t new_pte) {
    const pte_t cur = m_.read(ptep);
    if (cur == old_pte && new_pte != old_pte)
        m_.write(ptep, new_pte);
    return cur;
}

/// __set_ptes() (__set_ptes_anysz() at PAGE_SIZE): the page_table_check hook for the whole range,
/// then one store per entry advancing the PFN (asm/pgtable.h).
void arm64_contpte_pgtable::__set_ptes(mm_struct *mm, std::uint64_t /*addr*/, hw_ptep ptep,
                                       pte_t pte, unsigned nr) {
    m_.page_table_check_ptes_set(mm, ptep, pte, nr);
    for (;;) {
        __set_pte(ptep, pte);
        if (--nr == 0)
            break;
        ptep = hw_pte_next(ptep);
        pte = pte_next_pfn(pte);
    }
}

void arm64_contpte_pgtable::__set_ptes(mm_struct *mm, std::uint64_t /*addr*/, staged_ptep ptep,
                                       pte_t pte, unsigned nr) {
    m_.page_table_check_ptes_set(mm, ptep, pte, nr);
    for (;;) {
        m_.write(ptep, pte);
        if (--nr == 0)
            break;
        ptep = staged_pte_next(ptep);
        pte = pte_next_pfn(pte);
    }
}

/// __ptep_get_and_clear(): xchg the entry with 0, then the page_table_check clear hook.
pte_t arm64_contpte_pgtable::__ptep_get_and_clear(mm_struct *mm, std::uint64_t /*addr*/,
                                                  hw_ptep ptep) {
    const pte_t pte = m_.xchg(ptep, pte_t{0});
    m_.page_table_check_pte_clear(mm, pte);
    return pte;
}

pte_t arm64_contpte_pgtable::__ptep_get_and_clear(mm_struct *mm, std::uint64_t /*addr*/,
                                                  staged_ptep ptep) {
    const pte_t pte = m_.read(ptep);
    m_.write(ptep, pte_t{0});
    m_.page_table_check_pte_clear(mm, pte);
    return pte;
}

/// __pte_clear(): store 0, with no page_table_check hook (asm/pgtable.h).
void arm64_contpte_pgtable::__pte_clear(mm_struct * /*mm*/, std::uint64_t /*addr*/, hw_ptep ptep) {
    __set_pte(ptep, pte_t{0});
}

/// __ptep_test_and_clear_young(): cmpxchg loop clearing AF; returns the old AF. No flush.
bool arm64_contpte_pgtable::__ptep_test_and_clear_young(vm_area_struct * /*vma*/,
                                                        std::uint64_t /*addr*/, hw_ptep ptep) {
    pte_t pte = __ptep_get(ptep);
    pte_t old_pte;
    do {
        old_pte = pte;
        pte = ptep_cmpxchg_relaxed(ptep, old_pte, pte_mkold(old_pte));
    } while (pte != old_pte);
    return pte_young(pte);
}

/// __ptep_clear_flush_young(): plus flush_tlb_page_nosync() of the page if it was young.
bool arm64_contpte_pgtable::__ptep_clear_flush_young(vm_area_struct *vma, std::uint64_t addr,
                                                     hw_ptep ptep) {
    const bool young = __ptep_test_and_clear_young(vma, addr, ptep);
    if (young)
        m_.flush_tlb_page(addr);
    return young;
}

/// ___ptep_set_wrprotect(): cmpxchg loop starting from the caller's view of the entry; a stale
/// view (an unfold happened in between) just costs one more round.
void arm64_contpte_pgtable::___ptep_set_wrprotect(mm_struct * /*mm*/, std::uint64_t /*addr*/,
                                                  hw_ptep ptep, pte_t pte) {
    pte_t old_pte;
    do {
        old_pte = pte;
        pte = ptep_cmpxchg_relaxed(ptep, old_pte, pte_wrprotect(old_pte));
    } while (pte != old_pte);
}

void arm64_contpte_pgtable::__ptep_set_wrprotect(mm_struct *mm, std::uint64_t addr, hw_ptep ptep) {
    ___ptep_set_wrprotect(mm, addr, ptep, __ptep_get(ptep));
}

void arm64_contpte_pgtable::__wrprotect_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep,
                                             unsigned nr) {
    for (unsigned i = 0; i < nr; ++i)
        __ptep_set_wrprotect(mm, addr + i * m_.geo().page_size(), hw_pte_add(ptep, i));
}

/// __clear_young_dirty_pte(): cmpxchg loop making the entry old and/or clean.
void arm64_contpte_pgtable::__clear_young_dirty_pte(vm_area_struct * /*vma*/,
                                                    std::uint64_t /*addr*/, hw_ptep ptep, pte_t pte,
                                                    cydp_t flags) {
    pte_t old_pte;
    do {
        old_pte = pte;
        pte_t want = old_pte;
        if ((flags & CYDP_CLEAR_YOUNG) != 0)
            want = pte_mkold(want);
        if ((flags & CYDP_CLEAR_DIRTY) != 0)
            want = pte_mkclean(want);
        pte = ptep_cmpxchg_relaxed(ptep, old_pte, want);
    } while (pte != old_pte);
}

/// __clear_young_dirty_ptes(): clearing both is a plain store of the old+clean value, racing
/// hardware on purpose (asm/pgtable.h); one of them goes through the cmpxchg loop.
void arm64_contpte_pgtable::__clear_young_dirty_ptes(vm_area_struct *vma, std::uint64_t addr,
                                                     hw_ptep ptep, unsigned nr, cydp_t flags) {
    for (;;) {
        const pte_t pte = __ptep_get(ptep);
        if (flags == (CYDP_CLEAR_YOUNG | CYDP_CLEAR_DIRTY))
            __set_pte(ptep, pte_mkclean(pte_mkold(pte)));
        else
            __clear_young_dirty_pte(vma, addr, ptep, pte, flags);
        if (--nr == 0)
            break;
        ptep = hw_pte_next(ptep);
        addr += m_.geo().page_size();
    }
}

pte_t arm64_contpte_pgtable::access_flags_merged(pte_t old, pte_t entry) {
    constexpr pteval_t flags = PTE_RDONLY | PTE_AF | PTE_WRITE | PTE_DIRTY;
    const pteval_t want = (pte_val(entry) & flags) ^ PTE_RDONLY;
    return pte_t{((pte_val(old) ^ PTE_RDONLY) | want) ^ PTE_RDONLY};
}

/// __ptep_set_access_flags() (arch/arm64/mm/fault.c): only AF, DIRTY, WRITE and RDONLY of entry
/// are used, and only to make the entry more permissive (RDONLY becomes old AND new); returns 1
/// whenever the entry was not already pte_same() as entry, and flushes the page if dirty.
int arm64_contpte_pgtable::__ptep_set_access_flags(vm_area_struct * /*vma*/, std::uint64_t addr,
                                                   hw_ptep ptep, pte_t entry, int dirty) {
    pte_t pte = __ptep_get(ptep);
    if (pte_same(pte, entry))
        return 0;
    pte_t old_pte;
    do {
        old_pte = pte;
        pte = ptep_cmpxchg_relaxed(ptep, old_pte, access_flags_merged(old_pte, entry));
    } while (pte != old_pte);
    if (dirty != 0)
        m_.flush_tlb_page(addr);
    return 1;
}

void arm64_contpte_pgtable::__clear_full_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep,
                                              unsigned nr, int /*full*/) {
    for (;;) {
        __ptep_get_and_clear(mm, addr, ptep);
        if (--nr == 0)
            break;
        ptep = hw_pte_next(ptep);
        addr += m_.geo().page_size();
    }
}

/// __get_and_clear_full_ptes(): the first entry, with dirty and young of the others ORed in.
pte_t arm64_contpte_pgtable::__get_and_clear_full_ptes(mm_struct *mm, std::uint64_t addr,
                                                       hw_ptep ptep, unsigned nr, int /*full*/) {
    pte_t pte = __ptep_get_and_clear(mm, addr, ptep);
    while (--nr != 0) {
        ptep = hw_pte_next(ptep);
        addr += m_.geo().page_size();
        const pte_t tmp = __ptep_get_and_clear(mm, addr, ptep);
        // Canary: the batch's dirty bits other than the first entry's are lost to the caller.
        if (pte_dirty(tmp) && !canaries.on(canary::get_and_clear_full_drops_dirty))
            pte = pte_mkdirty(pte);
        if (pte_young(tmp))
            pte = pte_mkyoung(pte);
    }
    return pte;
}

/// __flush_tlb_range() (asm/tlbflush.h): the vma only names the mm, which is the machine's;
/// tlb_level is the TTL hint (tlbi_ttl_unknown for none).
void arm64_contpte_pgtable::__flush_tlb_range(std::uint64_t start, std::uint64_t end,
                                              std::uint64_t stride, bool last_level,
                                              int tlb_level) {
    m_.flush_tlb(flush_kind::range, start, end, stride, last_level, tlb_level);
}

/// __flush_tlb_range_nosync(): the same invalidation without the trailing DSB, which the
/// machine does not model separately.
void arm64_contpte_pgtable::__flush_tlb_range_nosync(std::uint64_t start, std::uint64_t end,
                                                     std::uint64_t stride, bool last_level,
                                                     int tlb_level) {
    m_.flush_tlb(flush_kind::range, start, end, stride, last_level, tlb_level);
}

hw_ptep arm64_contpte_pgtable::contpte_align_down(hw_ptep ptep) const {
    const std::size_t off = hw_pte_index(ptep, m_.geo().ptrs_per_pte()) & (cont_ptes() - 1);
    return hw_pte_add(ptep, -static_cast<std::ptrdiff_t>(off));
}

std::uint64_t arm64_contpte_pgtable::pte_cont_addr_end(std::uint64_t addr,
                                                       std::uint64_t end) const {
    const std::uint64_t boundary = (addr + cont_pte_size()) & ~(cont_pte_size() - 1);
    return boundary - 1 < end - 1 ? boundary : end;
}

hw_ptep arm64_contpte_pgtable::block_start(hw_ptep ptep, std::uint64_t /*addr*/) const {
    return contpte_align_down(ptep);
}

staged_ptep arm64_contpte_pgtable::block_start(staged_ptep ptep, std::uint64_t addr) const {
    const std::size_t off = m_.geo().pte_index(addr) & (cont_ptes() - 1);
    return staged_pte_add(ptep, -static_cast<std::ptrdiff_t>(off));
}

/// The machine gives a staged handle no index, so it is found by comparing handles of the same
/// table, starting next to the previous answer (readers walk tables in order).
std::size_t arm64_contpte_pgtable::staged_index(staged_ptep ptep) const {
    const pgtable_t table = m_.table_of(ptep);
    const std::size_t n = m_.geo().ptrs_per_pte();
    const staged_ptep base = m_.pte_offset_staged(table, 0);
    const auto is_at = [&](std::size_t i) { return i < n && staged_pte_add(base, i) == ptep; };
    std::size_t found = n;
    if (table == staged_hint_table_ && is_at(staged_hint_index_ + 1))
        found = staged_hint_index_ + 1;
    else if (table == staged_hint_table_ && is_at(staged_hint_index_))
        found = staged_hint_index_;
    for (std::size_t i = 0; found == n && i < n; ++i)
        if (is_at(i))
            found = i;
    if (found == n)
        throw api_misuse("staged handle outside its table " + std::to_string(table.pfn));
    staged_hint_table_ = table;
    staged_hint_index_ = found;
    return found;
}

} // namespace mmfuzz
