// The contpte layer: the functions of arch/arm64/mm/contpte.c (and the inline contpte_try_fold()/
// contpte_try_unfold() of arch/arm64/include/asm/pgtable.h), over the raw layer only.
#include "arch/arm64_contpte/arm64_contpte.hpp"

#include <string>

namespace mmfuzz {

namespace {

hw_ptep entry_add(hw_ptep p, std::size_t n) {
    return hw_pte_add(p, static_cast<std::ptrdiff_t>(n));
}
staged_ptep entry_add(staged_ptep p, std::size_t n) {
    return staged_pte_add(p, static_cast<std::ptrdiff_t>(n));
}

/// orig_pte with the young and dirty a scan of its block gathered.
pte_t with_gathered(pte_t orig_pte, bool young, bool dirty) {
    if (dirty)
        orig_pte = pte_mkdirty(orig_pte);
    if (young)
        orig_pte = pte_mkyoung(orig_pte);
    return orig_pte;
}

/// The young and dirty bits of the entries of a block, ORed into orig_pte. Reading stops once
/// both have been seen, as contpte_ptep_get() (arch/arm64/mm/contpte.c) does.
template <typename P>
pte_t gather_young_dirty(const arm64_contpte_pgtable &impl, P first, pte_t orig_pte) {
    bool young = false;
    bool dirty = false;
    for (std::size_t i = 0; i < impl.cont_ptes() && !(young && dirty); ++i) {
        const pte_t pte = impl.__ptep_get(entry_add(first, i));
        dirty = dirty || pte_dirty(pte);
        young = young || pte_young(pte);
    }
    return with_gathered(orig_pte, young, dirty);
}

} // namespace

/// contpte_convert() (contpte.c): break-before-make over the whole block. Every entry is
/// exchanged with 0 (through __ptep_get_and_clear(), so page_table_check sees clear then set),
/// young/dirty are ORed into a base entry with the block-aligned PFN and pte's protection, the
/// block is flushed at the last level, and all CONT_PTES entries are written from the base.
/// With FEAT_BBML2_NOABORT the intermediate flush is elided; the caller's flush covers it.
template <typename P>
void arm64_contpte_pgtable::contpte_convert(mm_struct *mm, std::uint64_t addr, P ptep, pte_t pte) {
    const geometry &g = m_.geo();
    const std::size_t nr = cont_ptes();
    const P start_ptep = block_start(ptep, addr);
    const std::uint64_t start_addr = g.cont_align_down(addr);
    pte = pfn_pte(pte_pfn(pte) & ~pfn_t{nr - 1}, pte_pgprot(pte));
    // Canary: an unfold that loses the dirty bits the hardware set on the block's other entries.
    const bool gather_dirty = pte_cont(pte) || !canaries.on(canary::unfold_drops_dirty);

    for (std::size_t i = 0; i < nr; ++i) {
        const pte_t ptent =
            __ptep_get_and_clear(mm, start_addr + i * g.page_size(), entry_add(start_ptep, i));
        if (gather_dirty && pte_dirty(ptent))
            pte = pte_mkdirty(pte);
        if (pte_young(ptent))
            pte = pte_mkyoung(pte);
    }

    // Canary: a convert that forgets the flush between break and make without BBML2.
    if (!m_.options().bbml2_noabort && !canaries.on(canary::convert_skips_flush))
        __flush_tlb_range(start_addr, start_addr + cont_pte_size(), g.page_size(), true,
                          tlb_level_pte);

    __set_ptes(mm, start_addr, start_ptep, pte, static_cast<unsigned>(nr));
}

/// contpte_try_fold() (asm/pgtable.h): only worth trying when addr is the last entry of its
/// block and the PFN the last of its PFN block, for a valid, not yet CONT, not special entry
/// (special mappings have no folio to check).
template <typename P>
void arm64_contpte_pgtable::contpte_try_fold(mm_struct *mm, std::uint64_t addr, P ptep, pte_t pte) {
    const std::uint64_t contmask = cont_ptes() - 1;
    const bool valign = ((addr >> m_.geo().page_shift) & contmask) == contmask;
    if (!valign)
        return;
    const bool palign = (pte_pfn(pte) & contmask) == contmask;
    if (palign && pte_valid(pte) && !pte_cont(pte) && !pte_special(pte))
        __contpte_try_fold(mm, addr, ptep, pte);
}

/// __contpte_try_fold() (contpte.c): a user mm, one folio covering the whole block, and every
/// entry equal to the expected one under mkold(mkclean()) with consecutive PFNs from the aligned
/// PFN (so all valid, contiguous, same protection); then convert with CONT set.
template <typename P>
void arm64_contpte_pgtable::__contpte_try_fold(mm_struct *mm, std::uint64_t addr, P ptep,
                                               pte_t pte) {
    if (!mm_is_user(mm))
        return;

    const geometry &g = m_.geo();
    const folio *f = m_.pfn_folio(pte_pfn(pte));
    if (f == nullptr)
        return;
    const std::uint64_t folio_start = addr - (pte_pfn(pte) - f->pfn) * g.page_size();
    const std::uint64_t folio_end = folio_start + f->nr_pages() * g.page_size();
    const std::uint64_t cont_start = g.cont_align_down(addr);
    const std::uint64_t cont_end = cont_start + cont_pte_size();
    // Canary: a fold that trusts the PFNs without asking which folio they belong to.
    if ((folio_start > cont_start || folio_end < cont_end) &&
        !canaries.on(canary::fold_ignores_folio))
        return;

    const pfn_t pfn = pte_pfn(pte) & ~pfn_t{cont_ptes() - 1};
    pte_t expected = pfn_pte(pfn, pte_pgprot(pte_mkold(pte_mkclean(pte))));
    const P first = block_start(ptep, addr);
    // Canaries: a fold that checks the block's protection but not that its PFNs are
    // consecutive, or its PFNs but not that every entry has the same protection.
    const bool check_pfn = !canaries.on(canary::fold_ignores_pfn_contiguity);
    const bool check_prot = !canaries.on(canary::fold_ignores_prot);
    for (std::size_t i = 0; i < cont_ptes(); ++i) {
        pte_t subpte = pte_mkold(pte_mkclean(__ptep_get(entry_add(first, i))));
        if (!check_pfn && pte_present(subpte))
            subpte = pfn_pte(pte_pfn(expected), pte_pgprot(subpte));
        if (!check_prot && pte_valid(subpte))
            subpte = pfn_pte(pte_pfn(subpte), pte_pgprot(expected));
        if (!pte_same(subpte, expected))
            return;
        expected = pte_advance_pfn(expected, 1);
    }

    contpte_convert(mm, addr, ptep, pte_mkcont(pte));
}

/// contpte_try_unfold() (asm/pgtable.h): only a valid CONT entry has a block to unfold.
template <typename P>
void arm64_contpte_pgtable::contpte_try_unfold(mm_struct *mm, std::uint64_t addr, P ptep,
                                               pte_t pte) {
    if (pte_valid_cont(pte))
        __contpte_try_unfold(mm, addr, ptep, pte);
}

/// __contpte_try_unfold() (contpte.c): convert without CONT, for user mms only.
template <typename P>
void arm64_contpte_pgtable::__contpte_try_unfold(mm_struct *mm, std::uint64_t addr, P ptep,
                                                 pte_t pte) {
    if (!mm_is_user(mm))
        return;
    contpte_convert(mm, addr, ptep, pte_mknoncont(pte));
}

/// contpte_set_ptes() (contpte.c), nr > 1 over non-present entries: split at block boundaries;
/// a chunk that is a whole block with a block-aligned PFN is written with CONT, any other chunk
/// without. No unfold, no folio check, no fold attempt.
template <typename P>
void arm64_contpte_pgtable::contpte_set_ptes(mm_struct *mm, std::uint64_t addr, P ptep, pte_t pte,
                                             unsigned nr) {
    if (!mm_is_user(mm)) {
        __set_ptes(mm, addr, ptep, pte, nr);
        return;
    }
    const unsigned shift = m_.geo().page_shift;
    const std::uint64_t end = addr + (std::uint64_t{nr} << shift);
    pfn_t pfn = pte_pfn(pte);
    const pgprot_t prot = pte_pgprot(pte);
    do {
        const std::uint64_t next = pte_cont_addr_end(addr, end);
        const auto chunk = static_cast<unsigned>((next - addr) >> shift);
        pte = pfn_pte(pfn, prot);
        // Canary: the CONT decision tests the VA range of the chunk but not its PFN alignment.
        const std::uint64_t pa = canaries.on(canary::set_ptes_cont_misaligned) ? 0 : pfn << shift;
        if (((addr | next | pa) & (cont_pte_size() - 1)) == 0)
            pte = pte_mkcont(pte);
        else
            pte = pte_mknoncont(pte);
        __set_ptes(mm, addr, ptep, pte, chunk);
        addr = next;
        ptep = entry_add(ptep, chunk);
        pfn += chunk;
    } while (addr != end);
}

/// set_ptes() (asm/pgtable.h): CONT is private, so it is cleared from the input. A single
/// entry may replace anything: unfold the block it lands in, write, and try to fold again.
template <typename P>
void arm64_contpte_pgtable::arch_set_ptes(mm_struct *mm, std::uint64_t addr, P ptep, pte_t pte,
                                          unsigned nr) {
    pte = pte_mknoncont(pte);
    if (nr == 1) {
        contpte_try_unfold(mm, addr, ptep, __ptep_get(ptep));
        __set_ptes(mm, addr, ptep, pte, 1);
        contpte_try_fold(mm, addr, ptep, pte);
    } else {
        contpte_set_ptes(mm, addr, ptep, pte, nr);
    }
}

/// contpte_try_unfold_partial() (contpte.c): unfold the first block if the range starts inside it
/// or is shorter than a block, and the last block if the range ends inside it.
void arm64_contpte_pgtable::contpte_try_unfold_partial(mm_struct *mm, std::uint64_t addr,
                                                       hw_ptep ptep, unsigned nr) {
    if (ptep != contpte_align_down(ptep) || nr < cont_ptes())
        contpte_try_unfold(mm, addr, ptep, __ptep_get(ptep));

    const hw_ptep end = hw_pte_add(ptep, nr);
    if (end != contpte_align_down(end)) {
        const std::uint64_t last_addr = addr + m_.geo().page_size() * (nr - 1);
        const hw_ptep last_ptep = hw_pte_add(ptep, nr - 1);
        contpte_try_unfold(mm, last_addr, last_ptep, __ptep_get(last_ptep));
    }
}

/// contpte_align_addr_ptep() (contpte.c): when the last entry is CONT, end moves up to its block
/// end; when the first is, start and ptep move down to its block start.
hw_ptep arm64_contpte_pgtable::contpte_align_addr_ptep(std::uint64_t &start, std::uint64_t &end,
                                                       hw_ptep ptep, unsigned nr) {
    if (pte_cont(__ptep_get(hw_pte_add(ptep, nr - 1))))
        end = (end + cont_pte_size() - 1) & ~(cont_pte_size() - 1);
    if (pte_cont(__ptep_get(ptep))) {
        start = m_.geo().cont_align_down(start);
        ptep = contpte_align_down(ptep);
    }
    return ptep;
}

/// contpte_ptep_get() (contpte.c): under the PTL the block cannot change, so young and dirty are
/// ORed over it.
pte_t arm64_contpte_pgtable::contpte_ptep_get(hw_ptep ptep, pte_t orig_pte) {
    return gather_young_dirty(*this, contpte_align_down(ptep), orig_pte);
}

pte_t arm64_contpte_pgtable::contpte_ptep_get(staged_ptep ptep, std::uint64_t addr,
                                              pte_t orig_pte) {
    return gather_young_dirty(*this, block_start(ptep, addr), orig_pte);
}

/// contpte_ptep_get_lockless() (contpte.c): without the PTL the block may be refolded under the
/// reader, so each entry read must be valid+CONT with the expected PFN and one protection
/// (ignoring young/dirty) or the read starts again. The scan stops once it has seen both a
/// young and a dirty entry, so entries after that go unchecked, as upstream. Nothing runs
/// concurrently in the machine, so a second inconsistent pass means the kernel would spin
/// forever: that is reported as a CONT_BLOCK violation and the entry is returned on its own.
pte_t arm64_contpte_pgtable::contpte_ptep_get_lockless(hw_ptep orig_ptep) {
    for (int pass = 0;; ++pass) {
        pte_t orig_pte = __ptep_get(orig_ptep);
        if (!pte_valid_cont(orig_pte))
            return orig_pte;

        const pgprot_t orig_prot = pte_pgprot(pte_mkold(pte_mkclean(orig_pte)));
        const hw_ptep first = contpte_align_down(orig_ptep);
        const pfn_t pfn = pte_pfn(orig_pte) - static_cast<pfn_t>(hw_pte_distance(first, orig_ptep));
        std::size_t bad = cont_ptes();
        bool young = false;
        bool dirty = false;
        for (std::size_t i = 0; i < cont_ptes() && !(young && dirty); ++i) {
            const pte_t pte = __ptep_get(entry_add(first, i));
            const pgprot_t prot = pte_pgprot(pte_mkold(pte_mkclean(pte)));
            if (!pte_valid_cont(pte) || pte_pfn(pte) != pfn + i || prot != orig_prot) {
                bad = i;
                break;
            }
            dirty = dirty || pte_dirty(pte);
            young = young || pte_young(pte);
        }
        orig_pte = with_gathered(orig_pte, young, dirty);
        if (bad == cont_ptes())
            return orig_pte;
        if (pass > 0) {
            m_.report("CONT_BLOCK",
                      "ptep_get_lockless: entry " + std::to_string(bad) +
                          " of the CONT block at index " + std::to_string(m_.index_of(first)) +
                          " is inconsistent with entry " + std::to_string(m_.index_of(orig_ptep)) +
                          "; the retry loop would not end");
            return __ptep_get(orig_ptep);
        }
    }
}

void arm64_contpte_pgtable::contpte_clear_full_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep,
                                                    unsigned nr, int full) {
    contpte_try_unfold_partial(mm, addr, ptep, nr);
    __clear_full_ptes(mm, addr, ptep, nr, full);
}

