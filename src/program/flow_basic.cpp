// Flow ops of the basic group: aging, mprotect, zap, MADV_FREE and fork.
#include "core/flows.hpp"
#include "core/pte_walk.hpp"
#include "core/unmap.hpp"
#include "pgtable/softleaf.hpp"
#include "program/flow.hpp"
#include "program/legalize.hpp"

#include <algorithm>
#include <array>
#include <vector>

namespace mmfuzz {

namespace {

using range_t = std::pair<std::uint64_t, std::uint64_t>;

std::uint64_t per_table(const world &w) {
    return w.geo().ptrs_per_pte();
}

bool pmd_is_leaf(world &w, std::uint64_t page) {
    return pmd_leaf(w.ops->pmdp_get(w.m.pmd_off(w.page_va(page))));
}

range_t addr_nr(const op &o) {
    return {o[slot::addr], o[slot::nr]};
}

/// The pages [first, end) of a range that runs across page tables: a count past the end of the
/// window stops there, and a PMD leaf the range reaches is taken whole.
range_t whole_leaf_range(const op &o, world &ref) {
    const std::uint64_t table_mask = per_table(ref) - 1;
    std::uint64_t first = o[slot::addr];
    std::uint64_t end = first + std::clamp<std::uint64_t>(o[slot::nr], 1, ref.nr_pages() - first);
    if (pmd_is_leaf(ref, first))
        first &= ~table_mask;
    if (pmd_is_leaf(ref, end - 1))
        end = ((end - 1) | table_mask) + 1;
    return {first, end};
}

/// The end of the VMA that page `first` lies in, at most `end`: the window keeps flags per
/// page, standing for the VMAs mprotect split off, so a VMA ends where the flags change.
std::uint64_t vma_end(const world &ref, std::uint64_t first, std::uint64_t end) {
    const vm_flags_t flags = ref.vm_flags_at(ref.page_va(first));
    for (std::uint64_t p = first + 1; p < end; ++p)
        if (ref.vm_flags_at(ref.page_va(p)) != flags)
            return p;
    return end;
}

std::uint64_t page_of(const world &w, std::uint64_t va) {
    return (va - w.m.window_start()) >> w.geo().page_shift;
}

// ---- folio_referenced ---------------------------------------------------------------------

std::optional<op> legalize_referenced(const op &in, world &ref, const char *&why) {
    if (pmd_is_leaf(ref, in[slot::addr]) || folio_at(ref, ref.page_va(in[slot::addr])) != nullptr)
        return in;
    return no_op(why, "no folio mapped there");
}

op_result apply_referenced(world &w, const op &o) {
    op_result r;
    r.kind = result_kind::boolean;
    r.flag = folio_referenced(w, w.page_va(o[slot::addr]));
    return r;
}

std::optional<finding> check_referenced(flow_context &c, const op &o, const op_result &a,
                                        const op_result &b) {
    if (pmd_is_leaf(c.ref, o[slot::addr])) {
        if (a.flag != b.flag)
            return finding{
                "EQUIV", "folio_referenced of a PMD-mapped THP differs", {o[slot::addr]}};
        return std::nullopt;
    }
    // One young clear per run: the folio is referenced if any run was.
    bool must = false;
    bool may = false;
    for (const pte_run &r : folio_mapped_runs(c.ref, c.ref.page_va(o[slot::addr]))) {
        const std::uint64_t first = page_of(c.ref, r.addr);
        const ad_interval iv = c.chk.young_result_interval(first, r.nr);
        must = must || iv.must.young;
        may = may || iv.may.young;
    }
    for (const bool r : {a.flag, b.flag}) {
        if (must && !r)
            return finding{
                "EQUIV", "folio_referenced returned 0 over a young page", {o[slot::addr]}};
        if (!may && r)
            return finding{"EQUIV",
                           "folio_referenced returned 1 where nothing could be young",
                           {o[slot::addr]}};
    }
    return std::nullopt;
}

void update_referenced(flow_context &c, const op &o, const op_result &a, const op_result &b) {
    if (pmd_is_leaf(c.ref, o[slot::addr])) {
        const std::uint64_t first = o[slot::addr] & ~(per_table(c.ref) - 1);
        for (std::uint64_t p = first; p < first + per_table(c.ref); ++p) {
            c.chk.spec.clear_young(p);
            if (a.flag && b.flag)
                c.chk.spec.flushed(p); // pmdp_clear_flush_young() flushed what was young
            else
                c.chk.spec.mark_stale_old(p);
        }
        return;
    }
    for (const pte_run &r : folio_mapped_runs(c.ref, c.ref.page_va(o[slot::addr]))) {
        c.chk.young_cleared(page_of(c.ref, r.addr), r.nr);
        for (std::uint64_t p = page_of(c.ref, r.addr); p < page_of(c.ref, r.addr) + r.nr; ++p)
            c.chk.spec.keep_flags(p);
    }
}

// ---- mprotect -----------------------------------------------------------------------------

constexpr std::array<vm_flags_t, 5> prot_flags = {
    VM_READ | VM_WRITE,           // rw
    VM_READ,                      // ro
    VM_READ | VM_WRITE | VM_EXEC, // rwx
    VM_READ | VM_EXEC,            // rx
    0,                            // none
};

/// The first page of [p, next), pages of one table, whose valid PTE has execute permission
/// other than `exec`; next if none (or no table).
std::uint64_t first_exec_change(world &ref, std::uint64_t p, std::uint64_t next, bool exec) {
    const auto base = ref.pte_lookup(ref.page_va(p));
    if (!base)
        return next;
    for (std::uint64_t q = p; q < next; ++q) {
        const pte_t e = ref.ops->ptep_get(hw_pte_add(*base, static_cast<std::ptrdiff_t>(q - p)));
        if (pte_valid(e) && pte_user_exec(e) != exec)
            return q;
    }
    return next;
}

/// A range across page tables as change_protection() walks them with one mmu_gather; a count
/// past the end of the window stops there. A PMD leaf the range reaches is changed whole
/// (change_huge_pmd()): the kernel would split one it covers in part (__split_huge_pmd()), which
/// split_huge_pmd and an mprotect within the table already reach. The range is cut before the
/// first valid PTE whose execute permission the new protection would change (a live UXN change
/// needs break-before-make, which change_pte_range() does not do). It is one VMA that
/// changes: cut where the pages' flags change (a VMA ends there), a no-op when they already
/// are the new ones (mprotect_fixup() returns at once), so the spec sees only entries the flow
/// rewrote.
std::optional<op> legalize_mprotect(const op &in, world &ref, const char *&why) {
    op o = in;
    o[slot::arg] %= prot_flags.size();
    const vm_flags_t flags = prot_flags[o[slot::arg]];
    const bool exec = (flags & VM_EXEC) != 0;
    const std::uint64_t per = per_table(ref);
    auto [first, end] = whole_leaf_range(o, ref);
    const vm_flags_t old = ref.vm_flags_at(ref.page_va(first));
    if ((old & (VM_READ | VM_WRITE | VM_EXEC)) == flags)
        return no_op(why, "the VMA already has this protection: mprotect_fixup() changes nothing");
    end = vma_end(ref, first, end);
    for (std::uint64_t p = first; p < end;) {
        const std::uint64_t next = std::min(end, (p | (per - 1)) + 1);
        const std::uint64_t cut =
            !pmd_is_leaf(ref, p) && flags != 0 ? first_exec_change(ref, p, next, exec) : next;
        if (cut < next) {
            end = cut;
            break;
        }
        p = next;
    }
    if (end == first)
        return no_op(why, "the first entry's execute permission would change");
    o[slot::addr] = first;
    o[slot::nr] = end - first;
    return o;
}

op_result apply_mprotect(world &w, const op &o) {
    mprotect_fixup(w, w.page_va(o[slot::addr]), o[slot::nr], prot_flags[o[slot::arg]]);
    return {};
}

/// `may` spreads over the folio batches (spread_prot_batches()); pte_modify() and pmd_modify()
/// keep the flags. change_softleaf_pte() builds the read entry it writes afresh: no
/// swap-exclusive bit, and uffd-wp only on a device-private one.
void update_mprotect(flow_context &c, const op &o, const op_result &, const op_result &) {
    const std::uint64_t per = per_table(c.ref);
    const std::uint64_t end = o[slot::addr] + o[slot::nr];
    for (std::uint64_t p = o[slot::addr]; p < end;) {
        const std::uint64_t next = std::min(end, (p | (per - 1)) + 1);
        if (spread_prot_batches(c, p, next - p) || pmd_is_leaf(c.ref, p))
            for (std::uint64_t q = p; q < next; ++q)
                c.chk.spec.keep_flags(q);
        p = next;
    }
    for (const std::uint64_t p : written_pages(c.ref)) {
        const auto e = entry_at(c.ref, p);
        if (!e || pte_none(*e) || pte_present(*e))
            continue;
        const bool device = softleaf_is_device_private(softleaf_from_pte(*e));
        c.chk.spec.expect_flags(p, device ? c.chk.spec.expected_uffd_wp(p) : flag_expect::clear,
                                flag_expect::clear);
    }
}

// ---- change_prot_numa ---------------------------------------------------------------------

/// A range of one VMA as task_numa_work() hands it to change_prot_numa(): an accessible VMA
/// (vma_is_accessible(); a PROT_NONE VMA's entries would pass for hints), a count past the end
/// of the window stopping there, a PMD leaf it reaches taken whole (change_huge_pmd(); the
/// split of one covered in part is split_huge_pmd's), cut where the pages' flags change (a VMA
/// ends there) and before the first page of a file folio. The scan passes over a dirty file
/// folio (folio_test_dirty()), and that flag is not the same in both worlds:
/// zap_present_folio_ptes() marks a file folio dirty from the entries it clears (mm/memory.c),
/// and arm64's clear of one entry of a contiguous block returns the block's gathered dirty bit
/// (arch/arm64/mm/contpte.c), so zapping a clean page beside a written one dirties the folio on
/// arm64 only. Both kernels are right; the hint differs.
std::optional<op> legalize_numa_scan(const op &in, world &ref, const char *&why) {
    op o = in;
    auto [first, end] = whole_leaf_range(o, ref);
    if ((ref.vm_flags_at(ref.page_va(first)) & (VM_READ | VM_WRITE | VM_EXEC)) == 0)
        return no_op(why, "task_numa_work() passes over an inaccessible VMA");
    end = vma_end(ref, first, end);
    for (std::uint64_t p = first; p < end; ++p) {
        const auto e = entry_at(ref, p);
        const folio *f = e ? ref.vm_normal_folio(*e) : nullptr;
        if (f != nullptr && !f->anon) {
            end = p;
            break;
        }
    }
    if (end == first)
        return no_op(why, "a file folio's dirty flag, which the scan reads, may differ between "
                          "the worlds");
    o[slot::addr] = first;
    o[slot::nr] = end - first;
    return o;
}

op_result apply_numa_scan(world &w, const op &o) {
    change_prot_numa(w, w.page_va(o[slot::addr]), o[slot::nr]);
    return {};
}

// ---- zap_pte_range ------------------------------------------------------------------------

/// A range across page tables as zap_pmd_range() walks them with one mmu_gather; a count past
/// the end of the window stops there, as madvise() stops at the end of the mapping. A PMD leaf
/// the range reaches is zapped whole: the kernel would split one it covers in part
/// (__split_huge_pmd()) and zap the PTEs, which split_huge_pmd and a zap within the table
/// already reach.
std::optional<op> legalize_zap(const op &in, world &ref, const char *&) {
    op o = in;
    const auto [first, end] = whole_leaf_range(o, ref);
    o[slot::addr] = first;
    o[slot::nr] = end - first;
    return o;
}

op_result apply_zap(world &w, const op &o) {
    zap_pte_range(w, w.page_va(o[slot::addr]), o[slot::nr]);
    return {};
}

/// Zapped pages lose their data by design; guard markers stay.
void update_zap(flow_context &c, const op &o, const op_result &, const op_result &) {
    for (std::uint64_t p = o[slot::addr]; p < o[slot::addr] + o[slot::nr]; ++p) {
        const auto e = entry_at(c.ref, p);
        if (e && !pte_none(*e))
            continue;
        c.chk.spec.clear(p);
        c.content.dropped(p);
    }
}

// ---- madvise_free -------------------------------------------------------------------------

std::optional<op> legalize_free(const op &in, world &ref, const char *&why) {
    op o = in;
    const std::uint64_t page = o[slot::addr];
    if (pmd_is_leaf(ref, page))
        return no_op(why, "MADV_FREE of a PMD-mapped THP is not modelled");
    o[slot::nr] = fold_count(o[slot::nr], room_in_table(ref, page));
    return o;
}

op_result apply_free(world &w, const op &o) {
    madvise_free(w, w.page_va(o[slot::addr]), o[slot::nr]);
    return {};
}

/// Whole folios in the range are cleaned and become lazy-free; swap entries are dropped.
/// madvise_free() leaves alone a folio the swap cache holds for a fork child, and one the
/// child shares if the folio's own dirty flag is set. That flag comes from the entries' dirt
/// folded at unmap, which the arm64 world gathers over a CONT block where the other may not:
/// for a shared folio either outcome is legal.
void update_free(flow_context &c, const op &o, const op_result &, const op_result &) {
    const std::uint64_t first = o[slot::addr];
    const std::uint64_t end = first + o[slot::nr];
    const auto base = c.ref.pte_lookup(c.ref.page_va(first));
    if (!base)
        return;
    for (std::uint64_t p = first; p < end;) {
        const hw_ptep ptep = hw_pte_add(*base, static_cast<std::ptrdiff_t>(p - first));
        const pte_t e = c.ref.ops->ptep_get(ptep);
        if (pte_none(e)) {
            c.chk.spec.clear(p);
            c.content.dropped(p);
            ++p;
            continue;
        }
        const folio *f = c.ref.vm_normal_folio(e);
        if (f == nullptr) {
            ++p;
            continue;
        }
        const unsigned n = folio_pte_batch(c.ref, ptep, e, static_cast<unsigned>(end - p));
        const bool whole = f->order == 0 || (pte_pfn(e) == f->pfn && n == f->nr_pages());
        if (!whole || unmap::swapcache_held(c.ref, *f)) {
            p += n;
            continue;
        }
        const bool either = unmap::maybe_mapped_shared(c.ref, *f);
        std::vector<ad_bits> before;
        for (std::uint64_t q = p; either && q < p + n; ++q)
            before.push_back(c.chk.spec.at(q).may);
        c.chk.young_cleared(p, n);
        for (std::uint64_t q = p; q < p + n; ++q) {
            c.chk.spec.keep_flags(q);
            if (either)
                c.chk.spec.set(q, ad_interval{{}, before[q - p]});
            else
                c.chk.spec.clear_dirty(q);
            if (f->anon)
                c.content.lazyfree(q);
        }
        p += n;
    }
}

// ---- fork ----------------------------------------------------------------------------------

/// The whole window, as dup_mmap() copies every VMA. Refused over what copy_page_range() would
/// hand to the child in ways this model does not follow (device-exclusive entries, which it
/// restores first; device-private entries that name no device page, which only direct ops
/// write; PMD software leaves), and when nothing is mapped.
std::optional<op> legalize_fork(const op &o, world &ref, const char *&why) {
    bool mapped = false;
    const std::uint64_t per = per_table(ref);
    for (std::uint64_t p = 0; p < ref.nr_pages(); p += per) {
        const pmd_t pmd = ref.ops->pmdp_get(ref.m.pmd_off(ref.page_va(p)));
        if (pmd_trans_huge(pmd)) {
            mapped = true;
            continue;
        }
        if (!pmd_none(pmd) && !pmd_table(pmd))
            return no_op(why, "fork of a PMD software leaf is not modelled");
        const auto base = ref.pte_lookup(ref.page_va(p));
        for (std::uint64_t i = 0; i < per && base; ++i) {
            const pte_t e = ref.ops->ptep_get(hw_pte_add(*base, static_cast<std::ptrdiff_t>(i)));
            if (pte_none(e))
                continue;
            mapped = true;
            const softleaf_t l = pte_present(e) ? softleaf_mk_none() : softleaf_from_pte(e);
            if (softleaf_is_device_exclusive(l))
                return no_op(why, "fork over a device-exclusive entry is not modelled");
            if (softleaf_is_device_private(l)) {
                const folio *f = ref.m.pfn_folio(softleaf_to_pfn(l));
                if (f == nullptr || !f->device_private)
                    return no_op(why, "fork over a device-private entry that names no device "
                                      "page is not modelled");
            }
        }
    }
    if (!mapped)
        return no_op(why, "nothing mapped to copy");
    return o;
}

range_t no_pages(const op &) {
    return {0, 0};
}

op_result apply_fork(world &w, const op &) {
    copy_page_range(w);
    return {};
}

/// Every entry keeps its young/dirty and uffd-wp; swap entries lose their exclusive flag
/// (shared with the child), and so do the migration and device-private entries fork rebuilt
/// readable (copy_nonpresent_pte() carries only their uffd-wp bit over).
void update_fork(flow_context &c, const op &, const op_result &, const op_result &) {
    const std::uint64_t per = per_table(c.ref);
    for (std::uint64_t t = 0; t < c.ref.nr_pages(); t += per) {
        if (pmd_is_leaf(c.ref, t)) {
            for (std::uint64_t p = t; p < t + per; ++p)
                c.chk.spec.keep_flags(p);
            continue;
        }
        const auto base = c.ref.pte_lookup(c.ref.page_va(t));
        for (std::uint64_t i = 0; i < per && base; ++i) {
            const std::uint64_t p = t + i;
            const pte_t e = c.ref.ops->ptep_get(hw_pte_add(*base, static_cast<std::ptrdiff_t>(i)));
            if (pte_none(e))
                continue;
            const softleaf_t l = pte_present(e) ? softleaf_mk_none() : softleaf_from_pte(e);
            if (softleaf_is_swap(l))
                c.chk.spec.expect_flags(p, c.chk.spec.expected_uffd_wp(p), flag_expect::clear);
            else
                c.chk.spec.keep_flags(p);
        }
    }
    for_each_write(
        c.ref, [](const pgtable_write &) {},
        [&](const pgtable_write &wr, std::uint64_t p) {
            const pte_t old{wr.old_val};
            if (wr.by_hw || !pte_is_softleaf(old))
                return;
            const softleaf_t l = softleaf_from_pte(old);
            if (softleaf_is_migration(l) || softleaf_is_device_private(l))
                c.chk.spec.expect_flags(p, c.chk.spec.expected_uffd_wp(p), flag_expect::clear);
        });
}

const std::array<flow_op, 6> flows = {
    flow_op{op_kind::folio_referenced, legalize_referenced, one_page, apply_referenced,
            check_referenced, update_referenced},
    flow_op{op_kind::mprotect, legalize_mprotect, addr_nr, apply_mprotect, nullptr,
            update_mprotect},
    // The scan's change_pte_range() is mprotect's: the same batches, flags and software leaves.
    flow_op{op_kind::change_prot_numa, legalize_numa_scan, addr_nr, apply_numa_scan, nullptr,
            update_mprotect},
    flow_op{op_kind::zap_pte_range, legalize_zap, addr_nr, apply_zap, nullptr, update_zap},
    flow_op{op_kind::madvise_free, legalize_free, addr_nr, apply_free, nullptr, update_free},
    flow_op{op_kind::fork, legalize_fork, no_pages, apply_fork, nullptr, update_fork},
};

} // namespace

std::span<const flow_op> basic_flows() {
    return flows;
}

} // namespace mmfuzz
