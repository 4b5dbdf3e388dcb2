// The MMU: a walker over the simulated tables, hardware AF and DBM-dirty updates, and a TLB;
// and a second walker, an SVA device's SMMU, which updates nothing and caches nothing.
//
// What a TLB hit does follows the ARM ARM's hardware management of the access flag and dirty
// state (FEAT_HAFDBS):
// * a translation is cached only with AF set: the walker sets AF (an atomic update of the
//   descriptor) before it caches, so a hit never touches AF. After software clears AF without a
//   flush (ptep_test_and_clear_young()), hits keep using the entry and AF stays clear: the
//   "stale old" state the kernel accepts;
// * a hit on a writable-dirty entry (DBM=1, AP[2]=0) writes without touching the table;
// * a write hit on a writable-clean entry (DBM=1, AP[2]=1) cannot complete from the TLB: the
//   dirty-state update is an atomic read-modify-write of the descriptor in memory, so the
//   hardware walks again, and faults if the descriptor no longer has DBM (which is why
//   __ptep_set_wrprotect() can clear DBM with a cmpxchg and leave the flush to the caller);
// * a hit on a read-only entry faults on a write, even if the table was made writable since
//   (the spurious fault flush_tlb_fix_spurious_fault() exists for).
#include "machine/handle_access.hpp"
#include "machine/machine.hpp"
#include "pgtable/format.hpp"

#include <bit>
#include <string>