pte_t arm64_contpte_pgtable::contpte_get_and_clear_full_ptes(mm_struct *mm, std::uint64_t addr,
                                                             hw_ptep ptep, unsigned nr, int full) {
    contpte_try_unfold_partial(mm, addr, ptep, nr);
    return __get_and_clear_full_ptes(mm, addr, ptep, nr, full);
}

/// contpte_test_and_clear_young_ptes() (contpte.c): core code tracks access per folio and a block
/// is mapped by one folio, so the range is widened to whole CONT blocks and AF cleared on all of
/// them instead of unfolding. No flush.
bool arm64_contpte_pgtable::contpte_test_and_clear_young_ptes(vm_area_struct *vma,
                                                              std::uint64_t addr, hw_ptep ptep,
                                                              unsigned nr) {
    std::uint64_t end = addr + nr * m_.geo().page_size();
    bool young = false;
    ptep = contpte_align_addr_ptep(addr, end, ptep, nr);
    for (; addr != end; ptep = hw_pte_next(ptep), addr += m_.geo().page_size())
        young |= __ptep_test_and_clear_young(vma, addr, ptep);
    return young;
}

/// contpte_clear_flush_young_ptes() (contpte.c): if anything was young, flush the widened range
/// at the last level without waiting for completion.
bool arm64_contpte_pgtable::contpte_clear_flush_young_ptes(vm_area_struct *vma, std::uint64_t addr,
                                                           hw_ptep ptep, unsigned nr) {
    const bool young = contpte_test_and_clear_young_ptes(vma, addr, ptep, nr);
    // Canary: the flush of the widened range is skipped, as in the no-flush young clear.
    if (young && !canaries.on(canary::clear_flush_young_skips_flush)) {
        std::uint64_t end = addr + nr * m_.geo().page_size();
        contpte_align_addr_ptep(addr, end, ptep, nr);
        __flush_tlb_range_nosync(addr, end, m_.geo().page_size(), true, tlb_level_pte);
    }
    return young;
}

