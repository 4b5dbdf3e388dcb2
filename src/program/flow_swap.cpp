// Flow ops of reclaim, swap, migration and the software-leaf flows (src/core/vmscan.cpp,
// swap.cpp, migrate.cpp, softleaf_flows.cpp).
#include "core/flows.hpp"
#include "core/unmap.hpp"
#include "oracle/view.hpp"
#include "program/flow.hpp"
#include "program/legalize.hpp"

#include <algorithm>
#include <array>

namespace mmfuzz {

namespace {

using range_t = std::pair<std::uint64_t, std::uint64_t>;

/// The folio mapped at the op's page, as the flows' rmap walk finds it.
std::optional<unmap::folio_walk> mapped_folio(world &ref, const op &o, const char *&why) {
    if (!ref.pte_lookup(ref.page_va(o[slot::addr]))) {
        why = "no page table there (none, or a PMD mapping)";
        return std::nullopt;
    }
    auto fw = unmap::walk_folio(ref, ref.page_va(o[slot::addr]));
    if (!fw || fw->pages.empty()) {
        why = "no folio mapped by a normal entry at its linear address here";
        return std::nullopt;
    }
    return fw;
}

range_t nr_pages(const op &o) {
    return {o[slot::addr], o[slot::nr]};
}

op_result boolean(bool flag) {
    op_result r;
    r.kind = result_kind::boolean;
    r.flag = flag;
    return r;
}

/// Whether a fork() child maps a page of f.
bool child_mapped(const world &ref, const folio &f) {
    for (std::uint64_t i = 0; i < f.nr_pages(); ++i)
        if (ref.m.page(f.pfn + i).child_map_count != 0)
            return true;
    return false;
}

// ---- shrink_folio ---------------------------------------------------------------------------

/// Whether reclaim of the clean lazy-free folio would discard its first batch and keep a later
/// one, dirty. The two worlds need not agree there: arm64 gathers the dirty bits of a
/// contiguous block into every entry when it unfolds it (contpte_convert(),
/// arch/arm64/mm/contpte.c), so an entry the generic world has clean may read dirty, and
/// try_to_unmap_one() decides batch by batch whether the folio is dirty. A folio reclaimed in
/// one batch, or dirty in its first, is kept or dropped whole (the canary's mixed batch is one).
bool discards_part(world &ref, const unmap::folio_walk &fw) {
    std::size_t k = 0; // the first page of the batch
    for (const unsigned nr : unmap::lazyfree_batches(ref, fw)) {
        for (unsigned i = 0; i < nr; ++i)
            if (pte_dirty(ref.ops->ptep_get(fw.pages[k + i].ptep)))
                return k != 0;
        k += nr;
    }
    return false;
}

std::optional<op> legalize_shrink(const op &in, world &ref, const char *&why) {
    const auto fw = mapped_folio(ref, in, why);
    if (!fw)
        return std::nullopt;
    if (!fw->f->anon)
        return no_op(why, "file folios are written back to their file, which is not modelled");
    if (fw->f->lazyfree && child_mapped(ref, *fw->f))
        return no_op(why, "a lazy-free folio a fork child maps: the child's entries' dirty bits "
                          "decide, which are not modelled");
    if (fw->f->lazyfree && !fw->f->dirty && discards_part(ref, *fw))
        return no_op(why, "a lazy-free folio clean in its first batch and dirty in a later one: "
                          "which batches are discarded differs between the worlds");
    return in;
}

op_result apply_shrink(world &w, const op &o) {
    const reclaim_result r = shrink_folio(w, w.page_va(o[slot::addr]));
    op_result res = boolean(r != reclaim_result::failed);
    res.value = static_cast<std::uint64_t>(r);
    return res;
}

/// try_to_unmap_one() puts the batch of a redirtied lazy-free folio back as it found it ("If
/// unmap fails, we need to restore the ptes", mm/rmap.c): every entry the reference cleared and
/// mapped again shows what it showed before the op, young and dirty aside.
std::optional<finding> check_shrink(flow_context &c, const op &o, const op_result &a,
                                    const op_result &b) {
    if (a.flag != b.flag || a.value != b.value || a.failed != b.failed)
        return finding{"EQUIV",
                       "shrink_folio: result " + std::to_string(a.value) + " vs " +
                           std::to_string(b.value),
                       {o[slot::addr]}};
    if (static_cast<reclaim_result>(a.value) != reclaim_result::kept)
        return std::nullopt;
    std::vector<std::pair<std::uint64_t, pte_t>> before; // each page's first old value
    for_each_write(
        c.ref, [](const pgtable_write &) {},
        [&](const pgtable_write &wr, std::uint64_t p) {
            if (std::none_of(before.begin(), before.end(),
                             [&](const auto &e) { return e.first == p; }))
                before.emplace_back(p, pte_t{wr.old_val});
        });
    for (const auto &[p, old] : before) {
        const auto now = entry_at(c.ref, p);
        if (!pte_present(old) || !now || !pte_present(*now) || exact_part(old) == exact_part(*now))
            continue;
        return finding{"RESTORE",
                       "shrink_folio: a redirtied lazy-free folio's entry came back as " +
                           describe_pte(*now) + ", was " + describe_pte(old),
                       {p}};
    }
    return std::nullopt;
}

/// Swapped or discarded pages leave the spec (discarded data is gone); a lazy-free folio kept
/// after redirtying is mapped again with the batch's gathered young/dirty and is no longer
/// discardable.
void update_shrink(flow_context &c, const op &, const op_result &a, const op_result &) {
    const auto r = static_cast<reclaim_result>(a.value);
    if (r == reclaim_result::failed)
        return;
    std::vector<std::uint64_t> restored;
    for (const std::uint64_t p : written_pages(c.ref)) {
        const auto e = entry_at(c.ref, p);
        if (e && pte_present(*e)) {
            restored.push_back(p);
            continue;
        }
        c.chk.spec.clear(p);
        if (r != reclaim_result::swapped) {
            c.content.dropped(p);
            continue;
        }
        // The swap entry carries the present entry's uffd-wp bit, and the page is exclusive
        // (anonymous, mapped once) unless it went back to a slot a fork child names: then it was
        // that slot's swap-cache copy, which is not.
        const auto slot = e ? unmap::core_swap_slot(c.ref, softleaf_from_pte(*e)) : std::nullopt;
        const bool shared = slot && c.ref.swap_slots[*slot].child_refs != 0;
        c.chk.spec.expect_flags(p, c.chk.spec.expected_uffd_wp(p),
                                shared ? flag_expect::clear : flag_expect::set);
    }
    if (restored.empty())
        return;
    ad_interval g{};
    for (const std::uint64_t p : restored) {
        const ad_interval &iv = c.chk.spec.at(p);
        g.must.young |= iv.must.young;
        g.must.dirty |= iv.must.dirty;
        g.may.young |= iv.may.young;
        g.may.dirty |= iv.may.dirty;
    }
    for (const std::uint64_t p : restored) {
        c.chk.spec.set(p, g);
        c.chk.spec.keep_flags(p);
    }
    if (const auto fw = unmap::walk_folio(c.ref, c.ref.page_va(restored.front())))
        for (const unmap::mapped_page &mp : fw->pages) {
            const std::uint64_t p = (mp.addr - c.ref.m.window_start()) >> c.ref.geo().page_shift;
            c.content.mapped(p, c.content.at(p).value); // folio_set_swapbacked()
        }
}

// ---- do_swap_page ---------------------------------------------------------------------------

std::optional<op> legalize_swapin(const op &in, world &ref, const char *&why) {
    op o = in;
    o[slot::flags] = o[slot::flags] != 0 ? 1 : 0;
    const auto e = entry_at(ref, o[slot::addr]);
    if (!e || !unmap::core_swap_slot(ref, softleaf_from_pte(*e)))
        return no_op(why, "no swap entry of the core swap device here");
    if ((ref.vm_flags_at(ref.page_va(o[slot::addr])) & VM_WRITE) == 0)
        o[slot::flags] = 0; // a write fault needs VM_WRITE
    return o;
}

op_result apply_swapin(world &w, const op &o) {
    const vm_fault f = do_swap_page(w, w.page_va(o[slot::addr]), o[slot::flags] != 0);
    op_result r = boolean(f == vm_fault::done);
    r.failed = f == vm_fault::oom;
    return r;
}

/// The entry swap-in installed, exactly.
void set_exact_from(flow_context &c, std::uint64_t p) {
    const auto e = entry_at(c.ref, p);
    if (e && pte_present(*e))
        c.chk.spec.set_exact(p, pte_young(*e), pte_dirty(*e));
}

/// The entry is present once the swap-in mapped it, even when the write fault that follows in
/// do_wp_page() fails (no memory for the copy): the legalizer asked for a swap entry.
void update_swapin(flow_context &c, const op &o, const op_result &, const op_result &) {
    const auto e = entry_at(c.ref, o[slot::addr]);
    if (!e || !pte_present(*e))
        return;
    set_exact_from(c, o[slot::addr]);
    // The present entry carries the swap entry's uffd-wp bit.
    c.chk.spec.expect_flags(o[slot::addr], c.chk.spec.expected_uffd_wp(o[slot::addr]),
                            flag_expect::unknown);
}

// ---- migrate_folio, memory_failure, migrate_device ------------------------------------------

std::optional<op> legalize_migrate(const op &in, world &ref, const char *&why) {
    if (!mapped_folio(ref, in, why))
        return std::nullopt;
    return in;
}

op_result apply_migrate(world &w, const op &o) {
    return boolean(migrate_folio(w, w.page_va(o[slot::addr])));
}

/// Migration keeps young/dirty (through the migration entries), the data and the uffd-wp bit.
void update_migrate(flow_context &c, const op &, const op_result &a, const op_result &) {
    if (!a.flag)
        return;
    for (const std::uint64_t p : written_pages(c.ref))
        c.chk.spec.keep_flags(p);
}

std::optional<op> legalize_order0_anon(const op &in, world &ref, const char *&why) {
    const auto fw = mapped_folio(ref, in, why);
    if (!fw)
        return std::nullopt;
    if (fw->f->order != 0 || !fw->f->anon)
        return no_op(why, "only an order-0 anonymous page (a large folio is split first)");
    return in;
}

/// memory_failure() of an order-0 anonymous page. One in the swap cache (a fork child's swap
/// entry names its slot) is refused: unmap_poisoned_folio() then keeps it there and drops
/// TTU_HWPOISON ("keeping poisoned page in swap cache"), so try_to_unmap_one() writes a swap
/// entry, a path the model does not take.
std::optional<op> legalize_memory_failure(const op &in, world &ref, const char *&why) {
    const auto o = legalize_order0_anon(in, ref, why);
    if (o && ref.m.page(pte_pfn(*entry_at(ref, in[slot::addr]))).child_swap_slot != 0)
        return no_op(why, "a page in the swap cache: memory_failure() would keep it there and "
                          "unmap it to a swap entry, which is not modelled");
    return o;
}

op_result apply_memory_failure(world &w, const op &o) {
    return boolean(memory_failure(w, w.page_va(o[slot::addr])));
}

void update_memory_failure(flow_context &c, const op &o, const op_result &a, const op_result &) {
    if (!a.flag)
        return;
    c.chk.spec.clear(o[slot::addr]);
    c.content.dropped(o[slot::addr]);
}

std::optional<op> legalize_device(const op &raw, world &ref, const char *&why) {
    op in = raw;
    in[slot::flags] = in[slot::flags] != 0 ? 1 : 0;
    if (in[slot::flags] == 0) {
        const auto o = legalize_order0_anon(in, ref, why);
        if (o && ref.m.page(pte_pfn(*entry_at(ref, in[slot::addr]))).child_map_count != 0)
            return no_op(why, "a page a fork child maps: migrate_device_unmap() would move the "
                              "child's mapping to the device too, which is not modelled");
        return o;
    }
    const auto e = entry_at(ref, in[slot::addr]);
    const softleaf_t l = e ? softleaf_from_pte(*e) : softleaf_mk_none();
    if (!softleaf_is_device_private(l) || ref.m.pfn_folio(softleaf_to_pfn(l)) == nullptr)
        return no_op(why, "no device-private entry here");
    return in;
}

op_result apply_device(world &w, const op &o) {
    return boolean(migrate_device(w, w.page_va(o[slot::addr]), o[slot::flags] != 0));
}

/// To the device: the entry leaves the spec, the data travels. Back: the entry the flow
/// installed (old and clean). A failed move to the device restores the entry through its
/// migration entry, young/dirty kept.
void update_device(flow_context &c, const op &o, const op_result &a, const op_result &) {
    const std::uint64_t p = o[slot::addr];
    // The uffd-wp bit travels; a device-private entry has no exclusive flag.
    const flag_expect wp = c.chk.spec.expected_uffd_wp(p);
    if (!a.flag) {
        c.chk.spec.keep_flags(p); // restored through its migration entry
        return;
    }
    if (o[slot::flags] == 0) {
        c.chk.spec.clear(p);
        c.chk.spec.expect_flags(p, wp, flag_expect::clear);
    } else {
        set_exact_from(c, p);
        c.chk.spec.expect_flags(p, wp, flag_expect::unknown);
    }
}

// ---- madvise_guard, uffd_writeprotect -------------------------------------------------------

std::optional<op> legalize_guard(const op &in, world &ref, const char *&why) {
    op o = in;
    o[slot::flags] = o[slot::flags] != 0 ? 1 : 0;
    const std::uint64_t index = o[slot::addr];
    o[slot::nr] = fold_count(o[slot::nr], room_in_table(ref, index));
    const pmd_t pmd = ref.ops->pmdp_get(ref.m.pmd_off(ref.page_va(index)));
    if (!pmd_none(pmd) && !pmd_table(pmd))
        return no_op(why, "the range is mapped by a PMD");
    if (o[slot::flags] != 0) {
        if (!ref.pte_lookup(ref.page_va(index)))
            return no_op(why, "no page table there");
        return o;
    }
    for (std::uint64_t i = 0; i < o[slot::nr]; ++i) {
        const auto e = entry_at(ref, index + i);
        if (!e || pte_none(*e) || pte_present(*e))
            continue;
        const softleaf_t l = softleaf_from_pte(*e);
        if (!softleaf_is_swap(l) && !softleaf_is_guard_marker(l))
            return no_op(why, "guard install over migration, device, hwpoison or other marker "
                              "entries is not modelled");
    }
    return o;
}

op_result apply_guard(world &w, const op &o) {
    if (o[slot::flags] != 0)
        madvise_guard_remove(w, w.page_va(o[slot::addr]), o[slot::nr]);
    else
        madvise_guard_install(w, w.page_va(o[slot::addr]), o[slot::nr]);
    return {};
}

/// Install zaps the range (data gone, the next access is a SIGSEGV); remove leaves none entries.
void update_guard(flow_context &c, const op &o, const op_result &, const op_result &) {
    if (o[slot::flags] != 0)
        return;
    for (std::uint64_t p = o[slot::addr]; p < o[slot::addr] + o[slot::nr]; ++p) {
        c.chk.spec.clear(p);
        c.content.dropped(p);
    }
}

/// A range within one page table; a PMD leaf it reaches is taken whole (change_huge_pmd()), as
/// the kernel would split one it covers in part, which split_huge_pmd already reaches.
std::optional<op> legalize_uffd(const op &in, world &ref, const char *&why) {
    op o = in;
    o[slot::flags] = o[slot::flags] != 0 ? 1 : 0;
    const std::uint64_t per = ref.geo().ptrs_per_pte();
    if (pmd_leaf(ref.ops->pmdp_get(ref.m.pmd_off(ref.page_va(o[slot::addr]))))) {
        o[slot::addr] &= ~(per - 1);
        o[slot::nr] = per;
        return o;
    }
    const std::uint64_t index = o[slot::addr];
    o[slot::nr] = fold_count(o[slot::nr], room_in_table(ref, index));
    if (!ref.pte_lookup(ref.page_va(index)))
        return no_op(why, "no page table there");
    return o;
}

op_result apply_uffd(world &w, const op &o) {
    uffd_writeprotect(w, w.page_va(o[slot::addr]), o[slot::nr], o[slot::flags] != 0);
    return {};
}

/// Present entries go a folio batch at a time through modify_prot start/commit
/// (spread_prot_batches()). Present entries and software leaves other than markers get the bit
/// set or cleared; a swap entry keeps its exclusive flag, a write migration or device entry
/// made read-only is built afresh.
void update_uffd(flow_context &c, const op &o, const op_result &, const op_result &) {
    const flag_expect wp = o[slot::flags] != 0 ? flag_expect::set : flag_expect::clear;
    spread_prot_batches(c, o[slot::addr], o[slot::nr]);
    for (std::uint64_t p = o[slot::addr]; p < o[slot::addr] + o[slot::nr]; ++p) {
        const auto e = entry_at(c.ref, p);
        if (!e || pte_none(*e) || pte_is_marker(*e))
            continue;
        const bool swap = !pte_present(*e) && softleaf_is_swap(softleaf_from_pte(*e));
        c.chk.spec.expect_flags(p, wp,
                                swap || pte_present(*e) ? c.chk.spec.expected_exclusive(p)
                                                        : flag_expect::unknown);
    }
}

const std::array<flow_op, 7> flows = {{
    {op_kind::shrink_folio, legalize_shrink, one_page, apply_shrink, check_shrink, update_shrink},
    {op_kind::do_swap_page, legalize_swapin, one_page, apply_swapin, nullptr, update_swapin},
    {op_kind::migrate_folio, legalize_migrate, one_page, apply_migrate, nullptr, update_migrate},
    {op_kind::madvise_guard, legalize_guard, nr_pages, apply_guard, nullptr, update_guard},
    {op_kind::uffd_writeprotect, legalize_uffd, nr_pages, apply_uffd, nullptr, update_uffd},
    {op_kind::memory_failure, legalize_memory_failure, one_page, apply_memory_failure, nullptr,
     update_memory_failure},
    {op_kind::migrate_device, legalize_device, one_page, apply_device, nullptr, update_device},
}};

} // namespace

std::span<const flow_op> swap_flows() {
    return flows;
}

} // namespace mmfuzz
