// Core-MM flows: the generic kernel code paths, written once against the handle API (w.ops) and
// the machine's locks, flushes and folios, never against raw table memory or an implementation
// type, so both worlds run the same code and any difference is the implementation's.
// Each function names the kernel function it follows; the .cpp files cite the kernel sources.
#pragma once

#include "core/world.hpp"

#include <array>
#include <cstdint>

namespace mmfuzz {

/// vm_fault_t, reduced to the outcomes the flows produce.
enum class vm_fault : std::uint8_t {
    done,     ///< 0: handled, the access can be retried
    oom,      ///< VM_FAULT_OOM: no memory for a folio or a table
    sigbus,   ///< VM_FAULT_SIGBUS / VM_FAULT_HWPOISON
    sigsegv,  ///< VM_FAULT_SIGSEGV: a guard marker, or an access the VMA does not allow
    fallback, ///< VM_FAULT_FALLBACK: a huge fault that could not be taken (caller falls back)
    nopage,   ///< nothing to do (the entry changed under us, or a migration entry to wait on)
};

// ---- fault.cpp -----------------------------------------------------------------------------
/// mm/memory.c do_anonymous_page(): a zeroed folio of 2^order pages over none entries, mapped
/// with one set_ptes(); order == PMD order goes to do_huge_pmd_anonymous_page().
vm_fault do_anonymous_page(world &w, std::uint64_t addr, unsigned order, bool write);
/// Which handler a fault went to.
enum class fault_path : std::uint8_t {
    none,          ///< refused or nothing to do
    anon,          ///< do_anonymous_page()
    swap,          ///< do_swap_page() of a swap entry
    device,        ///< a device-private entry migrated back to RAM
    numa,          ///< do_numa_page() of a PROT_NONE entry
    wp_reuse,      ///< do_wp_page() -> wp_page_reuse()
    wp_copy,       ///< do_wp_page() -> wp_page_copy()
    access,        ///< the access-flag / dirty fix-up with ptep_set_access_flags()
    huge_wp_reuse, ///< do_huge_pmd_wp_page() reuses a THP
    anon_uffd_wp,  ///< a uffd-wp marker: do_anonymous_page() maps the page uffd-wp
    huge_access,   ///< huge_pmd_set_accessed(): the access-flag / dirty fix-up of a THP
    huge_numa,     ///< do_huge_pmd_numa_page() of a PROT_NONE PMD leaf
};
/// The handler's kernel name and the outcome, for traces: "do_anonymous_page, uffd-wp marker"
/// (names follow the enums' order).
const char *fault_path_name(fault_path p);
const char *vm_fault_name(vm_fault f);
/// mm/memory.c do_wp_page() for the read-only present entry orig at addr, the PTL held and the
/// entry not uffd-wp: wp_page_reuse() of an exclusive anonymous page, else wp_page_copy();
/// `path` receives which.
vm_fault do_wp_page(world &w, std::uint64_t addr, hw_ptep ptep, pte_t orig,
                    fault_path *path = nullptr);
/// mm/memory.c handle_mm_fault() for a fault hardware reported at addr.
vm_fault handle_mm_fault(world &w, std::uint64_t addr, bool write, fault_path *path = nullptr);
/// One handle_mm_fault(): the handler it went to and its outcome.
struct fault_round {
    fault_path path = fault_path::none;
    vm_fault handled = vm_fault::done;
};
/// The most faults a device's access takes before the op gives up on it (the device itself
/// would retry for ever): two are the most a correct kernel needs (do_numa_page() restores a
/// clean entry, whose write then takes the dirty fix-up or do_wp_page()), so the rest show a
/// fault handler that keeps reporting success while the entry stays as it was.
constexpr unsigned sva_max_faults = 4;
/// A user access: the MMU, and on a fault handle_mm_fault() and the access once more.
struct touch_result {
    hw_access_result access;
    vm_fault handled = vm_fault::done; ///< the last fault's outcome
    fault_path path = fault_path::none;
    bool faulted = false;
    /// sva_touch(): the faults before the last one, oldest first, and the length of the
    /// machine's write log after each, so that the table as it stood between two faults can
    /// be rebuilt.
    std::array<fault_round, sva_max_faults - 1> earlier{};
    std::array<std::uint32_t, sva_max_faults - 1> earlier_writes{};
    unsigned nr_earlier = 0;
};
touch_result touch(world &w, std::uint64_t addr, bool write, unsigned slot, std::uint64_t value);
/// An SVA-bound device's access (machine::device_access()), and on a fault the I/O page fault
/// path, drivers/iommu/iommu-sva.c iommu_sva_handle_mm(): handle_mm_fault() with
/// FAULT_FLAG_REMOTE (the VMA's permissions checked as for a CPU), then the device's retry,
/// fault after fault while the handler reports one handled (IOMMU_PAGE_RESP_SUCCESS), up to
/// sva_max_faults. A fault that did nothing (the entry changed, a migration entry or a
/// userfault to wait for) would also be answered with success, but the device's retry would
/// find the same entry until another thread acts, so the access ends there.
touch_result sva_touch(world &w, std::uint64_t addr, bool write, std::uint64_t value);

// ---- aging.cpp, mprotect.cpp, zap.cpp --------------------------------------------------------
/// mm/rmap.c folio_referenced_one() over the folio mapped at addr: whether any entry was young.
bool folio_referenced(world &w, std::uint64_t addr);
/// mm/mprotect.c do_mprotect_pkey() over [addr, addr + nr pages) with `prot` (VM_READ,
/// VM_WRITE, VM_EXEC) and one mmu_gather: mprotect_fixup() for each VMA in the range (a run of
/// pages with equal flags, as the window keeps flags per page), which leaves one whose flags
/// do not change alone ("newflags == oldflags") and otherwise splits a PMD leaf across either
/// end of it (__split_vma() -> vma_adjust_trans_huge(), before the flags change), sets them and
/// runs change_protection(): per PMD, change_huge_pmd() for a leaf, change_pte_range() over the
/// part of the table in the VMA.
void mprotect_fixup(world &w, std::uint64_t addr, std::uint64_t nr, vm_flags_t prot);
/// mm/mempolicy.c folio_can_map_prot_numa() for a private anonymous VMA of an mm with several
/// threads (so no folio is passed over for sitting on the scanning CPU's node), normal NUMA
/// balancing and one memory tier: not for an entry with no folio (nullptr: a special one), a
/// shared copy-on-write folio (folio_maybe_mapped_shared(): a fork child maps a page of it) or
/// a dirty file folio, which asynchronous migration may be unable to move.
bool folio_can_map_prot_numa(const world &w, const folio *f);
/// mm/mempolicy.c change_prot_numa() over [addr, addr + nr pages) of one accessible VMA, as
/// task_numa_work() scans it: change_protection() with MM_CP_PROT_NUMA under one mmu_gather,
/// which makes the present entries of each folio it may migrate PROT_NONE NUMA hints (the VMA's
/// flags stay) and, as any change_protection(), write migration and device-private entries
/// read-only. A PMD leaf the range covers whole becomes a PROT_NONE hint through
/// change_huge_pmd(); one it covers in part is split first. The next access takes
/// do_numa_page() or do_huge_pmd_numa_page().
void change_prot_numa(world &w, std::uint64_t addr, std::uint64_t nr);
/// mm/memory.c unmap_page_range() over [addr, addr + nr pages) as MADV_DONTNEED calls it: one
/// mmu_gather for the range; per PMD, zap_huge_pmd() for a leaf the range covers whole, else
/// zap_pte_range() over the part of the table in the range, which unlinks and frees a table it
/// empties whole (zap_details.reclaim_pt).
void zap_pte_range(world &w, std::uint64_t addr, std::uint64_t nr);
/// The same zap with or without table reclaim: zap_page_range_single() with details NULL, as
/// madvise_guard_install() calls it, reclaims none.
void zap_page_range(world &w, std::uint64_t addr, std::uint64_t nr, bool reclaim_pt);
/// mm/madvise.c madvise_free_pte_range() over [addr, addr + nr pages).
void madvise_free(world &w, std::uint64_t addr, std::uint64_t nr);

// ---- fork.cpp ------------------------------------------------------------------------------
/// fork(): mm/memory.c copy_page_range() of the whole window into a child, then the parent's
/// flush_tlb_mm() (kernel/fork.c dup_mmap()). The child is never run: its mappings count in the
/// page mapcounts and page_table_check, and hold its pages (page_state::child_map_count); its
/// swap entries hold their slots (swap_slot::child_refs) and its device-private entries their
/// device pages. Device-exclusive entries and PMD software leaves are not modelled.
void copy_page_range(world &w);

// ---- huge_memory.cpp, khugepaged.cpp ---------------------------------------------------------
/// mm/huge_memory.c do_huge_pmd_anonymous_page(): a PMD-order folio with a deposited table.
vm_fault do_huge_pmd_anonymous_page(world &w, std::uint64_t addr, bool write);
/// mm/huge_memory.c do_huge_pmd_wp_page(): a write fault on a read-only THP; reuse of an
/// exclusive one, or the split and VM_FAULT_FALLBACK to the PTEs for a shared one.
vm_fault do_huge_pmd_wp_page(world &w, std::uint64_t addr);
/// mm/huge_memory.c huge_pmd_set_accessed() and touch_pmd(): under the PMD lock, if the PMD is
/// still `orig`, make it young (and dirty for a write) with pmdp_set_access_flags(), then
/// update_mmu_cache_pmd() if that changed it.
vm_fault huge_pmd_set_accessed(world &w, std::uint64_t addr, pmd_t orig, bool write);
/// mm/huge_memory.c __split_huge_pmd() of the PMD mapping addr (SEMANTICS 4.1).
void split_huge_pmd(world &w, std::uint64_t addr);
/// mm/huge_memory.c zap_huge_pmd(): unmap a PMD-mapped THP; the PMD range goes into the
/// caller's gather (tlb_remove_pmd_tlb_entry()), flushed at its tlb_finish_mmu().
void zap_huge_pmd(world &w, mmu_gather &tlb, std::uint64_t addr);
/// What change_protection() was asked for, of its cp_flags: the VMA's protection (mprotect),
/// MM_CP_PROT_NUMA, MM_CP_UFFD_WP or MM_CP_UFFD_WP_RESOLVE.
enum class prot_change : std::uint8_t { vma, numa, uffd_wp, uffd_wp_resolve };
/// mm/huge_memory.c change_huge_pmd(): the PMD leaf mapping addr takes the VMA's protection,
/// PAGE_NONE for a NUMA hint, and uffd-wp set or cleared; the PMD range goes into the caller's
/// gather.
void change_huge_pmd(world &w, mmu_gather &tlb, std::uint64_t addr, bool try_writable,
                     prot_change how = prot_change::vma);
/// mm/mprotect.c change_pmd_range() at the PMD mapping addr, over nr pages from addr: a PMD
/// leaf the range covers whole goes to change_huge_pmd() (true: nothing is left to do there);
/// one it covers in part is split first (__split_huge_pmd()), leaving the PTEs to the caller.
bool change_pmd_range(world &w, mmu_gather &tlb, std::uint64_t addr, std::uint64_t nr,
                      bool try_writable, prot_change how);
/// mm/huge_memory.c do_huge_pmd_numa_page(): the fault on a PMD NUMA hint, `orig` as the fault
/// read it; restores the VMA's protection.
vm_fault do_huge_pmd_numa_page(world &w, std::uint64_t addr, pmd_t orig);
/// mm/huge_memory.c split_folio_to_order() of the folio mapped at addr; false if it cannot.
bool split_folio(world &w, std::uint64_t addr, unsigned new_order);
/// mm/khugepaged.c collapse_huge_page() of the 2^order pages around addr (SEMANTICS 4.2).
bool collapse_huge_page(world &w, std::uint64_t addr, unsigned order);

// ---- vmscan.cpp, swap.cpp, migrate.cpp, softleaf flows
// --------------------------------------------
enum class reclaim_result : std::uint8_t { discarded, kept, swapped, failed };
/// mm/vmscan.c shrink_folio_list() for the folio mapped at addr: try_to_unmap(), lazy-free
/// discard, or swap out.
reclaim_result shrink_folio(world &w, std::uint64_t addr);
/// mm/memory.c do_swap_page() for the swap entry at addr.
vm_fault do_swap_page(world &w, std::uint64_t addr, bool write);
/// mm/migrate.c migrate_pages() of the folio mapped at addr.
bool migrate_folio(world &w, std::uint64_t addr);
/// mm/madvise.c MADV_GUARD_INSTALL / MADV_GUARD_REMOVE over [addr, addr + nr pages).
void madvise_guard_install(world &w, std::uint64_t addr, std::uint64_t nr);
void madvise_guard_remove(world &w, std::uint64_t addr, std::uint64_t nr);
/// mm/userfaultfd.c mwriteprotect_range() over [addr, addr + nr pages).
void uffd_writeprotect(world &w, std::uint64_t addr, std::uint64_t nr, bool enable);
/// mm/memory-failure.c memory_failure() of the page mapped at addr.
bool memory_failure(world &w, std::uint64_t addr);
/// mm/migrate_device.c: the page at addr to device-private memory, or back to RAM.
bool migrate_device(world &w, std::uint64_t addr, bool to_ram);

} // namespace mmfuzz