/// contpte_wrprotect_ptes() (contpte.c): a block wholly inside the range stays CONT (the caller's
/// mmu_gather flush makes it read-only everywhere); a partly covered one must be unfolded first,
/// since CONT entries with different permissions are unpredictable.
void arm64_contpte_pgtable::contpte_wrprotect_ptes(mm_struct *mm, std::uint64_t addr, hw_ptep ptep,
                                                   unsigned nr) {
    // Canary: a partly covered edge block keeps PTE_CONT with mixed permissions.
    if (!canaries.on(canary::wrprotect_partial_no_unfold))
        contpte_try_unfold_partial(mm, addr, ptep, nr);
    __wrprotect_ptes(mm, addr, ptep, nr);
}

/// contpte_clear_young_dirty_ptes() (contpte.c): clearing A/D needs no unfold; a range that starts
/// or ends inside a CONT block is widened to the whole block (A/D are per folio). No flush.
void arm64_contpte_pgtable::contpte_clear_young_dirty_ptes(vm_area_struct *vma, std::uint64_t addr,
                                                           hw_ptep ptep, unsigned nr,
                                                           cydp_t flags) {
    std::uint64_t start = addr;
    std::uint64_t end = start + nr * m_.geo().page_size();
    ptep = contpte_align_addr_ptep(start, end, ptep, nr);
    __clear_young_dirty_ptes(vma, start, ptep,
                             static_cast<unsigned>((end - start) >> m_.geo().page_shift), flags);
}

