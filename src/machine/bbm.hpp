// Break-before-make rules: which changes of a live translation may be made in place, and which
// need the old translation invalidated and flushed from the TLB before the new one is written.
//
// The rules follow the kernel rather than SEMANTICS 7 where the two differ:
//
// * pgattr_change_is_safe() (arch/arm64/mm/mmu.c) is the base for a direct live->live write:
//   a PFN change, a CONT change, nG->global, a memory-type change other than Normal<->Tagged
//   and any other attribute change outside {PXN, RDONLY, WRITE/DBM, nG} need BBM.
// * AF is not a BBM attribute for user mappings, contrary to SEMANTICS 7: arm64 clears AF in place
//   (__ptep_test_and_clear_young(), a cmpxchg on a live entry) and sets AF/dirty in place
//   (__ptep_set_access_flags()), and hardware sets AF and DBM-dirty itself. Software bits (55-58,
//   ignored by hardware) may change freely for the same reason (PTE_DIRTY, PTE_UFFD_WP...).
// * "Live contiguous mappings may not be manipulated at all" (pgattr_change_is_safe) is too strict
//   for user contpte: contpte_ptep_set_access_flags(), contpte_wrprotect_ptes() and
//   contpte_clear_young_dirty_ptes() change AF/RDONLY/WRITE/DIRTY of live CONT entries without
//   unfolding. What needs BBM is *changing* CONT, not writing an entry that has it.
// * Across an invalid step that was not flushed (break without flush, then make), the TLB may
//   still hold the old translation, so the same rules apply, except for the permission bits
//   (UXN, USER, GP): mprotect does exactly that — modify_prot_start_ptes() clears without a flush
//   (arch/arm64/mm/mmu.c, unless erratum 2645198), modify_prot_commit_ptes() writes the new
//   prot, and the range is flushed at the end (mm/mprotect.c) — which the ARM ARM permits for
//   permission changes.
// * BBML2_NOABORT allows a change of translation size (CONT set/cleared, block<->table) without
//   BBM as long as the output address and attributes agree: contpte_convert() skips its
//   intermediate flush (arch/arm64/mm/contpte.c) and split_contpte()/split_pmd() repaint live
//   kernel entries in place (arch/arm64/mm/mmu.c).
#pragma once

#include "pgtable/pte.hpp"

namespace mmfuzz::bbm {

/// MT_NORMAL_TAGGED (arch/arm64/include/asm/memory.h): Normal <-> Normal-Tagged is safe.
constexpr unsigned MT_NORMAL_TAGGED = 1;
/// Bits 55-58: reserved for software, ignored by the hardware walker.
constexpr pteval_t SW_BITS = pteval_t{0xf} << 55;
/// Bits a live entry may change in place: pgattr_change_is_safe()'s mask plus AF and software.
constexpr pteval_t SAFE_LIVE = PTE_PXN | PTE_RDONLY | PTE_WRITE | PTE_NG | PTE_AF | SW_BITS;
/// Permission bits that may change across an unflushed invalid step (mprotect, see above).
constexpr pteval_t SAFE_ACROSS_BREAK = SAFE_LIVE | PTE_UXN | PTE_USER | PTE_GP;

/// Why replacing the valid translation `old_val` by the valid translation `new_val` of the same
/// address needs break-before-make, or nullptr if it does not. Both are leaf descriptors at the
/// same level, PFNs already adjusted to the same page. `via_break`: an invalid value was written
/// in between but the TLB was not flushed. `size_change`: the translation size differs in a way
/// the CONT bits do not show (a PMD block replaced by PTEs, or the reverse).
const char *change_needs_bbm(pteval_t old_val, pteval_t new_val, bool via_break, bool size_change,
                             bool bbml2_noabort);

} // namespace mmfuzz::bbm
