#include "core/unmap.hpp"

#include "core/pte_walk.hpp"

#include <algorithm>

namespace mmfuzz::unmap {

std::optional<folio_walk> walk_folio(world &w, std::uint64_t addr) {
    const auto ptep = w.pte_lookup(addr);
    if (!ptep)
        return std::nullopt;
    const pte_t at = w.ops->ptep_get(*ptep);
    if (!pte_present(at) || pte_special(at))
        return std::nullopt;
    folio *f = w.m.pfn_folio(pte_pfn(at));
    if (f == nullptr)
        return std::nullopt;
    const std::uint64_t per = w.geo().ptrs_per_pte();
    const std::uint64_t index = (addr >> w.geo().page_shift) & (per - 1);
    const std::uint64_t back = pte_pfn(at) - f->pfn;
    if (back > index || index - back + f->nr_pages() > per)
        return std::nullopt;
    folio_walk fw;
    fw.f = f;
    fw.start = addr - (back << w.geo().page_shift);
    fw.first = hw_pte_add(*ptep, -static_cast<std::ptrdiff_t>(back));
    long mappings = 0;
    fw.pages.reserve(f->nr_pages());
    for (std::uint64_t i = 0; i < f->nr_pages(); ++i) {
        mappings += w.mapcount(f->pfn + i) - w.m.page(f->pfn + i).child_map_count;
        const hw_ptep p = hw_pte_add(fw.first, static_cast<std::ptrdiff_t>(i));
        const pte_t pte = w.ops->ptep_get(p);
        if (!pte_present(pte) || pte_pfn(pte) != f->pfn + i)
            continue;
        if (pte_special(pte))
            return std::nullopt;
        fw.pages.push_back({fw.start + (i << w.geo().page_shift), p, i});
    }
    if (mappings != static_cast<long>(fw.pages.size()))
        return std::nullopt;
    return fw;
}

bool maybe_mapped_shared(const world &w, const folio &f) {
    for (std::uint64_t i = 0; i < f.nr_pages(); ++i)
        if (w.mapcount(f.pfn + i) > 1)
            return true;
    return false;
}

bool swapcache_held(const world &w, const folio &f) {
    for (std::uint64_t i = 0; i < f.nr_pages(); ++i)
        if (w.m.page(f.pfn + i).child_swap_slot != 0)
            return true;
    return false;
}

pte_t migration_pte(const world &w, pfn_t pfn, pte_t pteval) {
    softleaf_t e = pte_write(pteval)            ? make_writable_migration_entry(pfn)
                   : w.page_anon_exclusive(pfn) ? make_readable_exclusive_migration_entry(pfn)
                                                : make_readable_migration_entry(pfn);
    if (pte_young(pteval))
        e = make_migration_entry_young(e);
    if (pte_dirty(pteval))
        e = make_migration_entry_dirty(e);
    pte_t swp_pte = softleaf_to_pte(e);
    if (pte_uffd_wp(pteval))
        swp_pte = pte_swp_mkuffd_wp(swp_pte);
    return swp_pte;
}

std::uint64_t alloc_swap_slots(world &w, std::uint64_t nr) {
    auto &slots = w.swap_slots;
    if (slots.empty())
        slots.resize(1); // slot 0 stays unused
    std::uint64_t run = 0;
    for (std::uint64_t off = 1; off < slots.size(); ++off) {
        run = slots[off].in_use() ? 0 : run + 1;
        if (run == nr)
            return off + 1 - nr;
    }
    const std::uint64_t first = slots.size() - run;
    slots.resize(first + nr);
    return first;
}

std::optional<std::uint64_t> core_swap_slot(const world &w, softleaf_t e) {
    if (!softleaf_is_swap(e) || swp_type(e) != core_swap_type)
        return std::nullopt;
    const std::uint64_t off = swp_offset(e);
    if (off == 0 || off >= w.swap_slots.size() || !w.swap_slots[off].content)
        return std::nullopt;
    return off;
}

void swap_put(world &w, std::uint64_t off) {
    swap_slot &s = w.swap_slots[off];
    if (s.child_refs == 0)
        s.content.reset();
}

pgprot_t base_prot(pte_t pte) {
    return pte_pgprot(pte_mknoncont(pte_mkold(pte_mkclean(pte_wrprotect(pte_clear_uffd_wp(pte))))));
}

std::vector<unsigned> lazyfree_batches(world &w, const folio_walk &fw) {
    const bool uffd_wp = std::any_of(fw.pages.begin(), fw.pages.end(), [&](const auto &p) {
        return pte_uffd_wp(w.ops->ptep_get(p.ptep));
    });
    // Canary: the batch before 2026's fix, blind to the write bit, so the restore gives every
    // entry of a mixed batch the first one's.
    const fpb_t fpb = w.canaries.on(canary::lazyfree_batch_ignores_write) ? 0 : FPB_RESPECT_WRITE;
    std::vector<unsigned> batches;
    for (std::size_t k = 0; k < fw.pages.size();) {
        const mapped_page &p = fw.pages[k];
        const vm_flags_t flags = w.vm_flags_at(p.addr);
        unsigned max = 1;
        while (!uffd_wp && k + max < fw.pages.size() && fw.pages[k + max].index == p.index + max &&
               w.vm_flags_at(fw.pages[k + max].addr) == flags)
            ++max;
        batches.push_back(folio_pte_batch(w, p.ptep, w.ops->ptep_get(p.ptep), max, fpb));
        k += batches.back();
    }
    return batches;
}

} // namespace mmfuzz::unmap