/// contpte_all_subptes_match_access_flags() (contpte.c): whether every entry of the block already
/// has entry's RDONLY, AF, WRITE and DIRTY, compared raw and per entry.
bool arm64_contpte_pgtable::contpte_all_subptes_match_access_flags(hw_ptep ptep, pte_t entry) {
    constexpr pteval_t cmp_mask = PTE_RDONLY | PTE_AF | PTE_WRITE | PTE_DIRTY;
    const hw_ptep first = contpte_align_down(ptep);
    for (std::size_t i = 0; i < cont_ptes(); ++i)
        if ((pte_val(__ptep_get(entry_add(first, i))) & cmp_mask) != (pte_val(entry) & cmp_mask))
            return false;
    return true;
}

/// contpte_ptep_set_access_flags() (contpte.c, with the 2026 fix that compares raw entries):
/// a no-op only if every entry already matches; if the write bit of the target is unchanged,
/// the flags are applied to every entry and the block flushed once if dirty; if it changes,
/// the block is unfolded and only the target updated.
///
/// SEMANTICS 1.6 describes the no-op test as "every entry already has the same {RDONLY, AF,
/// WRITE, DIRTY}"; the kernel compares each entry with the requested entry, which is what this
/// does. The write-bit decision uses the raw target, not the gathered view.
int arm64_contpte_pgtable::contpte_ptep_set_access_flags(vm_area_struct *vma, std::uint64_t addr,
                                                         hw_ptep ptep, pte_t entry, int dirty) {
    if (canaries.on(canary::set_access_flags_gathered_noop)
            ? pte_val(pte_mknoncont(ptep_get(ptep))) == pte_val(entry)
            : contpte_all_subptes_match_access_flags(ptep, entry))
        return 0;

    const pte_t orig_pte = pte_mknoncont(__ptep_get(ptep));
    if (pte_write(orig_pte) == pte_write(entry)) {
        const geometry &g = m_.geo();
        const hw_ptep first = contpte_align_down(ptep);
        const std::uint64_t start_addr = g.cont_align_down(addr);
        for (std::size_t i = 0; i < cont_ptes(); ++i)
            __ptep_set_access_flags(vma, start_addr + i * g.page_size(), entry_add(first, i), entry,
                                    0);
        if (dirty != 0)
            __flush_tlb_range(start_addr, start_addr + cont_pte_size(), g.page_size(), true,
                              tlb_level_pte);
    } else {
        if (!canaries.on(canary::set_access_flags_no_unfold))
            __contpte_try_unfold(vma->vm_mm, addr, ptep, orig_pte);
        __ptep_set_access_flags(vma, addr, ptep, entry, dirty);
    }
    return 1;
}

