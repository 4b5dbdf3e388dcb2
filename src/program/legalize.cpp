#include "program/legalize.hpp"

#include "pgtable/softleaf.hpp"
#include "program/flow.hpp"

#include <algorithm>

namespace mmfuzz {

namespace {

/// Same execute permission as `like`, so a live change never needs break-before-make.
prot_kind keep_exec(prot_kind p, bool exec) {
    switch (p) {
    case prot_kind::rw:
    case prot_kind::rwx:
        return exec ? prot_kind::rwx : prot_kind::rw;
    case prot_kind::ro:
    case prot_kind::rx:
        return exec ? prot_kind::rx : prot_kind::ro;
    default:
        return p;
    }
}

prot_kind without_write(prot_kind p) {
    return p == prot_kind::rw ? prot_kind::ro : p == prot_kind::rwx ? prot_kind::rx : p;
}

/// Index of the program folio containing pfn.
std::optional<std::size_t> folio_index(const world &w, pfn_t pfn) {
    for (std::size_t i = 0; i < w.folios.size(); ++i)
        if (w.folios[i]->contains(pfn))
            return i;
    return std::nullopt;
}

/// Whether a page is mapped by some present entry: the op language keeps one mapping per page,
/// so a writable anon mapping is never shared (page_table_check's rule).
bool mapped(const world &w, pfn_t pfn) {
    return w.mapcount(pfn) != 0;
}

/// Whether a fork's child holds any of nr pages from pte's (world::page_child_held()): core
/// code never makes such a page writable (PageAnonExclusive() is clear).
bool shared(const world &w, pte_t pte, std::uint64_t nr) {
    for (std::uint64_t i = 0; i < nr; ++i)
        if (w.page_child_held(pte_pfn(pte) + i))
            return true;
    return false;
}

} // namespace

std::uint64_t fold_count(std::uint64_t raw, std::uint64_t limit) {
    return limit == 0 ? 0 : 1 + (raw == 0 ? 0 : (raw - 1) % limit);
}

std::uint64_t room_in_table(const world &w, std::uint64_t index) {
    return w.geo().ptrs_per_pte() - (index & (w.geo().ptrs_per_pte() - 1));
}

std::optional<pte_t> entry_at(world &w, std::uint64_t index) {
    const auto p = w.pte_lookup(w.page_va(index));
    if (!p)
        return std::nullopt;
    return w.ops->ptep_get(*p);
}

std::optional<op> no_op(const char *&why, const char *reason) {
    why = reason;
    return std::nullopt;
}

unsigned folio_batch(world &w, std::uint64_t index, unsigned limit) {
    const auto first = entry_at(w, index);
    if (!first || !pte_present(*first))
        return 0;
    const folio *f = w.m.pfn_folio(pte_pfn(*first));
    const auto room = static_cast<unsigned>(room_in_table(w, index));
    const unsigned max = std::min(limit, room);
    const pte_t norm = pte_normal_form(*first);
    unsigned n = 1;
    for (; n < max; ++n) {
        const auto p = entry_at(w, index + n);
        if (!p || !pte_present(*p) || pte_pfn(*p) != pte_pfn(*first) + n ||
            w.m.pfn_folio(pte_pfn(*p)) != f || f == nullptr ||
            pte_advance_pfn(norm, n) != pte_normal_form(*p))
            break;
    }
    return n;
}

pte_t set_ptes_entry(const world &w, const op &o) {
    const folio *f = w.folios.at(o[slot::folio]);
    pte_t pte = pfn_pte(f->pfn + o[slot::page], prot_of(static_cast<prot_kind>(o[slot::arg])));
    const std::uint64_t fl = o[slot::flags];
    if ((fl & SETF_YOUNG) == 0)
        pte = pte_mkold(pte);
    if ((fl & SETF_DIRTY) != 0)
        pte = pte_mkdirty(pte);
    if ((fl & SETF_SPECIAL) != 0)
        pte = pte_mkspecial(pte);
    if ((fl & SETF_UFFD_WP) != 0)
        pte = pte_mkuffd_wp(pte);
    return pte;
}

pte_t softleaf_entry(const world &w, const op &o) {
    const auto kind = static_cast<leaf_kind>(o[slot::arg]);
    const std::uint64_t fl = o[slot::flags];
    auto pfn = [&] { return w.folios.at(o[slot::folio])->pfn + o[slot::page]; };
    softleaf_t e{};
    switch (kind) {
    case leaf_kind::swap:
        e = swp_entry(static_cast<unsigned>(o[slot::nr]), o[slot::value]);
        break;
    case leaf_kind::migration_read:
    case leaf_kind::migration_read_exclusive:
    case leaf_kind::migration_write:
        e = kind == leaf_kind::migration_read    ? make_readable_migration_entry(pfn())
            : kind == leaf_kind::migration_write ? make_writable_migration_entry(pfn())
                                                 : make_readable_exclusive_migration_entry(pfn());
        if ((fl & LEAFF_YOUNG) != 0)
            e = make_migration_entry_young(e);
        if ((fl & LEAFF_DIRTY) != 0)
            e = make_migration_entry_dirty(e);
        break;
    case leaf_kind::device_read:
        e = make_readable_device_private_entry(pfn());
        break;
    case leaf_kind::device_write:
        e = make_writable_device_private_entry(pfn());
        break;
    case leaf_kind::device_exclusive:
        e = make_device_exclusive_entry(pfn());
        break;
    case leaf_kind::hwpoison:
        e = make_hwpoison_entry(pfn());
        break;
    case leaf_kind::marker:
    default:
        e = make_pte_marker_entry(o[slot::value]);
        break;
    }
    pte_t pte = softleaf_to_pte(e);
    if ((fl & LEAFF_EXCLUSIVE) != 0)
        pte = pte_swp_mkexclusive(pte);
    if ((fl & LEAFF_UFFD_WP) != 0)
        pte = pte_swp_mkuffd_wp(pte);
    return pte;
}

namespace {

std::optional<op> legalize_set_ptes(op o, world &ref, const char *&why) {
    if (ref.folios.empty())
        return no_op(why, "no folio to map");
    o[slot::folio] %= ref.folios.size();
    const folio *f = ref.folios[o[slot::folio]];
    o[slot::page] %= f->nr_pages();
    if (f->device_private)
        return no_op(why, "a device-private page is not mapped by a present entry");
    const std::uint64_t index = o[slot::addr];
    std::uint64_t nr =
        fold_count(o[slot::nr], std::min(room_in_table(ref, index), f->nr_pages() - o[slot::page]));
    // nr > 1 only over non-present entries (SEMANTICS 2).
    std::uint64_t free_run = 0;
    while (free_run < nr) {
        const auto p = entry_at(ref, index + free_run);
        if (p && pte_present(*p))
            break;
        ++free_run;
    }
    nr = std::max<std::uint64_t>(1, std::min(nr, free_run));
    o[slot::nr] = nr;
    auto prot = static_cast<prot_kind>(o[slot::arg]);
    if ((o[slot::flags] & SETF_UFFD_WP) != 0)
        prot = without_write(prot); // a uffd-wp entry is never writable (page_table_check)
    const auto old = entry_at(ref, index);
    if (old && pte_valid(*old)) {
        // set_pte_at over a live entry: only the same page, young, dirty kept, same execute
        // permission, never invalid (arm64 __check_safe_pte_update()).
        const auto fi = folio_index(ref, pte_pfn(*old));
        if (!fi || prot == prot_kind::none)
            return no_op(why, "replacing a live entry needs the same page and a valid entry");
        o[slot::folio] = *fi;
        o[slot::page] = pte_pfn(*old) - ref.folios[*fi]->pfn;
        o[slot::flags] |= SETF_YOUNG;
        if (pte_write(*old))
            o[slot::flags] |= SETF_DIRTY;
        if (pte_special(*old))
            o[slot::flags] |= SETF_SPECIAL;
        else
            o[slot::flags] &= ~SETF_SPECIAL;
        prot = keep_exec(prot, pte_user_exec(*old));
        if (!pte_write(*old) && shared(ref, *old, 1))
            prot = without_write(prot);
    } else {
        for (std::uint64_t i = 0; i < nr; ++i) {
            const pfn_t pfn = ref.folios[o[slot::folio]]->pfn + o[slot::page] + i;
            if (mapped(ref, pfn))
                return no_op(why, "page already mapped (one mapping per page)");
            if (ref.page_child_held(pfn))
                return no_op(why, "page held by a fork child (the swap cache's copy of its slot)");
        }
    }
    o[slot::arg] = static_cast<std::uint64_t>(prot);
    return o;
}

std::optional<op> legalize_softleaf(op o, world &ref, const char *&why) {
    const auto old = entry_at(ref, o[slot::addr]);
    if (old && pte_present(*old))
        return no_op(why, "a software leaf replaces only a non-present entry");
    auto kind = static_cast<leaf_kind>(o[slot::arg]);
    const bool has_pfn = kind != leaf_kind::swap && kind != leaf_kind::marker;
    if (has_pfn) {
        if (ref.folios.empty())
            return no_op(why, "no folio for a pfn entry");
        o[slot::folio] %= ref.folios.size();
        o[slot::page] %= ref.folios[o[slot::folio]]->nr_pages();
        o[slot::nr] = 0;
        o[slot::value] = 0;
        // A page a fork child holds is never writable (its PageAnonExclusive() is clear).
        if (ref.page_child_held(ref.folios[o[slot::folio]]->pfn + o[slot::page])) {
            if (kind == leaf_kind::device_write)
                kind = leaf_kind::device_read;
            else if (kind == leaf_kind::migration_write)
                kind = leaf_kind::migration_read;
            o[slot::arg] = static_cast<std::uint64_t>(kind);
        }
    } else {
        o[slot::folio] = 0;
        o[slot::page] = 0;
    }
    if (kind == leaf_kind::swap) {
        o[slot::nr] %= core_swap_type; // the last type is the core flows' swap device
        // Offset bit 40 is pte bit 52, PTE_CONT: arm64's set_ptes() applies pte_mknoncont() to
        // every pte it is given, present or not (arch/arm64/include/asm/pgtable.h), so a swap
        // pte with offset >= 2^40 would lose that bit. No swap device is that large; keep below.
        o[slot::value] &= (std::uint64_t{1} << (52 - __SWP_OFFSET_SHIFT)) - 1;
        if (o[slot::nr] == 0 && o[slot::value] == 0)
            o[slot::value] = 1; // swap slot 0 of file 0 would encode as the none pte
    } else if (kind == leaf_kind::marker) {
        o[slot::nr] = 0;
        o[slot::value] &= PTE_MARKER_MASK;
        if (o[slot::value] == 0)
            o[slot::value] = PTE_MARKER_GUARD;
    }
    const bool migration = kind == leaf_kind::migration_read ||
                           kind == leaf_kind::migration_read_exclusive ||
                           kind == leaf_kind::migration_write;
    if (!migration)
        o[slot::flags] &= ~(LEAFF_YOUNG | LEAFF_DIRTY);
    if (kind == leaf_kind::migration_write || kind == leaf_kind::device_write)
        o[slot::flags] &= ~LEAFF_UFFD_WP; // page_table_check: uffd-wp is never writable
    return o;
}

/// A batch of one folio from addr: nr is cut to the batch; none if the first entry is absent.
std::optional<op> legalize_batch(op o, world &ref, const char *&why) {
    const unsigned limit =
        static_cast<unsigned>(fold_count(o[slot::nr], room_in_table(ref, o[slot::addr])));
    const unsigned n = folio_batch(ref, o[slot::addr], limit);
    if (n == 0)
        return no_op(why, "no present entry to start a folio batch");
    o[slot::nr] = n;
    return o;
}

std::optional<op> legalize_cydp(op o, world &ref, const char *&why) {
    if (o[slot::flags] == 0)
        o[slot::flags] = CYDPF_YOUNG;
    if ((o[slot::flags] & CYDPF_DIRTY) == 0)
        return legalize_batch(o, ref, why);
    // Dirty is cleaned only over whole folios (MADV_FREE splits or skips partial ones).
    const auto p = entry_at(ref, o[slot::addr]);
    if (!p || !pte_present(*p))
        return no_op(why, "no present entry");
    const folio *f = ref.m.pfn_folio(pte_pfn(*p));
    if (f == nullptr)
        return no_op(why, "entry maps no folio");
    const std::uint64_t back = pte_pfn(*p) - f->pfn;
    if (back > (o[slot::addr] & (ref.geo().ptrs_per_pte() - 1)))
        return no_op(why, "folio starts in another table");
    const std::uint64_t start = o[slot::addr] - back;
    if (folio_batch(ref, start, static_cast<unsigned>(f->nr_pages())) != f->nr_pages())
        return no_op(why, "folio not mapped whole at one place");
    const auto first = entry_at(ref, start);
    if (!first || pte_pfn(*first) != f->pfn)
        return no_op(why, "folio not mapped whole at one place");
    o[slot::addr] = start;
    o[slot::nr] = f->nr_pages();
    return o;
}

std::optional<op> legalize_modify_prot(op o, world &ref, const char *&why) {
    auto b = legalize_batch(o, ref, why);
    if (!b)
        return b;
    const pte_t first = *entry_at(ref, (*b)[slot::addr]);
    auto prot = static_cast<prot_kind>((*b)[slot::arg]);
    if (pte_valid(first))
        prot = keep_exec(prot, pte_user_exec(first));
    if (pte_uffd_wp(first) || (pte_present(first) && shared(ref, first, (*b)[slot::nr])))
        prot = without_write(prot);
    (*b)[slot::arg] = static_cast<std::uint64_t>(prot);
    return b;
}

} // namespace

std::optional<op> legalize(const op &in, world &ref, const char *&why) {
    op o = in;
    o[slot::addr] %= ref.nr_pages();
    switch (o.kind) {
    case op_kind::folio_alloc:
        if (ref.folios.size() > 0xff)
            return no_op(why, "folio table full");
        o[slot::arg] %= ref.geo().pmd_order() + 1;
        o[slot::addr] = 0;
        return o;
    case op_kind::set_ptes:
    case op_kind::set_softleaf: {
        // __pte_alloc() installs a table only over a none PMD (pmd_install()): over a PMD leaf
        // or a PMD software leaf there is no PTE to set.
        const pmd_t pmd = ref.ops->pmdp_get(ref.m.pmd_off(ref.page_va(o[slot::addr])));
        if (!pmd_none(pmd) && !pmd_table(pmd))
            return no_op(why, "the PMD maps a huge page or a software leaf");
        return o.kind == op_kind::set_ptes ? legalize_set_ptes(o, ref, why)
                                           : legalize_softleaf(o, ref, why);
    }
    case op_kind::hw_access:
        o[slot::folio] %= 2 * ref.geo().cont_ptes(); // the entry, and how the TLB caches it
        return o;
    default:
        break;
    }
    if (is_flow(o.kind)) {
        const flow_op *f = find_flow(o.kind);
        if (f == nullptr)
            return no_op(why, "flow not in this build");
        return f->legalize(o, ref, why);
    }
    const auto cur = entry_at(ref, o[slot::addr]);
    if (!cur)
        return no_op(why, "no page table there");
    switch (o.kind) {
    case op_kind::ptep_get:
    case op_kind::ptep_get_lockless:
    case op_kind::ptep_get_and_clear:
        return o;
    case op_kind::pte_clear:
        // pte_clear() bypasses page_table_check: the kernel uses it on non-present entries
        // only (clear_not_present_full_ptes()); present ones go through ptep_get_and_clear().
        if (pte_present(*cur))
            return no_op(why, "pte_clear is for non-present entries");
        return o;
    case op_kind::ptep_test_and_clear_young:
    case op_kind::ptep_clear_flush_young:
        if (!pte_present(*cur))
            return no_op(why, "young is a bit of present entries only");
        return o;
    case op_kind::get_and_clear_full_ptes:
    case op_kind::clear_full_ptes:
        if (!pte_present(*cur)) {
            o[slot::nr] = 1;
            return o;
        }
        return legalize_batch(o, ref, why);
    case op_kind::clear_flush_young_ptes:
        return legalize_batch(o, ref, why);
    case op_kind::wrprotect_ptes:
        // fork's copy_present_ptes() write-protects only writable COW entries (mm/memory.c);
        // arm64's single-entry path relies on that ("can only be called for present ptes") and
        // unfolds on pte_cont() alone, which on a PROT_NONE block with a hole would remap it.
        if (!pte_write(*cur))
            return no_op(why, "wrprotect_ptes is for writable entries");
        return legalize_batch(o, ref, why);
    case op_kind::clear_young_dirty_ptes:
        return legalize_cydp(o, ref, why);
    case op_kind::modify_prot:
        return legalize_modify_prot(o, ref, why);
    case op_kind::ptep_set_access_flags: {
        if (!pte_valid(*cur) || pte_special(*cur))
            return no_op(why, "access flags are fixed up on valid, normal entries");
        std::uint64_t fl = o[slot::flags];
        if (pte_uffd_wp(*cur) || (!pte_write(*cur) && shared(ref, *cur, 1)))
            fl &= ~ACCF_WRITE;
        if ((fl & ACCF_WRITE) == 0 && !pte_write(*cur))
            fl &= ~ACCF_DIRTY;
        o[slot::flags] = fl;
        return o;
    }
    default:
        return no_op(why, "unknown op");
    }
}

} // namespace mmfuzz
