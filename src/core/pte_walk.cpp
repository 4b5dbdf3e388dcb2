#include "core/pte_walk.hpp"

namespace mmfuzz {

namespace {

pte_t batch_clear_ignored(pte_t p, fpb_t flags) {
    const bool dirty = pte_dirty(p);
    p = pte_normal_form(p);
    if ((flags & FPB_RESPECT_WRITE) == 0)
        p = pte_wrprotect(p);
    return dirty && (flags & FPB_RESPECT_DIRTY) != 0 ? pte_mkdirty(p) : p;
}

} // namespace

unsigned folio_pte_batch(world &w, hw_ptep ptep, pte_t first, unsigned max, fpb_t flags) {
    if (!pte_present(first) || pte_special(first))
        return 1;
    const folio *f = w.m.pfn_folio(pte_pfn(first));
    if (f == nullptr)
        return 1;
    const pte_t norm = batch_clear_ignored(first, flags);
    const bool to_folio_end = !w.canaries.on(canary::pte_batch_crosses_folio);
    unsigned n = 1;
    for (; n < max; ++n) {
        const pte_t p = w.ops->ptep_get(hw_pte_add(ptep, static_cast<std::ptrdiff_t>(n)));
        if (!pte_present(p) || (to_folio_end && !f->contains(pte_pfn(first) + n)) ||
            batch_clear_ignored(p, flags) != pte_advance_pfn(norm, n))
            break;
    }
    return n;
}

bool can_change_pte_writable(world &w, pte_t pte) {
    const bool uffd_wp = pte_uffd_wp(pte) && !w.canaries.on(canary::mprotect_ignores_uffd_wp);
    if (pte_protnone(pte) || uffd_wp || pte_special(pte))
        return false;
    if (w.canaries.on(canary::writable_ignores_anon_exclusive)) {
        const folio *f = w.m.pfn_folio(pte_pfn(pte));
        return f != nullptr && f->anon;
    }
    return w.page_anon_exclusive(pte_pfn(pte));
}

void commit_prot_batch(world &w, std::uint64_t addr, hw_ptep ptep, pte_t oldpte, pte_t ptent,
                       unsigned nr, bool try_writable) {
    if (!try_writable || pte_write(ptent)) {
        w.ops->modify_prot_commit_ptes(&w.vma, addr, ptep, oldpte, ptent, nr);
        return;
    }
    const std::uint64_t ps = w.geo().page_size();
    for (unsigned k = 0; k < nr;) {
        const pte_t sub = pte_advance_pfn(ptent, k);
        const bool writable = can_change_pte_writable(w, sub);
        unsigned len = 1;
        while (k + len < nr &&
               can_change_pte_writable(w, pte_advance_pfn(ptent, k + len)) == writable)
            ++len;
        w.ops->modify_prot_commit_ptes(&w.vma, addr + k * ps, hw_pte_add(ptep, k),
                                       pte_advance_pfn(oldpte, k),
                                       writable ? pte_mkwrite_novma(sub) : sub, len);
        k += len;
    }
}

folio *alloc_anon_folio(world &w, unsigned order) {
    folio *f = w.m.folio_alloc(order, true);
    if (f == nullptr)
        return nullptr;
    for (std::uint64_t i = 0; i < f->nr_pages(); ++i)
        w.m.page(f->pfn + i).content = 0; // folio_zero_user()
    w.folios.push_back(f);
    return f;
}

std::uint64_t table_room(const world &w, std::uint64_t addr) {
    const std::uint64_t per = w.geo().ptrs_per_pte();
    return per - (((addr - w.m.window_start()) >> w.geo().page_shift) & (per - 1));
}

folio *folio_at(world &w, std::uint64_t addr) {
    const auto p = w.pte_lookup(addr);
    if (!p)
        return nullptr;
    const pte_t pte = w.ops->ptep_get(*p);
    if (!pte_present(pte) || pte_special(pte))
        return nullptr;
    return w.m.pfn_folio(pte_pfn(pte));
}

std::vector<pte_run> folio_mapped_runs(world &w, std::uint64_t addr) {
    std::vector<pte_run> runs;
    const auto p = w.pte_lookup(addr);
    if (!p)
        return runs;
    const pte_t pte = w.ops->ptep_get(*p);
    const folio *f = folio_at(w, addr);
    if (f == nullptr)
        return runs;
    const std::uint64_t ps = w.geo().page_size();
    const std::uint64_t back = (pte_pfn(pte) - f->pfn) * ps;
    if (addr - w.m.window_start() < back)
        return runs;
    const std::uint64_t start = addr - back;
    const std::uint64_t end = std::min(start + f->nr_pages() * ps, w.m.window_end());
    for (std::uint64_t a = start; a < end;) {
        const auto q = w.pte_lookup(a);
        if (!q) {
            a += table_room(w, a) * ps;
            continue;
        }
        const pte_t e = w.ops->ptep_get(*q);
        const pfn_t want = f->pfn + (a - start) / ps;
        if (!pte_present(e) || pte_special(e) || pte_pfn(e) != want) {
            a += ps;
            continue;
        }
        const auto max = static_cast<unsigned>(std::min(table_room(w, a), (end - a) / ps));
        const unsigned nr = folio_pte_batch(w, *q, e, max);
        runs.push_back({a, nr});
        a += nr * ps;
    }
    return runs;
}

} // namespace mmfuzz
