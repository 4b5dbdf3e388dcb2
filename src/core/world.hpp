// A world: one machine, one implementation of the handle API, and the core-MM state on top
// (the VMA and the folios a program allocated). The runner keeps two in lockstep.
#pragma once

#include "arch/canary.hpp"
#include "arch/pgtable_ops.hpp"
#include "machine/machine.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmfuzz {

/// The swap type of the core flows' swap device (direct set_softleaf ops use the others).
constexpr unsigned core_swap_type = 23;

/// A slot of the core swap device (mm/swapfile.c keeps its count in swap_map[]).
struct swap_slot {
    /// The data swap-out wrote; empty when no entry names the slot.
    std::optional<std::uint64_t> content;
    /// Swap entries of fork() children that name the slot (swap_duplicate() in
    /// copy_nonpresent_pte()). A child never runs, so it never drops them.
    int child_refs = 0;
    /// Whether get_swap_pages() must pass the slot over.
    [[nodiscard]] bool in_use() const { return content.has_value() || child_refs != 0; }
};

class world {
  public:
    world(std::string_view impl, const machine_options &opts);

    [[nodiscard]] const geometry &geo() const { return m.geo(); }
    [[nodiscard]] std::uint64_t page_va(std::uint64_t index) const {
        return m.window_start() + (index << geo().page_shift);
    }
    [[nodiscard]] std::uint64_t nr_pages() const {
        return std::uint64_t{m.options().window_pmds} * geo().ptrs_per_pte();
    }
    /// The live entry for addr, if its PMD points to a table.
    std::optional<hw_ptep> pte_lookup(std::uint64_t addr);
    /// __pte_alloc(): install an empty table under the PMD lock if the PMD is none; then the
    /// entry. None when the PMD maps something else (a huge page, a softleaf).
    std::optional<hw_ptep> pte_alloc_map(std::uint64_t addr);
    /// The PTL of addr's table (pte_lockptr()).
    [[nodiscard]] spinlock_t ptl(std::uint64_t addr) const;

    machine m;
    std::unique_ptr<pgtable_ops> ops;
    vm_area_struct vma;
    /// Canary bugs enabled in the core flows of this world.
    canary_set canaries;
    /// Folios allocated by the program, in allocation order (ops name them by index).
    recycled_vector<folio *> folios;
    /// The VMA flags of the page at addr. The window is one private anonymous VMA; mprotect
    /// gives pages their own flags instead of splitting it (vm_flags_of_page, VM_READ|VM_WRITE
    /// by default).
    [[nodiscard]] vm_flags_t vm_flags_at(std::uint64_t addr) const;
    void set_vm_flags(std::uint64_t addr, vm_flags_t flags);
    /// Whether [start, start + nr pages) lies in one accessible VMA: the window's pages carry
    /// their own flags after mprotect, standing for the VMAs mprotect would have split off
    /// (thp_vma_suitable_order(), hugepage_vma_revalidate()).
    [[nodiscard]] bool one_vma(std::uint64_t start, std::uint64_t nr) const;
    /// vm_get_page_prot() of a private mapping with the page's flags (arm64 protection_map:
    /// private writable is PAGE_READONLY, copy-on-write; the fault path makes it writable).
    [[nodiscard]] pgprot_t vm_page_prot(std::uint64_t addr) const;
    /// maybe_mkwrite(): writable if the page's VMA flags allow writing.
    [[nodiscard]] pte_t maybe_mkwrite(pte_t pte, std::uint64_t addr) const;
    /// The swap device (swap type core_swap_type), by offset. Core state of swap out and swap in.
    recycled_vector<swap_slot> swap_slots;
    /// folio_add_*_rmap_ptes() with add_mm_counter(): nr pages from pfn became mapped (by PTEs
    /// or a PMD), counted in RSS and the page mapcounts.
    void rmap_add(pfn_t pfn, std::uint64_t nr);
    /// folio_remove_rmap_ptes() with add_mm_counter(): the reverse.
    void rmap_remove(pfn_t pfn, std::uint64_t nr);
    /// Present mappings of each data frame (the rmap's page mapcount, PROT_NONE included), as
    /// core code accounts them while it maps and unmaps.
    int &mapcount(pfn_t pfn) {
        const std::size_t i = pfn - m.first_data_pfn();
        if (i >= mapcount_.size())
            mapcount_.resize(i + 1, 0);
        return mapcount_[i];
    }
    [[nodiscard]] int mapcount(pfn_t pfn) const {
        const std::size_t i = pfn - m.first_data_pfn();
        return i < mapcount_.size() ? mapcount_[i] : 0;
    }
    /// A fork() child maps nr pages from pte's PFN with pte (folio_try_dup_anon_rmap_ptes()):
    /// they count in the page mapcounts, and machine::child_map() holds them for
    /// page_table_check and the COW monitor. A special entry maps no page.
    void child_map(pte_t pte, std::uint64_t nr);
    /// machine::child_unmap() with the page mapcount: a fork() child stops mapping the page at
    /// pfn. Returns how many mappings it had.
    int child_unmap(pfn_t pfn);
    /// machine::child_move() with the page mapcounts.
    void child_move(pfn_t from, pfn_t to);
    /// Whether a fork() child holds the page at pfn too: it maps the page (the op language maps
    /// a page once in this mm), its device-private entry names it, or its swap entry names the
    /// slot whose swap-cache copy the page is (page_state::child_swap_slot).
    [[nodiscard]] bool page_child_held(pfn_t pfn) const {
        return mapcount(pfn) > 1 || (m.pfn_valid(pfn) && (m.page(pfn).child_map_count != 0 ||
                                                          m.page(pfn).child_swap_slot != 0));
    }
    /// PageAnonExclusive() of the page at pfn, as the model derives it: a page of an anonymous
    /// folio that no fork() child holds.
    [[nodiscard]] bool page_anon_exclusive(pfn_t pfn) const {
        const folio *f = m.pfn_folio(pfn);
        return f != nullptr && f->anon && !page_child_held(pfn);
    }
    /// vm_normal_folio() (mm/memory.c): the folio a present entry maps; none for a special entry,
    /// which has no struct page behind it as far as core code is concerned.
    [[nodiscard]] folio *vm_normal_folio(pte_t pte) {
        return pte_present(pte) && !pte_special(pte) ? m.pfn_folio(pte_pfn(pte)) : nullptr;
    }
    [[nodiscard]] const folio *vm_normal_folio(pte_t pte) const {
        return pte_present(pte) && !pte_special(pte) ? m.pfn_folio(pte_pfn(pte)) : nullptr;
    }

  private:
    recycled_vector<int> mapcount_;
    recycled_vector<vm_flags_t> vm_flags_of_page_;
};

} // namespace mmfuzz
