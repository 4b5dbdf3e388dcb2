#include "program/apply.hpp"

#include "pgtable/softleaf.hpp"
#include "program/flow.hpp"
#include "program/legalize.hpp"

namespace mmfuzz {

namespace {

/// What core code accounts for a range as it maps and unmaps: MM_ANONPAGES / MM_FILEPAGES /
/// MM_SWAPENTS and the page mapcounts, as this world sees the entries. `sign` -1 takes the
/// range's entries out before an op, +1 puts them back after it.
void account_range(world &w, std::uint64_t first, std::uint64_t nr, long sign) {
    // A legal range lies in one table.
    const auto base = w.pte_lookup(w.page_va(first));
    if (!base)
        return;
    for (std::uint64_t i = 0; i < nr; ++i) {
        const pte_t pte = w.ops->ptep_get(hw_pte_add(*base, static_cast<std::ptrdiff_t>(i)));
        if (pte_present(pte)) {
            if (folio *f = w.m.pfn_folio(pte_pfn(pte))) {
                (f->anon ? w.m.mm.rss.anon : w.m.mm.rss.file) += sign;
                w.mapcount(pte_pfn(pte)) += static_cast<int>(sign);
            }
        } else if (!pte_none(pte) && softleaf_is_swap(softleaf_from_pte(pte))) {
            w.m.mm.rss.swap += sign;
        }
    }
}

/// The PTL held around one call, as the kernel's callers hold it.
class ptl_guard {
  public:
    ptl_guard(world &w, std::uint64_t va) : m_(w.m), lock_(w.ptl(va)) { m_.spin_lock(lock_); }
    ~ptl_guard() { m_.spin_unlock(lock_); }
    ptl_guard(const ptl_guard &) = delete;
    ptl_guard &operator=(const ptl_guard &) = delete;

