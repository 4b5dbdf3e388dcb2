// Page-table entry values with the arm64 64-bit descriptor layout (SEMANTICS 1.2).
//
// Bits and helpers follow arch/arm64/include/asm/pgtable-hwdef.h, pgtable-prot.h and pgtable.h.
// One deliberate simplification: the output-address field (bits 12..47) holds the PFN shifted by 12
// for every granule, so a PFN round-trips the same way whatever PAGE_SHIFT is. Entry values
// carry no granule; everything granule-dependent lives in `geometry`.
#pragma once

#include <cstdint>

namespace mmfuzz {

using pteval_t = std::uint64_t;
using pfn_t = std::uint64_t;

struct pte_t {
    pteval_t pte;
    friend constexpr bool operator==(pte_t, pte_t) = default;
};
struct pmd_t {
    pteval_t pmd;
    friend constexpr bool operator==(pmd_t, pmd_t) = default;
};
struct pgprot_t {
    pteval_t pgprot;
    friend constexpr bool operator==(pgprot_t, pgprot_t) = default;
};

constexpr pteval_t pte_val(pte_t p) {
    return p.pte;
}
constexpr pte_t __pte(pteval_t v) {
    return {v};
}
constexpr pteval_t pmd_val(pmd_t p) {
    return p.pmd;
}
constexpr pmd_t __pmd(pteval_t v) {
    return {v};
}
constexpr pteval_t pgprot_val(pgprot_t p) {
    return p.pgprot;
}
constexpr pgprot_t __pgprot(pteval_t v) {
    return {v};
}

constexpr pteval_t bit(unsigned n) {
    return pteval_t{1} << n;
}

// Hardware bits.
constexpr pteval_t PTE_VALID = bit(0);
constexpr pteval_t PTE_TYPE_MASK = 3;
constexpr pteval_t PTE_TYPE_PAGE = 3;
constexpr pteval_t PTE_TABLE_BIT = bit(1);
constexpr pteval_t PTE_ATTRINDX_MASK = pteval_t{7} << 2;
constexpr pteval_t PTE_ATTRINDX(unsigned t) {
    return pteval_t{t} << 2;
}
constexpr pteval_t PTE_USER = bit(6);   // AP[1]
constexpr pteval_t PTE_RDONLY = bit(7); // AP[2]
constexpr pteval_t PTE_SHARED = pteval_t{3} << 8;
constexpr pteval_t PTE_AF = bit(10);
constexpr pteval_t PTE_NG = bit(11);
constexpr pteval_t PTE_GP = bit(50);
constexpr pteval_t PTE_DBM = bit(51);
constexpr pteval_t PTE_CONT = bit(52);
constexpr pteval_t PTE_PXN = bit(53);
constexpr pteval_t PTE_UXN = bit(54);
// Software bits.
constexpr pteval_t PTE_WRITE = PTE_DBM;
constexpr pteval_t PTE_DIRTY = bit(55);
constexpr pteval_t PTE_SPECIAL = bit(56);
constexpr pteval_t PTE_UFFD_WP = bit(58);
/// Only meaningful while PTE_VALID is clear (PROT_NONE and pmdp_invalidate'd entries).
constexpr pteval_t PTE_PRESENT_INVALID = PTE_NG;
// Output address: the PFN (see the file comment).
constexpr unsigned PTE_ADDR_SHIFT = 12;
constexpr unsigned PTE_PFN_BITS = 36; // bits 12..47
constexpr pteval_t PTE_ADDR_MASK = ((pteval_t{1} << PTE_PFN_BITS) - 1) << PTE_ADDR_SHIFT;
constexpr pfn_t PFN_MAX = (pfn_t{1} << PTE_PFN_BITS) - 1;
// Swap-pte-only bits.
constexpr pteval_t PTE_SWP_EXCLUSIVE = bit(2);
constexpr pteval_t PTE_SWP_UFFD_WP = bit(3);

constexpr unsigned MT_NORMAL = 0;

// Protections, from arch/arm64/include/asm/pgtable-prot.h. All user protections carry AF, as
// _PROT_DEFAULT does, so a freshly made user entry is young.
constexpr pteval_t _PAGE_DEFAULT = PTE_TYPE_PAGE | PTE_AF | PTE_SHARED | PTE_ATTRINDX(MT_NORMAL);
constexpr pgprot_t PAGE_NONE = {(_PAGE_DEFAULT & ~PTE_VALID) | PTE_PRESENT_INVALID | PTE_RDONLY |
                                PTE_NG | PTE_PXN | PTE_UXN};
constexpr pgprot_t PAGE_SHARED = {_PAGE_DEFAULT | PTE_USER | PTE_RDONLY | PTE_NG | PTE_PXN |
                                  PTE_UXN | PTE_WRITE};
constexpr pgprot_t PAGE_SHARED_EXEC = {_PAGE_DEFAULT | PTE_USER | PTE_RDONLY | PTE_NG | PTE_PXN |
                                       PTE_WRITE};
constexpr pgprot_t PAGE_READONLY = {_PAGE_DEFAULT | PTE_USER | PTE_RDONLY | PTE_NG | PTE_PXN |
                                    PTE_UXN};
constexpr pgprot_t PAGE_READONLY_EXEC = {_PAGE_DEFAULT | PTE_USER | PTE_RDONLY | PTE_NG | PTE_PXN};
/// PAGE_KERNEL (PROT_NORMAL): global, not user-accessible, writable and hardware-dirty.
constexpr pgprot_t PAGE_KERNEL = {_PAGE_DEFAULT | PTE_PXN | PTE_UXN | PTE_WRITE};

// --- construction and fields ---------------------------------------------------------------

constexpr pte_t pfn_pte(pfn_t pfn, pgprot_t prot) {
    return {((pfn << PTE_ADDR_SHIFT) & PTE_ADDR_MASK) | (pgprot_val(prot) & ~PTE_ADDR_MASK)};
}
constexpr pfn_t pte_pfn(pte_t p) {
    return (pte_val(p) & PTE_ADDR_MASK) >> PTE_ADDR_SHIFT;
}
constexpr pgprot_t pte_pgprot(pte_t p) {
    return {pte_val(p) & ~PTE_ADDR_MASK};
}
/// pte_next_pfn(): the same entry for the next PFN (set_ptes advances with it).
constexpr pte_t pte_next_pfn(pte_t p) {
    return {pte_val(p) + (pteval_t{1} << PTE_ADDR_SHIFT)};
}
constexpr pte_t pte_advance_pfn(pte_t p, std::uint64_t nr) {
    return {pte_val(p) + (nr << PTE_ADDR_SHIFT)};
}

// --- predicates -----------------------------------------------------------------------------

constexpr bool pte_none(pte_t p) {
    return pte_val(p) == 0;
}
constexpr bool pte_valid(pte_t p) {
    return (pte_val(p) & PTE_VALID) != 0;
}
constexpr bool pte_present_invalid(pte_t p) {
    return (pte_val(p) & (PTE_VALID | PTE_PRESENT_INVALID)) == PTE_PRESENT_INVALID;
}
constexpr bool pte_present(pte_t p) {
    return pte_valid(p) || pte_present_invalid(p);
}
constexpr bool pte_cont(pte_t p) {
    return (pte_val(p) & PTE_CONT) != 0;
}
constexpr bool pte_valid_cont(pte_t p) {
    return pte_valid(p) && pte_cont(p);
}
constexpr bool pte_write(pte_t p) {
    return (pte_val(p) & PTE_WRITE) != 0;
}
constexpr bool pte_rdonly(pte_t p) {
    return (pte_val(p) & PTE_RDONLY) != 0;
}
constexpr bool pte_young(pte_t p) {
    return (pte_val(p) & PTE_AF) != 0;
}
constexpr bool pte_special(pte_t p) {
    return (pte_val(p) & PTE_SPECIAL) != 0;
}
constexpr bool pte_user(pte_t p) {
    return (pte_val(p) & PTE_USER) != 0;
}
constexpr bool pte_user_exec(pte_t p) {
    return (pte_val(p) & PTE_UXN) == 0;
}
constexpr bool pte_ng(pte_t p) {
    return (pte_val(p) & PTE_NG) != 0;
}
constexpr bool pte_uffd_wp(pte_t p) {
    return (pte_val(p) & PTE_UFFD_WP) != 0;
}
constexpr bool pte_hw_dirty(pte_t p) {
    return pte_write(p) && !pte_rdonly(p);
}
constexpr bool pte_sw_dirty(pte_t p) {
    return (pte_val(p) & PTE_DIRTY) != 0;
}
constexpr bool pte_dirty(pte_t p) {
    return pte_sw_dirty(p) || pte_hw_dirty(p);
}
/// PROT_NONE: present-invalid, not user-accessible, not user-executable.
constexpr bool pte_protnone(pte_t p) {
    return pte_present_invalid(p) && !pte_user(p) && !pte_user_exec(p);
}
/// Raw equality, as the kernel's pte_same().
constexpr bool pte_same(pte_t a, pte_t b) {
    return a == b;
}

// --- modifiers ------------------------------------------------------------------------------

constexpr pte_t set_pte_bit(pte_t p, pteval_t b) {
    return {pte_val(p) | b};
}
constexpr pte_t clear_pte_bit(pte_t p, pteval_t b) {
    return {pte_val(p) & ~b};
}

constexpr pte_t pte_mkold(pte_t p) {
    return clear_pte_bit(p, PTE_AF);
}
constexpr pte_t pte_mkyoung(pte_t p) {
    return set_pte_bit(p, PTE_AF);
}
constexpr pte_t pte_mkclean(pte_t p) {
    return set_pte_bit(clear_pte_bit(p, PTE_DIRTY), PTE_RDONLY);
}
constexpr pte_t pte_mkdirty(pte_t p) {
    p = set_pte_bit(p, PTE_DIRTY);
    return pte_write(p) ? clear_pte_bit(p, PTE_RDONLY) : p;
}
/// Dirtiness survives write-protection: hardware dirty becomes software dirty.
constexpr pte_t pte_wrprotect(pte_t p) {
    if (pte_hw_dirty(p))
        p = set_pte_bit(p, PTE_DIRTY);
    return set_pte_bit(clear_pte_bit(p, PTE_WRITE), PTE_RDONLY);
}
/// pte_mkwrite_novma(): writable, and hardware-writable at once if already dirty.
constexpr pte_t pte_mkwrite_novma(pte_t p) {
    p = set_pte_bit(p, PTE_WRITE);
    return pte_sw_dirty(p) ? clear_pte_bit(p, PTE_RDONLY) : p;
}
constexpr pte_t pte_mkspecial(pte_t p) {
    return set_pte_bit(p, PTE_SPECIAL);
}
constexpr pte_t pte_mkcont(pte_t p) {
    return set_pte_bit(p, PTE_CONT);
}
constexpr pte_t pte_mknoncont(pte_t p) {
    return clear_pte_bit(p, PTE_CONT);
}
constexpr pte_t pte_mkuffd_wp(pte_t p) {
    return set_pte_bit(pte_wrprotect(p), PTE_UFFD_WP);
}
constexpr pte_t pte_clear_uffd_wp(pte_t p) {
    return clear_pte_bit(p, PTE_UFFD_WP);
}
/// pte_mkinvalid(): present but not valid (used by pmdp_invalidate through pmd_mkinvalid).
constexpr pte_t pte_mkinvalid(pte_t p) {
    return clear_pte_bit(set_pte_bit(p, PTE_PRESENT_INVALID), PTE_VALID);
}
/// pte_modify(): new protection bits, dirtiness preserved (arm64 pgtable.h).
constexpr pte_t pte_modify(pte_t p, pgprot_t newprot) {
    constexpr pteval_t mask = PTE_USER | PTE_PXN | PTE_UXN | PTE_RDONLY | PTE_PRESENT_INVALID |
                              PTE_VALID | PTE_WRITE | PTE_GP | PTE_ATTRINDX_MASK;
    if (pte_hw_dirty(p))
        p = set_pte_bit(p, PTE_DIRTY);
    p = {(pte_val(p) & ~mask) | (pgprot_val(newprot) & mask)};
    if (pte_sw_dirty(p))
        p = pte_mkdirty(p);
    return p;
}
/// The normal form N(p) = mkold(mkclean(p)): "same prot ignoring young/dirty" (SEMANTICS 1.2).
constexpr pte_t pte_normal_form(pte_t p) {
    return pte_mkold(pte_mkclean(p));
}

// --- swap-pte flags (only on non-present, non-none entries) ---------------------------------

constexpr bool pte_swp_exclusive(pte_t p) {
    return (pte_val(p) & PTE_SWP_EXCLUSIVE) != 0;
}
constexpr pte_t pte_swp_mkexclusive(pte_t p) {
    return set_pte_bit(p, PTE_SWP_EXCLUSIVE);
}
constexpr pte_t pte_swp_clear_exclusive(pte_t p) {
    return clear_pte_bit(p, PTE_SWP_EXCLUSIVE);
}
constexpr bool pte_swp_uffd_wp(pte_t p) {
    return (pte_val(p) & PTE_SWP_UFFD_WP) != 0;
}
constexpr pte_t pte_swp_mkuffd_wp(pte_t p) {
    return set_pte_bit(p, PTE_SWP_UFFD_WP);
}
constexpr pte_t pte_swp_clear_uffd_wp(pte_t p) {
    return clear_pte_bit(p, PTE_SWP_UFFD_WP);
}

// --- PMD entries (arm64 defines most PMD helpers through the PTE ones) -----------------------

constexpr pteval_t PMD_TYPE_MASK = 3;
constexpr pteval_t PMD_TYPE_TABLE = 3;
constexpr pteval_t PMD_TYPE_SECT = 1;
constexpr pteval_t PMD_TABLE_BIT = bit(1);

constexpr pte_t pmd_pte(pmd_t p) {
    return {pmd_val(p)};
}
constexpr pmd_t pte_pmd(pte_t p) {
    return {pte_val(p)};
}

constexpr bool pmd_none(pmd_t p) {
    return pmd_val(p) == 0;
}
constexpr bool pmd_present(pmd_t p) {
    return pte_present(pmd_pte(p));
}
constexpr bool pmd_valid(pmd_t p) {
    return pte_valid(pmd_pte(p));
}
constexpr bool pmd_table(pmd_t p) {
    return (pmd_val(p) & PMD_TYPE_MASK) == PMD_TYPE_TABLE;
}
constexpr bool pmd_leaf(pmd_t p) {
    return pmd_present(p) && !pmd_table(p);
}
constexpr bool pmd_trans_huge(pmd_t p) {
    return pmd_val(p) != 0 && pmd_leaf(p);
}
constexpr bool pmd_write(pmd_t p) {
    return pte_write(pmd_pte(p));
}
constexpr bool pmd_young(pmd_t p) {
    return pte_young(pmd_pte(p));
}
constexpr bool pmd_dirty(pmd_t p) {
    return pte_dirty(pmd_pte(p));
}
constexpr bool pmd_uffd_wp(pmd_t p) {
    return pte_uffd_wp(pmd_pte(p));
}
constexpr bool pmd_same(pmd_t a, pmd_t b) {
    return a == b;
}
constexpr pfn_t pmd_pfn(pmd_t p) {
    return pte_pfn(pmd_pte(p));
}

constexpr pmd_t pmd_mkhuge(pmd_t p) {
    return {pmd_val(p) & ~PMD_TABLE_BIT};
}
constexpr pmd_t pfn_pmd(pfn_t pfn, pgprot_t prot) {
    return pte_pmd(pfn_pte(pfn, prot));
}
/// A huge (block) mapping of pfn: a page protection with the table bit cleared.
constexpr pmd_t mk_huge_pmd(pfn_t pfn, pgprot_t prot) {
    return pmd_mkhuge(pfn_pmd(pfn, prot));
}
/// The PMD entry of a table page: __pmd_populate(pmdp, pfn, PMD_TYPE_TABLE | ...).
constexpr pmd_t pmd_mktable(pfn_t table_pfn) {
    return {((table_pfn << PTE_ADDR_SHIFT) & PTE_ADDR_MASK) | PMD_TYPE_TABLE};
}
constexpr pmd_t pmd_mkold(pmd_t p) {
    return pte_pmd(pte_mkold(pmd_pte(p)));
}
constexpr pmd_t pmd_mkyoung(pmd_t p) {
    return pte_pmd(pte_mkyoung(pmd_pte(p)));
}
constexpr pmd_t pmd_mkclean(pmd_t p) {
    return pte_pmd(pte_mkclean(pmd_pte(p)));
}
constexpr pmd_t pmd_mkdirty(pmd_t p) {
    return pte_pmd(pte_mkdirty(pmd_pte(p)));
}
constexpr pmd_t pmd_wrprotect(pmd_t p) {
    return pte_pmd(pte_wrprotect(pmd_pte(p)));
}
constexpr pmd_t pmd_mkwrite_novma(pmd_t p) {
    return pte_pmd(pte_mkwrite_novma(pmd_pte(p)));
}
constexpr pmd_t pmd_mkinvalid(pmd_t p) {
    return pte_pmd(pte_mkinvalid(pmd_pte(p)));
}
constexpr pmd_t pmd_mkuffd_wp(pmd_t p) {
    return pte_pmd(pte_mkuffd_wp(pmd_pte(p)));
}
constexpr pmd_t pmd_clear_uffd_wp(pmd_t p) {
    return pte_pmd(pte_clear_uffd_wp(pmd_pte(p)));
}

/// pmd_modify() (arm64 pgtable.h): pte_modify() of the PMD; its mask leaves the table bit, so a
/// block stays a block.
constexpr pmd_t pmd_modify(pmd_t p, pgprot_t newprot) {
    return pte_pmd(pte_modify(pmd_pte(p), newprot));
}
constexpr bool pmd_protnone(pmd_t p) {
    return pte_protnone(pmd_pte(p));
}

} // namespace mmfuzz
