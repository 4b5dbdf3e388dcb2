// Page faults: mm/memory.c handle_mm_fault() down to do_anonymous_page(), do_wp_page(),
// do_numa_page() and the access-flag fix-up, plus a user access that takes them.
//
// Simplification: read faults map a zeroed folio as with mm_forbids_zeropage(); the shared zero
// page is not modelled. Of the faults on PMD leaves a write to a read-only THP is taken
// (do_huge_pmd_wp_page(), after fork or a write-protect), and an old or clean THP's fix-up
// (huge_pmd_set_accessed(), which only a walker without hardware AF and dirty needs), and a
// PMD NUMA hint's (do_huge_pmd_numa_page()).
#include "core/flows.hpp"
#include "core/pte_walk.hpp"
#include "pgtable/softleaf.hpp"

#include <array>

namespace mmfuzz {

namespace {

/// mm/memory.c pte_range_none().
bool pte_range_none(world &w, hw_ptep ptep, unsigned nr) {
    for (unsigned i = 0; i < nr; ++i)
        if (!pte_none(w.ops->ptep_get(hw_pte_add(ptep, static_cast<std::ptrdiff_t>(i)))))
            return false;
    return true;
}

/// The entries for a new anonymous folio of 2^order pages at start (do_anonymous_page(),
/// map_anon_folio_pte_nopf()): mk_pte() with vm_page_prot is young on arm64 (PTE_AF in
/// PROT_DEFAULT); writable and dirty in a writable VMA; uffd-wp, which write-protects, where the
/// fault replaced a uffd-wp marker.
void map_anon_folio(world &w, std::uint64_t start, hw_ptep ptep, folio &f, bool uffd_wp) {
    const auto nr = static_cast<unsigned>(f.nr_pages());
    pte_t entry = pfn_pte(f.pfn, w.vm_page_prot(start));
    if ((w.vm_flags_at(start) & VM_WRITE) != 0)
        entry = pte_mkwrite_novma(pte_mkdirty(entry));
    if (uffd_wp)
        entry = pte_mkuffd_wp(entry);
    f.refcount += static_cast<int>(nr);
    w.rmap_add(f.pfn, nr);
    w.ops->set_ptes(&w.m.mm, start, ptep, entry, nr);
    w.ops->update_mmu_cache_range(&w.vma, start, ptep, nr);
}

/// mm/memory.c wp_page_reuse(): the page is ours alone; make the entry young, dirty, writable.
vm_fault wp_page_reuse(world &w, std::uint64_t addr, hw_ptep ptep, pte_t orig) {
    const pte_t entry = w.maybe_mkwrite(pte_mkdirty(pte_mkyoung(orig)), addr);
    if (w.ops->ptep_set_access_flags(&w.vma, addr, ptep, entry, 1) != 0)
        w.ops->update_mmu_cache_range(&w.vma, addr, ptep, 1);
    return vm_fault::done;
}

/// mm/memory.c wp_page_copy(): a private copy in a new folio; ptep_clear_flush() breaks the old
/// translation before set_pte_at() makes the new one.
vm_fault wp_page_copy(world &w, std::uint64_t addr, hw_ptep ptep, pte_t orig) {
    folio *nf = alloc_anon_folio(w, 0);
    if (nf == nullptr)
        return vm_fault::oom;
    w.m.page(nf->pfn).content = w.m.page(pte_pfn(orig)).content;
    if (!pte_same(w.ops->ptep_get(ptep), orig))
        return vm_fault::nopage;
    const pte_t entry = w.maybe_mkwrite(pte_mkdirty(pfn_pte(nf->pfn, w.vm_page_prot(addr))), addr);
    w.ops->ptep_get_and_clear(&w.m.mm, addr, ptep);
    w.m.flush_tlb_page(addr);
    w.rmap_remove(pte_pfn(orig), 1);
    w.rmap_add(nf->pfn, 1);
    w.ops->set_pte_at(&w.m.mm, addr, ptep, entry);
    w.ops->update_mmu_cache_range(&w.vma, addr, ptep, 1);
    return vm_fault::done;
}

/// do_numa_page()'s write decision for an entry already given the VMA's protection: writable
/// as it is, or upgraded where the VMA wants manual upgrades (a private writable one) and
/// can_change_pte_writable() allows it.
bool numa_writable(world &w, std::uint64_t addr, pte_t pte) {
    return pte_write(pte) ||
           ((w.vm_flags_at(addr) & VM_WRITE) != 0 && can_change_pte_writable(w, pte));
}

/// mm/memory.c numa_rebuild_single_mapping(): the VMA's protection back through
/// modify_prot_start/commit of the one entry, young, writable if so decided.
void numa_rebuild_single_mapping(world &w, std::uint64_t addr, hw_ptep ptep, bool writable) {
    const pte_t old = w.ops->modify_prot_start_ptes(&w.vma, addr, ptep, 1);
    pte_t pte = pte_mkyoung(pte_modify(old, w.vm_page_prot(addr)));
    if (writable)
        pte = pte_mkwrite_novma(pte);
    w.ops->modify_prot_commit_ptes(&w.vma, addr, ptep, old, pte, 1);
    w.ops->update_mmu_cache_range(&w.vma, addr, ptep, 1);
}

/// mm/memory.c numa_rebuild_large_mapping(): every PROT_NONE entry that maps a page of the
/// folio, within the VMA (the run of pages with addr's flags) and the page table, is rebuilt
/// one by one in address order. The page-table bound came with "mm: fix possible OOB in
/// numa_rebuild_large_mapping()": a folio may be mapped across a PMD boundary (mremap).
void numa_rebuild_large_mapping(world &w, std::uint64_t addr, hw_ptep ptep, const folio &f,
                                pte_t fault_pte) {
    const std::uint64_t ps = w.geo().page_size();
    const std::uint64_t below = (pte_pfn(fault_pte) - f.pfn) * ps;
    // Canary: the range bounded by the VMA (the window) only, not by the page table.
    const bool whole_vma = w.canaries.on(canary::numa_rebuild_crosses_table);
    const std::uint64_t pt_start =
        whole_vma ? w.m.window_start() : addr & ~(w.geo().pmd_size() - 1);
    const std::uint64_t pt_end = whole_vma ? w.m.window_end() : pt_start + w.geo().pmd_size();
    const std::uint64_t lo = std::max(addr - std::min(below, addr - pt_start), pt_start);
    const std::uint64_t hi = std::min(addr - below + f.nr_pages() * ps, pt_end);
    const vm_flags_t flags = w.vm_flags_at(addr);
    std::uint64_t start = addr;
    while (start > lo && w.vm_flags_at(start - ps) == flags)
        start -= ps;
    std::uint64_t end = addr + ps;
    while (end < hi && w.vm_flags_at(end) == flags)
        end += ps;
    for (std::uint64_t a = start; a < end; a += ps) {
        const hw_ptep p = hw_pte_add(ptep, static_cast<std::ptrdiff_t>(a / ps) -
                                               static_cast<std::ptrdiff_t>(addr / ps));
        const pte_t ptent = w.ops->ptep_get(p);
        if (!pte_present(ptent) || !pte_protnone(ptent) || w.m.pfn_folio(pte_pfn(ptent)) != &f)
            continue;
        numa_rebuild_single_mapping(w, a, p,
                                    numa_writable(w, a, pte_modify(ptent, w.vm_page_prot(a))));
    }
}

/// mm/memory.c do_numa_page(): a PROT_NONE entry in an accessible VMA is a NUMA hinting entry.
/// Nothing is migrated here, so it goes straight to out_map: the protection is restored on the
/// entry, or on every hinting entry of a large folio.
vm_fault do_numa_page(world &w, std::uint64_t addr, hw_ptep ptep) {
    const pte_t orig = w.ops->ptep_get(ptep);
    const folio *f = w.vm_normal_folio(orig);
    if (f != nullptr && f->order > 0)
        numa_rebuild_large_mapping(w, addr, ptep, *f, orig);
    else
        numa_rebuild_single_mapping(w, addr, ptep,
                                    numa_writable(w, addr, pte_modify(orig, w.vm_page_prot(addr))));
    return vm_fault::done;
}

/// mm/memory.c handle_pte_marker() -> pte_marker_handle_uffd_wp() -> do_pte_missing() ->
/// do_anonymous_page() for a uffd-wp marker: the page was write-protected before it was unmapped,
/// so the new folio is mapped uffd-wp (vmf_orig_pte_uffd_wp()), at order 0 (alloc_anon_folio()
/// falls back in a userfaultfd-armed VMA), over the marker if it is still there
/// (vmf_pte_changed() with FAULT_FLAG_ORIG_PTE_VALID). The window has no registration; a marker
/// stands for one, as a uffd-wp entry does elsewhere, so pte_marker_clear() is not taken. A write
/// then faults on the write-protected entry, where the monitor resolves it.
vm_fault do_uffd_wp_marker(world &w, std::uint64_t addr, pte_t orig) {
    pte_locked pte(w, addr);
    if (!pte_same(w.ops->ptep_get(*pte), orig))
        return vm_fault::nopage;
    folio *f = alloc_anon_folio(w, 0);
    if (f == nullptr)
        return vm_fault::oom;
    map_anon_folio(w, addr, *pte, *f, true);
    return vm_fault::done;
}

/// mm/memory.c do_swap_page()'s dispatch on the software leaf, and handle_pte_marker(), which
/// tests a marker's poison bit, then guard, then uffd-wp.
vm_fault do_nonpresent(world &w, std::uint64_t addr, pte_t orig, bool write, fault_path &taken) {
    const softleaf_t e = softleaf_from_pte(orig);
    if (softleaf_is_swap(e)) {
        taken = fault_path::swap;
        return swp_type(e) == core_swap_type ? do_swap_page(w, addr, write) : vm_fault::nopage;
    }
    if (softleaf_is_migration(e))
        return vm_fault::nopage; // migration_entry_wait()
    if (softleaf_is_device_private(e)) {
        taken = fault_path::device;
        return migrate_device(w, addr, true) ? vm_fault::done : vm_fault::nopage;
    }
    if (softleaf_is_hwpoison(e) || softleaf_is_poison_marker(e))
        return vm_fault::sigbus;
    if (softleaf_is_guard_marker(e))
        return vm_fault::sigsegv;
    if (softleaf_is_uffd_wp_marker(e)) {
        taken = fault_path::anon_uffd_wp;
        return do_uffd_wp_marker(w, addr, orig);
    }
    // Not modelled: the kernel restores a device-exclusive entry
    // (remove_device_exclusive_entry()); one set by an op names a frame the model does not
    // account as mapped. The access does not complete.
    return vm_fault::nopage;
}

} // namespace

const char *fault_path_name(fault_path p) {
    static constexpr std::array names = {"no handler",
                                         "do_anonymous_page",
                                         "do_swap_page",
                                         "do_swap_page, device-private",
                                         "do_numa_page",
                                         "wp_page_reuse",
                                         "wp_page_copy",
                                         "ptep_set_access_flags",
                                         "do_huge_pmd_wp_page",
                                         "do_anonymous_page, uffd-wp marker",
                                         "huge_pmd_set_accessed",
                                         "do_huge_pmd_numa_page"};
    static_assert(names.size() == static_cast<std::size_t>(fault_path::huge_numa) + 1);
    const auto i = static_cast<std::size_t>(p);
    return i < names.size() ? names[i] : "?";
}

const char *vm_fault_name(vm_fault f) {
    static constexpr std::array names = {"handled",          "VM_FAULT_OOM",      "VM_FAULT_SIGBUS",
                                         "VM_FAULT_SIGSEGV", "VM_FAULT_FALLBACK", "nothing done"};
    static_assert(names.size() == static_cast<std::size_t>(vm_fault::nopage) + 1);
    const auto i = static_cast<std::size_t>(f);
    return i < names.size() ? names[i] : "?";
}

vm_fault do_wp_page(world &w, std::uint64_t addr, hw_ptep ptep, pte_t orig, fault_path *path) {
    const bool reuse = !pte_special(orig) && w.page_anon_exclusive(pte_pfn(orig));
    if (path != nullptr)
        *path = reuse ? fault_path::wp_reuse : fault_path::wp_copy;
    return reuse ? wp_page_reuse(w, addr, ptep, orig) : wp_page_copy(w, addr, ptep, orig);
}

vm_fault do_anonymous_page(world &w, std::uint64_t addr, unsigned order, bool write) {
    if (order >= w.geo().pmd_order()) {
        const vm_fault r = do_huge_pmd_anonymous_page(w, addr, write);
        if (r != vm_fault::fallback)
            return r;
        order = 0;
    }
    if (!w.pte_alloc_map(addr))
        return vm_fault::nopage; // the PMD maps something else
    // alloc_anon_folio(): the highest order whose aligned range lies in the faulting VMA
    // (thp_vma_suitable_orders()) and is all none, else lower; never order 1, which
    // THP_ORDERS_ALL_ANON leaves out.
    const std::uint64_t page_size = w.geo().page_size();
    for (;; --order) {
        if (order == 1)
            continue;
        const unsigned nr = 1U << order;
        const std::uint64_t start = addr & ~(nr * page_size - 1);
        if (order > 0 && !w.one_vma(start, nr))
            continue;
        pte_locked pte(w, start);
        if (!pte_range_none(w, *pte, nr)) {
            if (order == 0)
                return vm_fault::nopage; // vmf_pte_changed()
            continue;
        }
        folio *f = alloc_anon_folio(w, order);
        if (f == nullptr) {
            if (order == 0)
                return vm_fault::oom;
            continue;
        }
        map_anon_folio(w, start, *pte, *f, false);
        return vm_fault::done;
    }
}

vm_fault handle_mm_fault(world &w, std::uint64_t addr, bool write, fault_path *path) {
    fault_path ignored = fault_path::none;
    fault_path &taken = path != nullptr ? *path : ignored;
    taken = fault_path::none;
    // arch/arm64/mm/fault.c do_page_fault(): the VMA must allow the access.
    const vm_flags_t flags = w.vm_flags_at(addr);
    if ((flags & (VM_READ | VM_WRITE | VM_EXEC)) == 0 || (write && (flags & VM_WRITE) == 0))
        return vm_fault::sigsegv;
    pmd_t pmd = w.ops->pmdp_get(w.m.pmd_off(addr));
    if (pmd_none(pmd)) {
        taken = fault_path::anon;
        return do_anonymous_page(w, addr, 0, write);
    }
    // __handle_mm_fault() on a THP: a NUMA hint goes to do_huge_pmd_numa_page() (the VMA is
    // accessible, checked above); a write to a read-only one to wp_huge_pmd(), which may fall
    // back to the PTE level; any other fault (an old THP, or a write to a clean one, met by a
    // walker without hardware AF or dirty) to huge_pmd_set_accessed().
    if (pmd_trans_huge(pmd) && pmd_protnone(pmd)) {
        taken = fault_path::huge_numa;
        return do_huge_pmd_numa_page(w, addr, pmd);
    }
    if (pmd_trans_huge(pmd)) {
        if (!write || pmd_write(pmd)) {
            taken = fault_path::huge_access;
            return huge_pmd_set_accessed(w, addr, pmd, write);
        }
        const vm_fault r = do_huge_pmd_wp_page(w, addr);
        if (r != vm_fault::fallback) {
            taken = r == vm_fault::done ? fault_path::huge_wp_reuse : fault_path::none;
            return r;
        }
        pmd = w.ops->pmdp_get(w.m.pmd_off(addr));
    }
    if (!pmd_table(pmd))
        return vm_fault::nopage;
    const auto p = w.pte_lookup(addr);
    if (!p)
        return vm_fault::nopage;
    const pte_t orig = w.ops->ptep_get_lockless(*p);
    if (pte_none(orig)) {
        taken = fault_path::anon;
        return do_anonymous_page(w, addr, 0, write);
    }
    if (!pte_present(orig))
        return do_nonpresent(w, addr, orig, write, taken);
    pte_locked pte(w, addr);
    if (!pte_same(w.ops->ptep_get(*pte), orig))
        return vm_fault::nopage;
    if (pte_protnone(orig)) {
        taken = fault_path::numa;
        return do_numa_page(w, addr, *pte);
    }
    pte_t entry = orig;
    if (write) {
        if (!pte_write(entry)) {
            if (pte_uffd_wp(orig))
                return vm_fault::nopage; // handle_userfault(): the monitor resolves it
            return do_wp_page(w, addr, *pte, orig, &taken);
        }
        entry = pte_mkdirty(entry);
    }
    taken = fault_path::access;
    entry = pte_mkyoung(entry);
    if (w.ops->ptep_set_access_flags(&w.vma, addr, *pte, entry, write ? 1 : 0) != 0)
        w.ops->update_mmu_cache_range(&w.vma, addr, *pte, 1);
    return vm_fault::done;
}

namespace {

/// An access, and while it faults, up to `max_faults` times, handle_mm_fault() and the access
/// once more if the fault was handled.
template <typename Access>
touch_result access_with_fault(world &w, std::uint64_t addr, bool write, unsigned max_faults,
                               Access access) {
    touch_result r;
    r.access = access();
    for (unsigned n = 0; !r.access.ok() && n < max_faults; ++n) {
        if (r.faulted) {
            r.earlier_writes.at(r.nr_earlier) = static_cast<std::uint32_t>(w.m.write_log().size());
            r.earlier.at(r.nr_earlier++) = {r.path, r.handled};
        }
        r.faulted = true;
        r.handled = handle_mm_fault(w, addr, write, &r.path);
        if (r.handled != vm_fault::done)
            break;
        r.access = access();
    }
    return r;
}

} // namespace

touch_result touch(world &w, std::uint64_t addr, bool write, unsigned slot, std::uint64_t value) {
    return access_with_fault(w, addr, write, 1,
                             [&] { return w.m.hw_access(addr, write, slot, value); });
}

touch_result sva_touch(world &w, std::uint64_t addr, bool write, std::uint64_t value) {
    return access_with_fault(w, addr, write, sva_max_faults,
                             [&] { return w.m.device_access(addr, write, value); });
}

} // namespace mmfuzz
