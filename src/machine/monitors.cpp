// Monitors checked on demand: TLB_STALE at the end of a core operation, and the LIVENESS reports
// of the entry accessors.
#include "machine/machine.hpp"
#include "pgtable/format.hpp"

#include <bit>
#include <string>

namespace mmfuzz {

void machine::liveness_violation(const pte_t *p, const char *what, bool live_handle) const {
    if (is_guard_slot(ptr_table_slot(p)))
        throw api_misuse(std::string(what) +
                         " through an entry handle outside any page table: pointer arithmetic "
                         "took it past the first or last entry of its table");
    const pgtable_t t = table_of_ptr(p);
    const auto idx = static_cast<std::size_t>(p - table_ptr(t));
    note(violation_id::LIVENESS,
         std::string(what) + (live_handle ? " through a live handle" : " through a staged handle") +
             " at entry " + std::to_string(idx) + " of table " + hex(t.pfn) +
             (live_handle ? ", which hardware cannot reach (not installed in any PMD)"
                          : ", which is installed in a PMD and reachable by hardware"));
}

/// Whether the CONT block holding entry `index` has a valid+CONT hardware-dirty entry: contpte
/// tracks dirty per block (contpte_ptep_get() ORs it), so a cached dirty block is not more
/// permissive than a block with one dirty entry.
bool machine::cont_block_hw_dirty(pfn_t table, std::size_t index) const {
    const std::size_t n = geo_.cont_ptes();
    const pte_t *e = table_ptr({table}) + (index & ~(n - 1));
    for (std::size_t i = 0; i < n; ++i)
        if (pte_valid_cont(e[i]) && pte_hw_dirty(e[i]))
            return true;
    return false;
}

/// Why a cached translation of va (frame pfn, descriptor desc) is more permissive than what the
/// tables say now, or nullptr. AF is not compared: a cached entry whose AF was cleared without a
/// flush is allowed ("stale old", ptep_test_and_clear_young() does not flush).
const char *machine::stale_reason(std::uint64_t va, pfn_t pfn, pteval_t desc) const {
    const walk_result w = walk(va, false);
    if (w.fault != hw_fault::ok)
        return "a valid translation is cached over an entry that is not valid";
    const pfn_t now = w.pmd_leaf ? pmd_pfn({w.desc}) + geo_.pte_index(va) : pte_pfn({w.desc});
    if (now != pfn)
        return "the cached translation maps another PFN";
    if ((desc & PTE_USER) != 0 && (w.desc & PTE_USER) == 0)
        return "user-accessible over a kernel-only entry";
    if ((desc & PTE_WRITE) != 0 && (w.desc & PTE_WRITE) == 0)
        return "writable over a read-only entry";
    if ((desc & PTE_RDONLY) == 0 && (w.desc & PTE_RDONLY) != 0 &&
        !(!w.pmd_leaf && pte_valid_cont({w.desc}) && cont_block_hw_dirty(w.table, w.index)))
        return "hardware-dirty over a clean entry (writes would not mark it dirty)";
    return nullptr;
}

void machine::check_tlb_stale() {
    if (stale_checked_gen_ == state_gen_)
        return; // nothing written or cached since the last check
    stale_checked_gen_ = state_gen_;
    const auto stale = [&](const tlb_entry &e, std::uint64_t va, pfn_t pfn, const char *why) {
        const walk_result w = walk(va, false);
        static constexpr const char *kinds[] = {"empty", "page", "CONT block", "PMD block"};
        report(violation_id::TLB_STALE, std::string("TLB ") + kinds[static_cast<unsigned>(e.kind)] +
                                            " entry at " + hex(e.va) + ": va " + hex(va) +
                                            " -> pfn " + hex(pfn) + " (" + hex(e.desc) +
                                            "), table entry now " + hex(w.desc) + ": " + why);
    };
    for (std::uint64_t m = tlb_used_; m != 0; m &= m - 1) {
        const auto slot = static_cast<std::size_t>(std::countr_zero(m));
        const tlb_entry &e = tlb_[slot];
        tlb_verified &v = tlb_verified_[slot];
        if (v.valid && v.gen_a == *v.a && v.gen_b == *v.b)
            continue;
        v.valid = true;
        v.gen_a = *v.a;
        v.gen_b = *v.b;
        std::size_t pages = 0;
        switch (e.kind) {
        case tlb_kind::empty:
            continue;
        case tlb_kind::page:
            pages = 1;
            break;
        case tlb_kind::cont:
            pages = geo_.cont_ptes();
            break;
        case tlb_kind::pmd: {
            const walk_result w = walk(e.va, false);
            pages = w.fault == hw_fault::ok && w.pmd_leaf ? 1 : geo_.ptrs_per_pte();
            break;
        }
        }
        for (std::size_t i = 0; i < pages; ++i) {
            const std::uint64_t va = e.va + (static_cast<std::uint64_t>(i) << geo_.page_shift);
            if (const char *why = stale_reason(va, e.pfn + i, e.desc)) {
                stale(e, va, e.pfn + i, why);
                break;
            }
        }
    }
    for (std::size_t p = 0; p < walk_cache_.size(); ++p) {
        const pmd_t pmd = root_.get()[p];
        if (walk_cache_[p] != 0 && !(pmd_table(pmd) && pmd_pfn(pmd) == walk_cache_[p]))
            report(violation_id::TLB_STALE,
                   "walk cache holds table " + hex(walk_cache_[p]) + " for PMD " +
                       std::to_string(p) + ", which now is " + hex(pmd.pmd) +
                       " (unlinked without a flush beyond the last level)");
    }
}

} // namespace mmfuzz
