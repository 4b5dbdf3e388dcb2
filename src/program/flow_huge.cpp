// Flow ops of mm/huge_memory.c and mm/khugepaged.c: split_huge_pmd, split_folio and
// collapse_huge_page. Their legal forms, application, and spec transitions.
#include "program/flow.hpp"
#include "program/legalize.hpp"

#include "core/flows.hpp"
#include "pgtable/softleaf.hpp"

#include <algorithm>
#include <array>

namespace mmfuzz {

namespace {

op_result flag_result(bool ok) {
    op_result r;
    r.kind = result_kind::boolean;
    r.flag = ok;
    return r;
}

// ---- split_huge_pmd --------------------------------------------------------------------------

/// A PMD leaf, or a migration / device-private PMD, at addr; addr becomes the PMD's first page.
std::optional<op> legalize_split_pmd(const op &in, world &ref, const char *&why) {
    op o = in;
    o[slot::addr] &= ~(std::uint64_t{ref.geo().ptrs_per_pte()} - 1);
    const pmd_t pmd = ref.ops->pmdp_get(ref.m.pmd_off(ref.page_va(o[slot::addr])));
    if (pmd_trans_huge(pmd))
        return o;
    if (!pmd_none(pmd) && !pmd_present(pmd) && pmd_is_valid_softleaf(pmd))
        return o;
    return no_op(why, "no huge PMD to split there");
}

op_result apply_split_pmd(world &w, const op &o) {
    const std::uint64_t va = w.page_va(o[slot::addr]);
    split_huge_pmd(w, va);
    return flag_result(w.pte_lookup(va).has_value());
}

/// spread_split_pmd(); the data does not move.
void update_split_pmd(flow_context &c, const op &o, const op_result &a, const op_result &) {
    if (a.flag)
        spread_split_pmd(c, o[slot::addr] & ~(std::uint64_t{c.ref.geo().ptrs_per_pte()} - 1));
}

// ---- split_folio -----------------------------------------------------------------------------

/// A PTE-mapped, anonymous large folio at addr, and a smaller order; the order is raised until
/// the new folios still fit the program's folio table.
std::optional<op> legalize_split_folio(const op &in, world &ref, const char *&why) {
    op o = in;
    const auto pte = entry_at(ref, o[slot::addr]);
    if (!pte)
        return no_op(why, "no page table there (a PMD-mapped folio is split by split_huge_pmd)");
    if (!pte_present(*pte) || pte_special(*pte))
        return no_op(why, "no folio mapped there");
    const folio *f = ref.m.pfn_folio(pte_pfn(*pte));
    if (f == nullptr || !f->anon || f->order == 0)
        return no_op(why, "split_folio is for large anonymous folios");
    // Never to order 1: an anonymous folio of that order does not exist
    // (uniform_split_supported()).
    std::uint64_t order = o[slot::arg] % f->order;
    if (order == 1)
        order = 0;
    const std::uint64_t room = ref.folios.size() <= 0x100 ? 0x100 - ref.folios.size() : 0;
    while (order < f->order && (order == 1 || (std::uint64_t{1} << (f->order - order)) - 1 > room))
        ++order;
    if (order >= f->order)
        return no_op(why, "folio table full");
    o[slot::arg] = order;
    return o;
}

op_result apply_split_folio(world &w, const op &o) {
    return flag_result(
        split_folio(w, w.page_va(o[slot::addr]), static_cast<unsigned>(o[slot::arg])));
}

/// Each page keeps its entry's young and dirty through the migration entries.
void update_split_folio(flow_context &, const op &, const op_result &, const op_result &) {}

// ---- collapse_huge_page ----------------------------------------------------------------------

/// An order from 2 to the PMD order (no order-1 anonymous folio), addr aligned down to it, inside
/// one accessible VMA; a table there whose entries in the range are none or map normal pages of
/// anonymous folios (not uffd-wp), at least one present.
std::optional<op> legalize_collapse(const op &in, world &ref, const char *&why) {
    op o = in;
    const unsigned pmd_order = ref.geo().pmd_order();
    const std::uint64_t order = std::max<std::uint64_t>(fold_count(o[slot::arg], pmd_order), 2);
    const std::uint64_t nr = std::uint64_t{1} << order;
    o[slot::arg] = order;
    o[slot::addr] &= ~(nr - 1);
    const vm_flags_t flags = ref.vm_flags_at(ref.page_va(o[slot::addr]));
    if ((flags & (VM_READ | VM_WRITE | VM_EXEC)) == 0)
        return no_op(why, "khugepaged skips inaccessible VMAs");
    bool any = false;
    for (std::uint64_t i = 0; i < nr; ++i) {
        if (ref.vm_flags_at(ref.page_va(o[slot::addr] + i)) != flags)
            return no_op(why, "the range spans two VMAs");
        const auto pte = entry_at(ref, o[slot::addr] + i);
        if (!pte)
            return no_op(why, "no page table there");
        if (pte_none(*pte))
            continue;
        if (!pte_valid(*pte) || pte_special(*pte) || pte_uffd_wp(*pte))
            return no_op(why, "collapse needs none or normal present entries (no uffd-wp)");
        const folio *f = ref.m.pfn_folio(pte_pfn(*pte));
        if (f == nullptr || !f->anon)
            return no_op(why, "collapse is for anonymous memory");
        any = true;
    }
    if (!any)
        return no_op(why, "nothing mapped to collapse");
    return o;
}

std::pair<std::uint64_t, std::uint64_t> range_collapse(const op &o) {
    return {o[slot::addr], std::uint64_t{1} << o[slot::arg]};
}

op_result apply_collapse(world &w, const op &o) {
    return flag_result(
        collapse_huge_page(w, w.page_va(o[slot::addr]), static_cast<unsigned>(o[slot::arg])));
}

/// The new mapping is young; a PMD is always dirty, an mTHP only in a writable VMA. The source
/// A/D bits are gone, the data is not.
void update_collapse(flow_context &c, const op &o, const op_result &a, const op_result &) {
    if (!a.flag)
        return;
    const auto [first, nr] = range_collapse(o);
    const bool dirty = o[slot::arg] == c.ref.geo().pmd_order() ||
                       (c.ref.vm_flags_at(c.ref.page_va(first)) & VM_WRITE) != 0;
    for (std::uint64_t p = first; p < first + nr; ++p)
        c.chk.spec.set_exact(p, true, dirty);
}

const std::array flows = {
    flow_op{op_kind::split_huge_pmd, legalize_split_pmd, one_page, apply_split_pmd, nullptr,
            update_split_pmd},
    flow_op{op_kind::split_folio, legalize_split_folio, one_page, apply_split_folio, nullptr,
            update_split_folio},
    flow_op{op_kind::collapse_huge_page, legalize_collapse, range_collapse, apply_collapse, nullptr,
            update_collapse},
};

} // namespace

std::span<const flow_op> huge_flows() {
    return flows;
}

} // namespace mmfuzz