namespace mmfuzz {

namespace {

/// Translation-fault kind of an entry that is not valid (PTE or PMD, same encodings).
hw_fault invalid_kind(pte_t e) {
    if (pte_none(e))
        return hw_fault::none_entry;
    if (pte_protnone(e))
        return hw_fault::protnone;
    return pte_present(e) ? hw_fault::present_invalid : hw_fault::softleaf;
}

} // namespace

std::uint64_t machine::tlb_entry_size(tlb_kind k) const {
    switch (k) {
    case tlb_kind::page:
        return geo_.page_size();
    case tlb_kind::cont:
        return geo_.cont_pte_size();
    case tlb_kind::pmd:
        return geo_.pmd_size();
    case tlb_kind::empty:
    default:
        return 0;
    }
}

/// The walk from the root PMD. With use_walk_cache, a PMD whose table the walk cache holds is not
/// read: the cached table is used even if the PMD has changed since (until a non-last-level
/// flush). The oracle and the monitors walk without it, to see the truth.
machine::walk_result machine::walk(std::uint64_t va, bool use_walk_cache) const {
    walk_result r;
    if (!in_window(va))
        return r;
    const std::size_t p = pmd_index(va);
    pfn_t table = use_walk_cache ? walk_cache_[p] : 0;
    if (table == 0) {
        const pmd_t pmd = root_.get()[p];
        if (!pmd_valid(pmd)) {
            r.fault = invalid_kind(pmd_pte(pmd));
            return r;
        }
        if (!pmd_table(pmd)) {
            r.fault = hw_fault::ok;
            r.pmd_leaf = true;
            r.desc = pmd.pmd;
            r.index = p;
            return r;
        }
        if (!is_table_page(pmd_pfn(pmd)))
            return r;
        table = pmd_pfn(pmd);
    }
    r.table = table;
    r.index = geo_.pte_index(va);
    const pte_t pte = table_ptr({table})[r.index];
    r.desc = pte.pte;
    if (!pte_valid(pte))
        r.fault = invalid_kind(pte);
    else if ((pte.pte & PTE_TABLE_BIT) == 0)
        r.fault = hw_fault::reserved;
    else
        r.fault = hw_fault::ok;
    return r;
}

/// The first entry covering va. Overlapping entries (a block cached next to stale pages, as
/// BBML2 allows) resolve to the lowest slot: the ARM ARM lets the TLB return any of them.
tlb_entry *machine::tlb_find(std::uint64_t va) {
    for (std::uint64_t m = tlb_used_; m != 0; m &= m - 1) {
        const auto i = static_cast<std::size_t>(std::countr_zero(m));
        if (va - tlb_[i].va < tlb_len_[i])
            return &tlb_[i];
    }
    return nullptr;
}

std::optional<tlb_entry> machine::tlb_lookup(std::uint64_t va) const {
    for (std::uint64_t m = tlb_used_; m != 0; m &= m - 1) {
        const auto i = static_cast<std::size_t>(std::countr_zero(m));
        if (va - tlb_[i].va < tlb_len_[i])
            return tlb_[i];
    }
    return std::nullopt;
}

std::size_t machine::tlb_nr_entries() const {
    std::size_t n = 0;
    for (const tlb_entry &e : tlb_)
        n += e.kind != tlb_kind::empty ? 1 : 0;
    return n;
}

std::optional<pgtable_t> machine::walk_cache_entry(std::size_t index) const {
    if (index >= walk_cache_.size() || walk_cache_[index] == 0)
        return std::nullopt;
    return pgtable_t{walk_cache_[index]};
}

/// Fill a free slot, else replace round-robin: the hardware may evict any entry at any time,
/// which only ever removes staleness.
void machine::tlb_insert(const tlb_entry &e) {
    ++state_gen_;
    auto at = static_cast<std::size_t>(std::countr_one(tlb_used_));
    if (at == tlb_.size()) {
        at = tlb_victim_;
        tlb_victim_ = (tlb_victim_ + 1) % tlb_.size();
    }
    tlb_[at] = e;
    tlb_len_[at] = tlb_entry_size(e.kind);
    tlb_used_ |= std::uint64_t{1} << at;
    const auto off = static_cast<std::size_t>(e.va - window_base);
    const std::size_t pmd = off >> geo_.pmd_shift();
    tlb_verified &v = tlb_verified_[at];
    v.valid = false; // a fill through a stale walk cache may be stale already
    // A page cached from a CONT entry depends on its whole block (the entry used, the block's
    // dirty state), as a CONT entry does.
    const bool from_block = e.kind == tlb_kind::cont || (e.desc & PTE_CONT) != 0;
    v.a = e.kind == tlb_kind::pmd ? &pmd_any_gen_[pmd]
          : from_block            ? &block_gen_[off >> (geo_.page_shift + geo_.cont_pte_shift)]
                                  : &page_gen_[off >> geo_.page_shift];
    v.b = &pmd_entry_gen_[pmd];
}

/// Leaf entries (page, CONT block, PMD block) go on a covering flush whose level hint, if any,
/// is theirs; walk-cache entries only on a flush that is neither last-level (TLBI VAE1 rather
/// than VALE1) nor level-hinted.
void machine::tlb_apply_flush(const tlb_flush &f) {
    for (std::uint64_t m = tlb_used_; m != 0; m &= m - 1) {
        const auto i = static_cast<std::size_t>(std::countr_zero(m));
        const int level = tlb_[i].kind == tlb_kind::pmd ? tlb_level_pmd : tlb_level_pte;
        if (flush_covers(f, tlb_[i].va, tlb_len_[i], level)) {
            tlb_[i] = tlb_entry{};
            tlb_len_[i] = 0;
            tlb_used_ &= ~(std::uint64_t{1} << i);
        }
    }
    if (!flush_reaches_walk_cache(f))
        return;
    for (std::size_t p = 0; p < walk_cache_.size(); ++p)
        if (walk_cache_[p] != 0 &&
            flush_covers_walk_cache(
                f, window_base + (static_cast<std::uint64_t>(p) << geo_.pmd_shift()),
                geo_.pmd_size()))
            walk_cache_[p] = 0;
}

/// A hardware update of AF or the dirty state: logged like any store (by_hw), checked by BBM.
void machine::hw_store(bool pmd, pfn_t table, std::size_t index, pteval_t new_val) {
    if (pmd) {
        pmd_t *p = root_.get() + index;
        const pteval_t old = p->pmd;
        record_write(pt_level::pmd, root_pfn, index, old, new_val, true);
        p->pmd = new_val;
        bbm_pmd_write(index, old, new_val);
        return;
    }
    pte_t *p = table_ptr({table}) + index;
    record_write(pt_level::pte, table, index, p->pte, new_val, true);
    p->pte = new_val;
}

hw_access_result machine::hw_access(std::uint64_t va, bool write, unsigned slot,
                                    std::uint64_t value) {
    hw_access_result res;
    if (!in_window(va)) {
        res.fault = hw_fault::none_entry;
        return res;
    }

    if (tlb_entry *e = tlb_find(va)) {
        const pteval_t d = e->desc;
        const bool clean_write = write && (d & PTE_RDONLY) != 0;
        if ((d & PTE_USER) == 0 || (clean_write && (d & PTE_WRITE) == 0)) {
            res.tlb_hit = true;
            res.fault = (d & PTE_USER) == 0 ? hw_fault::permission : hw_fault::write_protect;
            return res;
        }
        if (!clean_write) {
            res.tlb_hit = true;
            res.pmd_leaf = e->kind == tlb_kind::pmd;
            access_frame(res, va, e->pfn + ((va - e->va) >> geo_.page_shift), write, value);
            return res;
        }
        // The dirty update goes to memory: walk again.
        const auto at = static_cast<std::size_t>(e - tlb_.data());
        tlb_len_[at] = 0;
        tlb_used_ &= ~(std::uint64_t{1} << at);
        *e = tlb_entry{};
    }

    const walk_result w = walk(va, true);
    if (!w.pmd_leaf && w.table != 0 && walk_cache_[pmd_index(va)] != w.table) {
        walk_cache_[pmd_index(va)] = w.table;
        ++state_gen_;
    }
    if (w.fault != hw_fault::ok) {
        res.fault = w.fault;
        return res;
    }

    // The descriptor the hardware uses: for a consistent valid+CONT block, the adversary's pick.
    pteval_t d = w.desc;
    std::size_t used = w.index;
    bool cont = false;
    pfn_t pfn = w.pmd_leaf ? pmd_pfn({d}) + geo_.pte_index(va) : pte_pfn({d});
    if (!w.pmd_leaf && pte_valid_cont({d})) {
        const std::size_t n = geo_.cont_ptes();
        const std::size_t cand = (w.index & ~(n - 1)) + slot % n;
        const pte_t c = table_ptr({w.table})[cand];
        if (pte_valid_cont(c) && pte_pfn(c) + w.index == pfn + cand) {
            d = c.pte;
            used = cand;
            cont = true;
        }
    }

    if ((d & PTE_USER) == 0) {
        res.fault = hw_fault::permission;
        return res;
    }
    pteval_t nd = d;
    if (write && (d & PTE_RDONLY) != 0) {
        if ((d & PTE_WRITE) == 0) {
            res.fault = hw_fault::write_protect;
            return res;
        }
        nd &= ~PTE_RDONLY;
        res.set_dirty = true;
    }
    if ((d & PTE_AF) == 0) {
        nd |= PTE_AF;
        res.set_young = true;
    }
    if (nd != d)
        hw_store(w.pmd_leaf, w.table, used, nd);

    // PTE_CONT is a hint: the TLB may hold the block as one entry or page by page (both at
    // once, even: the comment on BBML2 in contpte_convert(), arch/arm64/mm/contpte.c), and
    // the next bit of the slot picks which, so a flush of part of a block can miss the rest.
    const bool cont_entry = cont && (slot / geo_.cont_ptes()) % 2 == 0;
    if (w.pmd_leaf)
        tlb_insert({geo_.pmd_align_down(va), pmd_pfn({nd}), nd, tlb_kind::pmd});
    else if (cont_entry)
        tlb_insert({geo_.cont_align_down(va), pfn - (w.index & (geo_.cont_ptes() - 1)), nd,
                    tlb_kind::cont});
    else
        tlb_insert({va & ~(geo_.page_size() - 1), pfn, nd, tlb_kind::page});
    res.pmd_leaf = w.pmd_leaf;
    access_frame(res, va, pfn, write, value);
    return res;
}

hw_access_result machine::device_access(std::uint64_t va, bool write, std::uint64_t value) {
    hw_access_result res;
    if (!in_window(va)) {
        res.fault = hw_fault::none_entry;
        return res;
    }
    const walk_result w = walk(va, false);
    if (w.fault != hw_fault::ok) {
        res.fault = w.fault;
        return res;
    }
    const pteval_t d = w.desc;
    if ((d & PTE_USER) == 0)
        res.fault = hw_fault::permission;
    else if ((d & PTE_AF) == 0)
        res.fault = hw_fault::access_flag;
    else if (write && (d & PTE_RDONLY) != 0)
        res.fault = hw_fault::write_protect;
    if (!res.ok())
        return res;
    res.pmd_leaf = w.pmd_leaf;
    access_frame(res, va, w.pmd_leaf ? pmd_pfn({d}) + geo_.pte_index(va) : pte_pfn({d}), write,
                 value);
    return res;
}

void machine::access_frame(hw_access_result &res, std::uint64_t va, pfn_t pfn, bool write,
                           std::uint64_t value) {
    res.pfn = pfn;
    if (!pfn_valid(pfn))
        return; // not a data frame: nothing to read or store
    page_state &ps = page(pfn);
    if (write && ps.child_map_count != 0)
        report(violation_id::COW, "write of " + hex(value) + " at va " + hex(va) +
                                      " reached page " + hex(pfn) + ", which " +
                                      std::to_string(ps.child_map_count) +
                                      " mapping(s) of fork() children still hold");
    else if (write && ps.child_swap_slot != 0)
        report(violation_id::COW, "write of " + hex(value) + " at va " + hex(va) +
                                      " reached page " + hex(pfn) +
                                      ", the swap-cache copy of slot " + hex(ps.child_swap_slot) +
                                      ", which a fork() child's swap entry still names");
    if (write)
        ps.content = value;
    res.value = ps.content;
}

/// MIPS's update_mmu_cache_range() (arch/mips/mm/tlb-r4k.c __update_tlb()) walks pgd -> pmd ->
/// pte from the mm root for addr; it must land on the entries the caller was given (seed 003).
void machine::update_mmu_walk_check(std::uint64_t addr, hw_ptep ptep, unsigned nr) {
    if (nr == 0)
        return;
    const pgtable_t t = table_of(ptep);
    const std::size_t idx = index_of(ptep);
    const std::uint64_t last = addr + (static_cast<std::uint64_t>(nr) - 1) * geo_.page_size();
    const char *why = nullptr;
    if (!in_window(addr) || !in_window(last)) {
        why = "the range is outside the mapped window";
    } else if (pmd_index(addr) != pmd_index(last) || idx + nr > geo_.ptrs_per_pte()) {
        why = "the range crosses a PMD";
    } else {
        const auto live = live_table_for(addr);
        if (!live)
            why = "the PMD does not point to a table";
        else if (*live != t)
            why = "the walk reaches another table";
        else if (geo_.pte_index(addr) != idx)
            why = "the walk reaches another entry of the table";
    }
    if (why != nullptr)
        report(violation_id::UPDATE_MMU_WALK,
               "update_mmu_cache_range(addr=" + hex(addr) + ", nr=" + std::to_string(nr) +
                   ") walked from the root and did not reach entry " + std::to_string(idx) +
                   " of table " + hex(t.pfn) + ": " + why);
}

} // namespace mmfuzz