template void arm64_contpte_pgtable::contpte_convert(mm_struct *, std::uint64_t, hw_ptep, pte_t);
template void arm64_contpte_pgtable::contpte_convert(mm_struct *, std::uint64_t, staged_ptep,
                                                     pte_t);
template void arm64_contpte_pgtable::contpte_try_fold(mm_struct *, std::uint64_t, hw_ptep, pte_t);
template void arm64_contpte_pgtable::contpte_try_fold(mm_struct *, std::uint64_t, staged_ptep,
                                                      pte_t);
template void arm64_contpte_pgtable::__contpte_try_fold(mm_struct *, std::uint64_t, hw_ptep, pte_t);
template void arm64_contpte_pgtable::__contpte_try_fold(mm_struct *, std::uint64_t, staged_ptep,
                                                        pte_t);
template void arm64_contpte_pgtable::contpte_try_unfold(mm_struct *, std::uint64_t, hw_ptep, pte_t);
template void arm64_contpte_pgtable::contpte_try_unfold(mm_struct *, std::uint64_t, staged_ptep,
                                                        pte_t);
template void arm64_contpte_pgtable::__contpte_try_unfold(mm_struct *, std::uint64_t, hw_ptep,
                                                          pte_t);
template void arm64_contpte_pgtable::__contpte_try_unfold(mm_struct *, std::uint64_t, staged_ptep,
                                                          pte_t);
template void arm64_contpte_pgtable::contpte_set_ptes(mm_struct *, std::uint64_t, hw_ptep, pte_t,
                                                      unsigned);
template void arm64_contpte_pgtable::contpte_set_ptes(mm_struct *, std::uint64_t, staged_ptep,
                                                      pte_t, unsigned);
template void arm64_contpte_pgtable::arch_set_ptes(mm_struct *, std::uint64_t, hw_ptep, pte_t,
                                                   unsigned);
template void arm64_contpte_pgtable::arch_set_ptes(mm_struct *, std::uint64_t, staged_ptep, pte_t,
                                                   unsigned);

} // namespace mmfuzz
