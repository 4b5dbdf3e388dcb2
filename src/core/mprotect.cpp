// mprotect: mm/mprotect.c do_mprotect_pkey(), mprotect_fixup(), change_protection(),
// change_pmd_range() and change_pte_range().
#include "core/flows.hpp"
#include "core/pte_walk.hpp"
#include "core/unmap.hpp"
#include "machine/tlb.hpp"
#include "pgtable/softleaf.hpp"

namespace mmfuzz {

namespace {

/// change_softleaf_pte(): write permission is taken from migration and device-private entries
/// ("a protection check is difficult so just be safe and disable write"). The new entry is
/// built afresh from the type and offset (young and dirty of a migration entry live in the
/// offset): a device-private one keeps the old entry's uffd-wp bit, neither keeps the
/// swap-exclusive bit.
void change_softleaf_pte(world &w, std::uint64_t addr, hw_ptep ptep, pte_t old) {
    const softleaf_t e = softleaf_from_pte(old);
    softleaf_t ne = e;
    const std::uint64_t off = swp_offset(e);
    if (softleaf_is_migration_write(e)) {
        const folio *f = w.m.pfn_folio(softleaf_to_pfn(e));
        ne = f != nullptr && f->anon ? swp_entry(SWP_MIGRATION_READ_EXCLUSIVE, off)
                                     : swp_entry(SWP_MIGRATION_READ, off);
    } else if (softleaf_is_device_private_write(e)) {
        ne = swp_entry(SWP_DEVICE_READ, off);
    } else {
        return;
    }
    pte_t pte = softleaf_to_pte(ne);
    if (softleaf_is_device_private(ne) && pte_swp_uffd_wp(old))
        pte = pte_swp_mkuffd_wp(pte);
    w.ops->set_pte_at(&w.m.mm, addr, ptep, pte);
}

/// change_protection() over [addr, end), pages of one VMA whose flags have been set: per PMD,
/// change_pmd_range()'s choice between change_huge_pmd() and a split, then change_pte_range().
/// With prot_numa (MM_CP_PROT_NUMA) the new protection is PAGE_NONE and nothing is made
/// writable; change_pte_range() leaves an entry that is PROT_NONE already and passes over a
/// folio batch folio_can_map_prot_numa() refuses (mprotect_folio_pte_batch() with no flags),
/// and change_huge_pmd() does the same for a PMD leaf.
void change_protection(world &w, mmu_gather &tlb, std::uint64_t addr, std::uint64_t end,
                       bool prot_numa = false) {
    const std::uint64_t ps = w.geo().page_size();
    // vma_wants_manual_pte_write_upgrade(): a private writable mapping gets PAGE_READONLY and
    // change_pte_range() upgrades what may be written (MM_CP_TRY_CHANGE_WRITABLE).
    const bool try_writable = !prot_numa && (w.vm_flags_at(addr) & VM_WRITE) != 0;
    for (std::uint64_t a = addr; a < end;) {
        const std::uint64_t room = std::min(table_room(w, a), (end - a) / ps);
        if (change_pmd_range(w, tlb, a, room, try_writable,
                             prot_numa ? prot_change::numa : prot_change::vma) ||
            !w.pte_lookup(a)) {
            a += room * ps;
            continue;
        }
        const pte_locked first(w, a);
        for (std::uint64_t i = 0; i < room;) {
            const std::uint64_t va = a + i * ps;
            const hw_ptep ptep = hw_pte_add(*first, static_cast<std::ptrdiff_t>(i));
            const pte_t old = w.ops->ptep_get(ptep);
            if (!pte_present(old)) {
                if (!pte_none(old))
                    change_softleaf_pte(w, va, ptep, old);
                ++i;
                continue;
            }
            const auto max = static_cast<unsigned>(room - i);
            if (prot_numa && pte_protnone(old)) {
                ++i;
                continue;
            }
            if (prot_numa && !folio_can_map_prot_numa(w, w.vm_normal_folio(old))) {
                i += folio_pte_batch(w, ptep, old, max);
                continue;
            }
            const unsigned n = folio_pte_batch(w, ptep, old, max, FPB_RESPECT_WRITE);
            const pte_t oldpte = w.ops->modify_prot_start_ptes(&w.vma, va, ptep, n);
            const pgprot_t newprot = prot_numa ? PAGE_NONE : w.vm_page_prot(va);
            commit_prot_batch(w, va, ptep, oldpte, pte_modify(oldpte, newprot), n, try_writable);
            tlb.remove_tlb_entries(va, n); // arm64 has no pte_needs_flush(): always
            i += n;
        }
        a += room * ps;
    }
}

} // namespace

bool folio_can_map_prot_numa(const world &w, const folio *f) {
    return f != nullptr && !unmap::maybe_mapped_shared(w, *f) && (f->anon || !f->dirty);
}

void mprotect_fixup(world &w, std::uint64_t addr, std::uint64_t nr, vm_flags_t prot) {
    const std::uint64_t ps = w.geo().page_size();
    const std::uint64_t end = addr + nr * ps;
    constexpr vm_flags_t prot_mask = VM_READ | VM_WRITE | VM_EXEC;
    mmu_gather tlb(w.m);
    for (std::uint64_t a = addr; a < end;) {
        const vm_flags_t oldflags = w.vm_flags_at(a);
        std::uint64_t vma_end = a + ps;
        while (vma_end < end && w.vm_flags_at(vma_end) == oldflags)
            vma_end += ps;
        const vm_flags_t newflags = (oldflags & ~prot_mask) | (prot & prot_mask);
        if (newflags != oldflags) {
            // __split_vma() -> vma_adjust_trans_huge() (mm/vma.c, mm/huge_memory.c): a THP across
            // a new VMA boundary is split while the
            // pages still have their old flags, so every PTE takes the old protection.
            for (const std::uint64_t at : {a, vma_end}) {
                if ((at & (w.geo().pmd_size() - 1)) == 0 || !w.m.in_window(at))
                    continue;
                const pmd_t pmd = w.ops->pmdp_get(w.m.pmd_off(at));
                if (!pmd_none(pmd) && !pmd_table(pmd))
                    split_huge_pmd(w, at);
            }
            for (std::uint64_t p = a; p < vma_end; p += ps)
                w.set_vm_flags(p, newflags);
            change_protection(w, tlb, a, vma_end);
        }
        a = vma_end;
    }
    if (!w.canaries.on(canary::mprotect_no_flush))
        tlb.finish_mmu();
}

void change_prot_numa(world &w, std::uint64_t addr, std::uint64_t nr) {
    mmu_gather tlb(w.m);
    change_protection(w, tlb, addr, addr + nr * w.geo().page_size(), true);
    tlb.finish_mmu();
}

} // namespace mmfuzz
