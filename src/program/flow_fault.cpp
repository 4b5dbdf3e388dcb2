// Flow ops of the fault group: anonymous faults, and user and device accesses with fault
// handling.
#include "core/flows.hpp"
#include "core/pte_walk.hpp"
#include "program/flow.hpp"
#include "program/legalize.hpp"

#include <array>

namespace mmfuzz {

namespace {

// ---- do_anonymous_page --------------------------------------------------------------------

/// The order do_anonymous_page() will map: the highest up to the requested one whose aligned
/// range lies in the faulting VMA and is all none (alloc_anon_folio(),
/// thp_vma_suitable_orders()); PMD order needs a none PMD.
std::optional<op> legalize_anon(const op &in, world &ref, const char *&why) {
    op o = in;
    const unsigned pmd_order = ref.geo().pmd_order();
    auto order = static_cast<unsigned>(o[slot::arg] % (pmd_order + 1));
    const std::uint64_t page = o[slot::addr];
    if ((ref.vm_flags_at(ref.page_va(page)) & VM_WRITE) == 0)
        return no_op(why, "the VMA is not writable there");
    const pmd_t pmd = ref.ops->pmdp_get(ref.m.pmd_off(ref.page_va(page)));
    if (!pmd_none(pmd) && !pmd_table(pmd))
        return no_op(why, "the PMD maps a huge page or a software leaf");
    for (;; --order) {
        if (order == 1)
            continue; // no order-1 anonymous folio (THP_ORDERS_ALL_ANON)
        const std::uint64_t nr = std::uint64_t{1} << order;
        const std::uint64_t start = page & ~(nr - 1);
        bool fits = ref.one_vma(ref.page_va(start), nr) && (order < pmd_order || pmd_none(pmd));
        for (std::uint64_t i = 0; i < nr && fits && order < pmd_order; ++i) {
            const auto e = entry_at(ref, start + i);
            fits = !e || pte_none(*e);
        }
        if (fits)
            break;
        if (order == 0)
            return no_op(why, "the entry is not none");
    }
    o[slot::arg] = order;
    return o;
}

std::pair<std::uint64_t, std::uint64_t> range_anon(const op &o) {
    const std::uint64_t nr = std::uint64_t{1} << o[slot::arg];
    return {o[slot::addr] & ~(nr - 1), nr};
}

op_result apply_anon(world &w, const op &o) {
    op_result r;
    const vm_fault f =
        do_anonymous_page(w, w.page_va(o[slot::addr]), static_cast<unsigned>(o[slot::arg]), true);
    r.flag = f == vm_fault::done;
    r.failed = f == vm_fault::oom;
    r.detail = static_cast<std::uint8_t>(f);
    return r;
}

void update_anon(flow_context &c, const op &o, const op_result &a, const op_result &) {
    if (!a.flag)
        return;
    const auto [first, nr] = range_anon(o);
    const bool writable = (c.ref.vm_flags_at(c.ref.page_va(first)) & VM_WRITE) != 0;
    for (std::uint64_t p = first; p < first + nr; ++p) {
        c.chk.spec.set_exact(p, true, writable); // young from PROT_DEFAULT
        c.chk.spec.expect_flags(p, flag_expect::clear, flag_expect::unknown);
    }
}

// ---- handle_mm_fault ----------------------------------------------------------------------

std::optional<op> legalize_touch(const op &in, world &ref, const char *&) {
    op o = in;
    o[slot::folio] %= 2 * ref.geo().cont_ptes(); // the entry, and how the TLB caches it
    return o;
}

/// handle_mm_fault()'s handler and outcome, packed as describe_faults() unpacks them.
std::uint8_t fault_detail(fault_path path, vm_fault handled) {
    return static_cast<std::uint8_t>(static_cast<unsigned>(path) * 8 +
                                     static_cast<unsigned>(handled));
}

op_result access_result(const touch_result &t) {
    op_result r;
    r.kind = result_kind::access;
    r.fault = static_cast<int>(t.access.fault);
    r.value = t.access.value;
    r.flag = t.faulted;
    r.failed = t.handled == vm_fault::oom;
    r.detail = fault_detail(t.path, t.handled);
    for (unsigned i = 0; i < t.nr_earlier; ++i)
        r.earlier.at(i) = fault_detail(t.earlier.at(i).path, t.earlier.at(i).handled);
    r.nr_earlier = static_cast<std::uint8_t>(t.nr_earlier);
    r.earlier_writes = t.earlier_writes;
    return r;
}

op_result apply_touch(world &w, const op &o) {
    return access_result(touch(w, w.page_va(o[slot::addr]), o[slot::arg] != 0,
                               static_cast<unsigned>(o[slot::folio]), o[slot::value]));
}

std::string describe_touch(const op_result &r) {
    std::string s = r.fault == 0 ? "ok value " + std::to_string(r.value)
                                 : std::string("fault ") + hw_fault_name(r.fault);
    if (r.flag)
        s += ", after " + describe_faults(r);
    return s + (r.failed ? " oom" : "");
}

/// An access op's verdict once its results are judged `same`: EQUIV if not, else a read checked
/// against the ideal memory.
std::optional<finding> check_access(flow_context &c, const op &o, const op_result &a,
                                    const op_result &b, bool same, const char *what) {
    if (!same)
        return finding{"EQUIV",
                       std::string(what) + ": " + describe_touch(a) + " vs " + describe_touch(b),
                       {o[slot::addr]}};
    if (a.fault == 0 && o[slot::arg] == 0)
        return c.chk.check_read(c.content, o[slot::addr], a.value, what);
    return std::nullopt;
}

std::optional<finding> check_touch(flow_context &c, const op &o, const op_result &a,
                                   const op_result &b) {
    const bool same = a.fault == b.fault && a.value == b.value && a.flag == b.flag &&
                      a.detail == b.detail && a.failed == b.failed;
    return check_access(c, o, a, b, same, "handle_mm_fault");
}

/// A write fault on a THP a fork's child shares splits it first (do_huge_pmd_wp_page()) and
/// copies the page at the PTE level: spread_split_pmd(). The split is the PMD write whose old
/// value was the leaf (pmdp_invalidate()).
void spread_split_pmds(flow_context &c) {
    for_each_write(
        c.ref,
        [&](const pgtable_write &wr) {
            if (pmd_leaf(pmd_t{wr.old_val}) && !pmd_valid(pmd_t{wr.new_val}))
                spread_split_pmd(c, wr.index * c.ref.geo().ptrs_per_pte());
        },
        [](const pgtable_write &, std::uint64_t) {});
}

/// The spec after one handle_mm_fault() of the reference (`detail`: handler and outcome) for
/// an access to `page`. Entries are read after the whole op, which later faults of the same
/// access only make younger or dirtier, as their own updates then say.
void update_fault(flow_context &c, std::uint64_t page, bool write, std::uint8_t detail) {
    ad_spec &s = c.chk.spec;
    const auto path = static_cast<fault_path>(detail / 8);
    const auto handled = static_cast<vm_fault>(detail % 8);
    if (path == fault_path::wp_copy)
        spread_split_pmds(c);
    // A swap-in or device-private return maps the page even when the write fault after it
    // fails (do_wp_page() without memory for the copy).
    const bool mapped = path == fault_path::swap || path == fault_path::device;
    // An entry rewritten young, its other bits and flags kept.
    const auto made_young = [&](std::uint64_t p) {
        ad_interval r = s.at(p);
        r.must.young = r.may.young = true;
        s.set(p, r);
        s.keep_flags(p);
    };
    // The access-flag fix-up (of the entry, or of the whole PMD leaf): young, and dirty for a
    // write.
    const auto fixed_up = [&](std::uint64_t p) {
        made_young(p);
        if (write) {
            ad_interval r = s.at(p);
            r.must.dirty = r.may.dirty = true;
            s.set(p, r);
        }
    };
    const std::uint64_t pmd_pages = c.ref.geo().ptrs_per_pte();
    const std::uint64_t pmd_first = page & ~(pmd_pages - 1);
    if (handled == vm_fault::done || mapped) {
        ad_interval iv = s.at(page);
        switch (path) {
        case fault_path::anon:
        case fault_path::anon_uffd_wp:
            // A new zeroed folio, young from PROT_DEFAULT, dirty where the VMA is writable;
            // uffd-wp (and so read-only) where it replaced a uffd-wp marker.
            s.set_exact(page, true, (c.ref.vm_flags_at(c.ref.page_va(page)) & VM_WRITE) != 0);
            s.expect_flags(page, path == fault_path::anon ? flag_expect::clear : flag_expect::set,
                           flag_expect::unknown);
            c.content.dropped(page);
            break;
        case fault_path::swap:
        case fault_path::device:
            // A new mapping whose young/dirty come from the reference's argument (DESIGN).
            if (const auto e = entry_at(c.ref, page); e && pte_present(*e))
                s.set_exact(page, pte_young(*e), pte_dirty(*e));
            break;
        case fault_path::wp_copy:
            s.set_exact(page, true, true);
            s.expect_flags(page, flag_expect::clear, flag_expect::unknown);
            break;
        case fault_path::wp_reuse:
            iv.must = iv.may = {true, true};
            s.set(page, iv);
            s.keep_flags(page);
            break;
        case fault_path::numa:
            // The protection is restored, young set; a write retried on a page that stays
            // read-only faults again (the access below), dirty comes only from that access.
            // For a large folio every other PROT_NONE entry of it in the table is restored too
            // (numa_rebuild_large_mapping()): the pages the reference rewrote from PROT_NONE.
            made_young(page);
            for_each_write(
                c.ref, [](const pgtable_write &) {},
                [&](const pgtable_write &wr, std::uint64_t p) {
                    if (p != page && pte_protnone(pte_t{wr.old_val}))
                        made_young(p);
                });
            break;
        case fault_path::access:
            fixed_up(page);
            break;
        case fault_path::huge_wp_reuse:
            // The whole PMD leaf became young, dirty and writable.
            for (std::uint64_t p = pmd_first; p < pmd_first + pmd_pages; ++p) {
                s.set_exact(p, true, true);
                s.keep_flags(p);
            }
            break;
        case fault_path::huge_access:
            for (std::uint64_t p = pmd_first; p < pmd_first + pmd_pages; ++p)
                fixed_up(p);
            break;
        case fault_path::huge_numa:
            // The whole PMD leaf gets its protection back, young; dirty as it was, and from
            // the retried access.
            for (std::uint64_t p = pmd_first; p < pmd_first + pmd_pages; ++p)
                made_young(p);
            break;
        case fault_path::none:
            break;
        }
    }
}

void update_touch(flow_context &c, const op &o, const op_result &a, const op_result &) {
    ad_spec &s = c.chk.spec;
    const std::uint64_t page = o[slot::addr];
    const bool write = o[slot::arg] != 0;
    if (a.flag) {
        // A fault after another may undo what the contpte world could fold after the first
        // (do_numa_page() restores a block, do_wp_page() then replaces one of its pages), so
        // each earlier fault spreads the spec as the end of an op would have.
        for (unsigned i = 0; i < a.nr_earlier; ++i) {
            update_fault(c, page, write, a.earlier.at(i));
            c.chk.spread_at_write(a.earlier_writes.at(i));
        }
        update_fault(c, page, write, a.detail);
    }
    if (a.fault == 0) {
        s.accessed(page, write);
        if (write)
            c.content.written(page, o[slot::value]);
    }
}

// ---- iommu_sva_handle_mm ------------------------------------------------------------------

/// Any entry but one a direct set_ptes made to allow what its VMA does not: whether the device
/// faults at all there, and so meets the handler's SIGSEGV, would follow each world's raw AF
/// and dirty. A THP's entry always has its VMA's protection (do_anonymous_page(), collapse and
/// change_huge_pmd() make it).
std::optional<op> legalize_sva(const op &in, world &ref, const char *&why) {
    const bool write = in[slot::arg] != 0;
    const vm_flags_t flags = ref.vm_flags_at(ref.page_va(in[slot::addr]));
    const bool vma_allows =
        (flags & (VM_READ | VM_WRITE | VM_EXEC)) != 0 && (!write || (flags & VM_WRITE) != 0);
    const auto e = entry_at(ref, in[slot::addr]);
    if (!vma_allows && e && pte_present(*e) && !pte_protnone(*e) && (!write || pte_write(*e)))
        return no_op(why, "the entry allows an access its VMA does not");
    return in;
}

op_result apply_sva(world &w, const op &o) {
    return access_result(sva_touch(w, w.page_va(o[slot::addr]), o[slot::arg] != 0, o[slot::value]));
}

/// A device access's faults but the access-flag fix-ups, oldest first.
struct sva_faults {
    std::array<std::uint8_t, sva_max_faults> detail{};
    unsigned n = 0;
    explicit sva_faults(const op_result &r) {
        const std::uint8_t fixup = fault_detail(fault_path::access, vm_fault::done);
        const auto add = [&](std::uint8_t d) {
            if (d != fixup)
                detail.at(n++) = d;
        };
        if (!r.flag)
            return;
        for (unsigned i = 0; i < r.nr_earlier; ++i)
            add(r.earlier.at(i));
        add(r.detail);
    }
    friend bool operator==(const sva_faults &, const sva_faults &) = default;
};

/// The device reads the accessed page's own entry, but in a CONT block the CPU's hardware may
/// have set AF or dirty on another entry of the block (which a gathered ptep_get() shows), and
/// a block-wide clear of young may have cleared AF where the reference's stays: one world may
/// take access-flag fix-ups the other does not, so the two must take the same faults but
/// those. An access that still fails may do so on AF in one world and on the write permission
/// in the other, since the walker reports an access-flag fault first. Otherwise both must end
/// alike. A world whose access still faults after sva_max_faults faults, each handled (a fix-up
/// that leaves the entry as it was), fails FAULT_PROGRESS.
std::optional<finding> check_sva(flow_context &c, const op &o, const op_result &a,
                                 const op_result &b) {
    for (const auto &[r, w] : {std::pair{&a, &c.ref}, std::pair{&b, &c.opt}})
        if (r->fault != 0 && r->nr_earlier + 1U == sva_max_faults &&
            static_cast<vm_fault>(r->detail % 8) == vm_fault::done)
            return finding{"FAULT_PROGRESS",
                           std::string(w->ops->name()) + ": iommu_sva_handle_mm: " +
                               describe_touch(*r) + ", every fault handled",
                           {o[slot::addr]}};
    const auto af_or_wp = [](int f) {
        return f == static_cast<int>(hw_fault::access_flag) ||
               f == static_cast<int>(hw_fault::write_protect);
    };
    const bool same = (a.fault == b.fault || (af_or_wp(a.fault) && af_or_wp(b.fault))) &&
                      a.value == b.value && a.failed == b.failed && sva_faults(a) == sva_faults(b);
    return check_access(c, o, a, b, same, "iommu_sva_handle_mm");
}

const std::array<flow_op, 3> flows = {
    flow_op{op_kind::do_anonymous_page, legalize_anon, range_anon, apply_anon, nullptr,
            update_anon},
    flow_op{op_kind::handle_mm_fault, legalize_touch, one_page, apply_touch, check_touch,
            update_touch},
    flow_op{op_kind::iommu_sva_handle_mm, legalize_sva, one_page, apply_sva, check_sva,
            update_touch},
};

} // namespace

std::span<const flow_op> fault_flows() {
    return flows;
}

std::string describe_faults(const op_result &r) {
    std::string s;
    for (unsigned i = 0; i <= r.nr_earlier; ++i) {
        const std::uint8_t d = i < r.nr_earlier ? r.earlier.at(i) : r.detail;
        s += std::string(i == 0 ? "(" : " (") + fault_path_name(static_cast<fault_path>(d / 8)) +
             ": " + vm_fault_name(static_cast<vm_fault>(d % 8)) + ")";
    }
    return s;
}

} // namespace mmfuzz
