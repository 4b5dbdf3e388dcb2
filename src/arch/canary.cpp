#include "arch/canary.hpp"

#include <array>

namespace mmfuzz {

namespace {
/// The canaries this build implements; each has a regression reproducer in corpus/regressions.
/// Arch canaries act in the optimized world only; core canaries (in_core) in both, since both
/// run the same flow.
constexpr std::array catalogue = {
    canary_info{canary::unfold_drops_dirty, "unfold_drops_dirty",
                "contpte_convert() unfolding a block does not OR the dirty bits of its entries "
                "into the entries it rewrites",
                false},
    canary_info{canary::ptep_get_leaks_cont, "ptep_get_leaks_cont",
                "ptep_get() returns the stored entry with PTE_CONT, a private bit core code "
                "compares and copies",
                false},
    canary_info{canary::ptep_get_no_gather, "ptep_get_no_gather",
                "ptep_get() of a CONT entry returns that entry alone, without the young/dirty "
                "the hardware set on the other entries of its block",
                false},
    canary_info{canary::fold_ignores_pfn_contiguity, "fold_ignores_pfn_contiguity",
                "__contpte_try_fold() compares the block's entries without their PFNs, so "
                "non-consecutive pages are folded into one contiguous range",
                false},
    canary_info{canary::fold_ignores_folio, "fold_ignores_folio",
                "__contpte_try_fold() does not check that one folio covers the whole block, so "
                "two folios share one CONT block and its young/dirty",
                false},
    canary_info{canary::fold_ignores_prot, "fold_ignores_prot",
                "__contpte_try_fold() checks that the block's PFNs are consecutive but not that "
                "its entries have the same protection, so the fold gives every page the "
                "permissions of the entry just written (a read-only page becomes writable)",
                false},
    canary_info{canary::convert_skips_flush, "convert_skips_flush",
                "contpte_convert() rewrites the block without the TLB flush between clear and "
                "set that break-before-make needs without FEAT_BBML2_NOABORT",
                false},
    canary_info{canary::clear_flush_young_skips_flush, "clear_flush_young_skips_flush",
                "contpte_clear_flush_young_ptes() clears AF on the block but does not flush it, "
                "so the TLB keeps translations that never set AF again",
                false},
    canary_info{canary::wrprotect_partial_no_unfold, "wrprotect_partial_no_unfold",
                "contpte_wrprotect_ptes() over part of a CONT block write-protects those entries "
                "without unfolding the block first",
                false},
    canary_info{canary::set_ptes_cont_misaligned, "set_ptes_cont_misaligned",
                "contpte_set_ptes() sets PTE_CONT on a block-sized, VA-aligned chunk whose first "
                "PFN is not block-aligned",
                false},
    canary_info{canary::get_and_clear_full_drops_dirty, "get_and_clear_full_drops_dirty",
                "__get_and_clear_full_ptes() ORs young but not dirty of the entries after the "
                "first into the value it returns",
                false},
    canary_info{canary::madv_free_beyond_range, "madv_free_beyond_range",
                "madvise_free_pte_range() cleans a large folio that is only partly in the range "
                "as a whole, clearing dirty on pages the caller did not name",
                true},
    canary_info{canary::mprotect_no_flush, "mprotect_no_flush",
                "change_protection() removes write permission but skips the mmu_gather flush, so "
                "a TLB keeps a writable translation of a read-only page",
                true},
    canary_info{canary::split_drops_dirty, "split_drops_dirty",
                "__split_huge_pmd_locked() builds the PTEs without the old PMD's dirty bit (and "
                "does not mark the folio dirty), so data written through the PMD reads clean",
                true},
    canary_info{canary::split_publishes_early, "split_publishes_early",
                "__split_huge_pmd_locked() calls pmd_populate() before set_ptes() has filled the "
                "withdrawn table, so hardware can walk a half-made table",
                true},
    canary_info{canary::collapse_mmu_update_early, "collapse_mmu_update_early",
                "mTHP collapse_huge_page() maps the new folio and calls update_mmu_cache_range() "
                "before pmd_populate() has reinstalled the table (seed 003): an arch that walks "
                "the live hierarchy there finds no table",
                true},
    canary_info{canary::migration_drops_dirty, "migration_drops_dirty",
                "remove_migration_pte() maps the new folio without the dirty bit its migration "
                "entry carried, so a page written before migration looks clean after it",
                true},
    canary_info{canary::swap_drops_flags, "swap_drops_flags",
                "try_to_unmap_one() builds the swap entry without pte_swp_mkexclusive() and "
                "pte_swp_mkuffd_wp(), so swap-in maps a uffd-wp page without write protection "
                "and an exclusive page read-only",
                true},
    canary_info{canary::migration_copies_head_only, "migration_copies_head_only",
                "folio_copy() of a large folio copies its first page only, so after migration "
                "the other pages read back other data than was written to them",
                true},
    canary_info{canary::zap_rss_per_batch, "zap_rss_per_batch",
                "zap_present_ptes() takes one page off the RSS counter per folio batch instead "
                "of nr, so unmapping a large folio leaves the mm counting pages it no longer maps",
                true},
    canary_info{canary::referenced_without_ptl, "referenced_without_ptl",
                "folio_referenced_one() clears young on the folio's entries without the PTL "
                "page_vma_mapped_walk() takes, racing a fold or unfold of the same block",
                true},
    canary_info{canary::mprotect_ignores_uffd_wp, "mprotect_ignores_uffd_wp",
                "can_change_pte_writable() does not ask whether the entry is uffd-wp, so "
                "mprotect(PROT_WRITE) makes a write-protected page writable and the monitor "
                "never hears of the writes it was tracking",
                true},
    canary_info{canary::set_access_flags_no_unfold, "set_access_flags_no_unfold",
                "contpte_ptep_set_access_flags() gives one entry of a CONT block the write bit "
                "(a write fault's wp_page_reuse()) without unfolding the block first, so the "
                "block is left CONT with mixed permissions",
                false},
    canary_info{canary::pte_batch_crosses_folio, "pte_batch_crosses_folio",
                "folio_pte_batch() does not stop at the end of the folio, so a batch runs on "
                "into the next folio when its first page follows in PFN order, and zap, mprotect "
                "and reclaim account two folios as one",
                true},
    canary_info{canary::collapse_flush_pmd_level, "collapse_flush_pmd_level",
                "pmdp_collapse_flush() shoots the range down with flush_pmd_tlb_range(), as for "
                "a PMD leaf, though a collapse unmaps PTEs: the PMD stride and PMD-level hint "
                "leave the old pages' translations and the walk cache in the TLB (the bug class "
                "of x86's 2025 fix \"Fix flush_tlb_range() when used for zapping normal "
                "PMDs\")",
                false},
    canary_info{canary::zap_huge_pmd_pte_level, "zap_huge_pmd_pte_level",
                "zap_huge_pmd() records the PMD in the mmu_gather as PTEs "
                "(tlb_remove_tlb_entry() for tlb_remove_pmd_tlb_entry()), so arm64's "
                "tlb_flush() hints the PTE level and the PMD block stays in the TLB: a wrong "
                "level hint from the gather, as arm64 gave for freed tables until the fix to "
                "c4ab2cbc1d87",
                true},
    canary_info{canary::pt_reclaim_frees_unflushed, "pt_reclaim_frees_unflushed",
                "zap_pte_range() frees the PTE table MADV_DONTNEED emptied with pte_free() "
                "instead of pte_free_tlb(), so the mmu_gather never learns a table went: its "
                "flush stays last-level and the walk cache may still hold the freed table (the "
                "bug class of the 2018 \"tlb-fixes\" merge 706a1ea65e6f, page-table pages freed "
                "before the TLB shootdown)",
                true},
    canary_info{canary::change_huge_pmd_in_place, "change_huge_pmd_in_place",
                "change_huge_pmd() writes the new protection over the live PMD leaf with "
                "set_pmd_at() instead of going through pmdp_invalidate(), so an mprotect that "
                "changes execute permission changes a live block mapping without "
                "break-before-make (the unsafe attribute change arm64's "
                "__check_safe_pte_update() warns of, pgattr_change_is_safe())",
                true},
    canary_info{canary::fork_write_bit_from_first, "fork_write_bit_from_first",
                "copy_present_ptes() decides fork's copy-on-write protection from the first "
                "entry of a batch, whose write bit folio_pte_batch() ignores: a writable entry "
                "later in the batch stays writable in the parent over a page the child shares, "
                "and the parent's writes reach the child (the reason for folio_pte_batch()'s "
                "any_writable, now FPB_MERGE_WRITE)",
                true},
    canary_info{canary::swapin_reuses_shared_slot, "swapin_reuses_shared_slot",
                "do_swap_page() counts the folio's references without the swap cache's, so a "
                "folio whose slot a fork child's swap entry still names looks exclusive: it is "
                "mapped writable and the parent's writes reach the data the child's swap-in "
                "will map (the copy-on-write class that reuse_swap_page() and, since 2022, "
                "PG_anon_exclusive and pte_swp_exclusive() guard)",
                true},
    canary_info{canary::writable_ignores_anon_exclusive, "writable_ignores_anon_exclusive",
                "can_change_pte_writable() takes any page of an anonymous folio for one it may "
                "make writable without a write fault, not only an exclusive one "
                "(PageAnonExclusive()): mprotect(PROT_WRITE), uffd-wp resolve and the NUMA-hint "
                "fault make writable a page a fork child shares, and the parent's writes reach "
                "the child (mm/mprotect.c: \"we can only special-case on exclusive anonymous "
                "pages\"; review of the 2025 mprotect PTE-batching series caught a version "
                "that asked the folio instead of PageAnonExclusive())",
                true},
    canary_info{canary::fork_keeps_swp_exclusive, "fork_keeps_swp_exclusive",
                "copy_nonpresent_pte() gives the child a copy of a swap entry without clearing "
                "the parent's exclusive flag (pte_swp_clear_exclusive()), so the parent's "
                "swap-in maps the page writable while the child's entry names the same slot, "
                "and the parent's writes reach the data the child's swap-in will map",
                true},
    canary_info{canary::lazyfree_batch_ignores_write, "lazyfree_batch_ignores_write",
                "folio_unmap_pte_batch() batches a lazy-free folio's entries with "
                "folio_pte_batch(), which ignores the write bit, and try_to_unmap_one() puts a "
                "redirtied folio's batch back with set_ptes() of the first entry's value: "
                "read-only entries after a writable first one come back writable (fixed in 2026 "
                "by \"mm/rmap: fix incorrect pte restoration for lazyfree folios\", "
                "FPB_RESPECT_WRITE)",
                true},
    canary_info{canary::set_access_flags_gathered_noop, "set_access_flags_gathered_noop",
                "contpte_ptep_set_access_flags() decides it has nothing to do from the gathered "
                "ptep_get(), so a sibling's AF or dirty hides the faulting entry's clear AF or "
                "read-only state, and a walker that reads each entry alone (an SMMU without "
                "HTTU, a CPU without hardware dirty state) faults on it forever (fixed in 2026 by "
                "\"arm64: contpte: fix set_access_flags() no-op check for SMMU/ATS faults\")",
                false},
    canary_info{canary::thp_access_fault_ignored, "thp_access_fault_ignored",
                "handle_mm_fault() calls an access-flag fault on an old THP handled without "
                "making the PMD young, as before Linux 3.8, where only a write to a read-only THP "
                "reached pmd_mkyoung(): a walker without hardware AF (ARM then, an SMMU without "
                "HTTU now) faults on it forever (fixed in 2012 by \"mm: thp: set the accessed "
                "flag for old pages on access fault\", which added huge_pmd_set_accessed())",
                true},
    canary_info{canary::numa_rebuild_crosses_table, "numa_rebuild_crosses_table",
                "numa_rebuild_large_mapping() bounds the entries it restores by the folio and "
                "the VMA only, as when mTHP NUMA balancing came in (Linux 6.10-rc), so for a "
                "large folio mapped across a PMD boundary it steps the faulting entry's handle "
                "out of its page table (fixed in 2024 by \"mm: fix possible OOB in "
                "numa_rebuild_large_mapping()\")",
                true},
};
} // namespace

std::span<const canary_info> canaries() {
    return catalogue;
}

std::optional<canary> canary_from_name(std::string_view name) {
    for (const canary_info &c : catalogue)
        if (c.name == name)
            return c.id;
    return std::nullopt;
}

} // namespace mmfuzz