  private:
    machine &m_;
    spinlock_t lock_;
};

op_result apply_locked(world &w, const op &o, hw_ptep ptep, std::uint64_t va, unsigned nr) {
    op_result r;
    mm_struct *mm = &w.m.mm;
    pgtable_ops &ops = *w.ops;
    const std::uint64_t end = va + nr * w.geo().page_size();
    ptl_guard ptl(w, va);
    switch (o.kind) {
    case op_kind::set_ptes: {
        const bool was_valid = pte_valid(ops.ptep_get(ptep));
        ops.set_ptes(mm, va, ptep, set_ptes_entry(w, o), nr);
        if (was_valid)
            w.m.flush_tlb_page(va); // the caller of a live update flushes
        break;
    }
    case op_kind::set_softleaf:
        ops.set_pte_at(mm, va, ptep, softleaf_entry(w, o));
        break;
    case op_kind::ptep_get:
        r.kind = result_kind::pte;
        r.pte = ops.ptep_get(ptep);
        break;
    case op_kind::ptep_get_and_clear:
        r.kind = result_kind::pte;
        r.pte = ops.ptep_get_and_clear(mm, va, ptep);
        w.m.flush_tlb_page(va); // ptep_clear_flush()
        break;
    case op_kind::pte_clear:
        ops.pte_clear(mm, va, ptep);
        w.m.flush_tlb_page(va);
        break;
    case op_kind::get_and_clear_full_ptes:
        r.kind = result_kind::pte;
        r.pte = ops.get_and_clear_full_ptes(mm, va, ptep, nr, static_cast<int>(o[slot::flags]));
        w.m.flush_tlb_range(va, end); // tlb_finish_mmu()
        break;
    case op_kind::clear_full_ptes:
        ops.clear_full_ptes(mm, va, ptep, nr, static_cast<int>(o[slot::flags]));
        w.m.flush_tlb_range(va, end);
        break;
    case op_kind::ptep_test_and_clear_young:
        r.kind = result_kind::boolean;
        r.flag = ops.ptep_test_and_clear_young(&w.vma, va, ptep);
        break;
    case op_kind::ptep_clear_flush_young:
        r.kind = result_kind::boolean;
        r.flag = ops.ptep_clear_flush_young(&w.vma, va, ptep);
        break;
    case op_kind::clear_flush_young_ptes:
        r.kind = result_kind::boolean;
        r.flag = ops.clear_flush_young_ptes(&w.vma, va, ptep, nr);
        break;
    case op_kind::clear_young_dirty_ptes: {
        cydp_t flags = 0;
        if ((o[slot::flags] & CYDPF_YOUNG) != 0)
            flags |= CYDP_CLEAR_YOUNG;
        if ((o[slot::flags] & CYDPF_DIRTY) != 0)
            flags |= CYDP_CLEAR_DIRTY;
        ops.clear_young_dirty_ptes(&w.vma, va, ptep, nr, flags);
        w.m.flush_tlb_range(va, end); // madvise_free_pte_range()'s mmu_gather
        break;
    }
    case op_kind::wrprotect_ptes:
        ops.wrprotect_ptes(mm, va, ptep, nr);
        w.m.flush_tlb_range(va, end); // fork flushes the parent's TLB
        break;
    case op_kind::ptep_set_access_flags: {
        // handle_pte_fault() / wp_page_reuse(): the entry comes from this world's own view.
        const pte_t old = ops.ptep_get(ptep);
        pte_t entry = pte_mkyoung(old);
        const bool write = (o[slot::flags] & ACCF_WRITE) != 0;
        if (write)
            entry = pte_mkwrite_novma(pte_mkdirty(entry));
        else if ((o[slot::flags] & ACCF_DIRTY) != 0)
            entry = pte_mkdirty(entry);
        r.kind = result_kind::boolean;
        r.flag = ops.ptep_set_access_flags(&w.vma, va, ptep, entry,
                                           write || (o[slot::flags] & ACCF_DIRTY) != 0) != 0;
        break;
    }
    case op_kind::modify_prot: {
        // change_pte_range(): start, pte_modify() of this world's own start value, commit.
        r.kind = result_kind::pte;
        r.pte = ops.modify_prot_start_ptes(&w.vma, va, ptep, nr);
        const pte_t ptent = pte_modify(r.pte, prot_of(static_cast<prot_kind>(o[slot::arg])));
        ops.modify_prot_commit_ptes(&w.vma, va, ptep, r.pte, ptent, nr);
        w.m.flush_tlb_range(va, end);
        break;
    }
    default:
        break;
    }
    return r;
}

} // namespace

std::pair<std::uint64_t, std::uint64_t> op_range(const op &o) {
    if (is_flow(o.kind)) {
        const flow_op *f = find_flow(o.kind);
        return f != nullptr ? f->range(o) : std::pair<std::uint64_t, std::uint64_t>{0, 0};
    }
    switch (o.kind) {
    case op_kind::folio_alloc:
        return {0, 0};
    case op_kind::set_ptes:
    case op_kind::get_and_clear_full_ptes:
    case op_kind::clear_full_ptes:
    case op_kind::clear_flush_young_ptes:
    case op_kind::clear_young_dirty_ptes:
    case op_kind::wrprotect_ptes:
    case op_kind::modify_prot:
        return {o[slot::addr], o[slot::nr]};
    default:
        return {o[slot::addr], 1};
    }
}

op_result apply_op(world &w, const op &o) {
    if (is_flow(o.kind)) {
        const flow_op *f = find_flow(o.kind);
        if (f == nullptr)
            return {};
        op_result r = f->apply(w, o);
        w.m.check_locks_released(desc_of(o.kind).name);
        return r;
    }
    const std::uint64_t va = w.page_va(o[slot::addr]);
    switch (o.kind) {
    case op_kind::folio_alloc: {
        op_result r;
        r.kind = result_kind::folio;
        folio *f = w.m.folio_alloc(static_cast<unsigned>(o[slot::arg]), o[slot::flags] != 0);
        r.failed = f == nullptr;
        if (f != nullptr)
            w.folios.push_back(f);
        return r;
    }
    case op_kind::hw_access: {
        op_result r;
        r.kind = result_kind::access;
        const auto a = w.m.hw_access(va, o[slot::arg] != 0, static_cast<unsigned>(o[slot::folio]),
                                     o[slot::value]);
        r.fault = static_cast<int>(a.fault);
        r.value = a.value;
        return r;
    }
    case op_kind::ptep_get_lockless: {
        op_result r;
        r.kind = result_kind::pte;
        if (const auto p = w.pte_lookup(va))
            r.pte = w.ops->ptep_get_lockless(*p);
        return r;
    }
    default:
        break;
    }
    const bool allocates = o.kind == op_kind::set_ptes || o.kind == op_kind::set_softleaf;
    const auto ptep = allocates ? w.pte_alloc_map(va) : w.pte_lookup(va);
    if (!ptep)
        return {};
    const auto [first, nr] = op_range(o);
    account_range(w, first, nr, -1);
    op_result r = apply_locked(w, o, *ptep, va, static_cast<unsigned>(nr));
    account_range(w, first, nr, +1);
    return r;
}

} // namespace mmfuzz
