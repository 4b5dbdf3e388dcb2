// The break-before-make monitor, run incrementally on every live table write and every flush.
//
// The TLB may hold any valid translation the tables have offered, until a flush covers it. So
// the monitor remembers, per page of the window, the last valid translation that was *broken*
// (made invalid) and not yet flushed. A later *make* (a valid translation becoming reachable: an
// entry written valid, or a table published by pmd_populate()) is checked against it, and a
// direct valid->valid write is checked against the old value; machine/bbm.hpp has the rules.
// Checking only the most recent translation is enough: each step is checked in turn, and the
// set of safe changes is closed under composition.
//
// The PMD level adds two things. A block is a translation of every page it covers, and the TLB
// drops a block entry on a flush of any address inside it (flush_pmd_tlb_range() flushes with
// PMD_SIZE stride), so a broken block leaves a pending break per page, covered by the whole
// block. And an unlinked table may stay in the walk cache until a flush that is not last-level
// covers its PMD: publishing another table there, or a block, before that is a violation. A
// flush with a level hint completes only the breaks of its level, and never a table's.
// Writes to tables hardware cannot reach (staged) are exempt.
#include "machine/bbm.hpp"

#include "machine/machine.hpp"
#include "pgtable/format.hpp"

#include <string>

namespace mmfuzz {

namespace bbm {

const char *change_needs_bbm(pteval_t old_val, pteval_t new_val, bool via_break, bool size_change,
                             bool bbml2_noabort) {
    if (pte_pfn({old_val}) != pte_pfn({new_val}))
        return "output address (PFN) change";
    pteval_t diff = old_val ^ new_val;
    if (size_change)
        diff &= ~PTE_TABLE_BIT; // a block and a page descriptor differ there by definition
    if ((size_change || (diff & PTE_CONT) != 0) && !bbml2_noabort)
        return "translation size change (CONT bit, or block <-> table)";
    if ((old_val & ~new_val & PTE_NG) != 0)
        return "non-global to global";
    if ((diff & PTE_ATTRINDX_MASK) != 0) {
        const auto normal = [](pteval_t v) {
            const auto mt = static_cast<unsigned>((v & PTE_ATTRINDX_MASK) >> 2);
            return mt == MT_NORMAL || mt == MT_NORMAL_TAGGED;
        };
        if (!normal(old_val) || !normal(new_val))
            return "memory type change";
    }
    if ((diff & PTE_SHARED) != 0)
        return "shareability change";
    const pteval_t allowed = (via_break ? SAFE_ACROSS_BREAK : SAFE_LIVE) | PTE_ADDR_MASK |
                             PTE_CONT | PTE_ATTRINDX_MASK | PTE_SHARED;
    if ((diff & ~allowed) != 0)
        return "attribute change outside PXN/RDONLY/WRITE/nG/AF/software bits on a live entry";
    return nullptr;
}

} // namespace bbm

namespace {

/// Whether a TLB invalidation request reaches [lo, lo + size) by address. A TLBI by VA
/// invalidates the entries containing that VA, and __flush_tlb_range() issues one per `stride`
/// from `start`, so a PMD-stride flush misses page entries between its addresses.
bool hits(const tlb_flush &f, std::uint64_t lo, std::uint64_t size) {
    if (f.kind == flush_kind::mm)
        return true;
    if (f.stride == 0)
        return f.start < lo + size && lo < f.end;
    std::uint64_t a = f.start;
    if (a < lo)
        a += (lo - a + f.stride - 1) / f.stride * f.stride;
    return a < f.end && a < lo + size;
}

} // namespace

bool flush_covers(const tlb_flush &f, std::uint64_t lo, std::uint64_t size, int level) {
    if (f.kind != flush_kind::mm && f.level != tlbi_ttl_unknown && f.level != level)
        return false;
    return hits(f, lo, size);
}

bool flush_reaches_walk_cache(const tlb_flush &f) {
    return !f.last_level && f.level == tlbi_ttl_unknown;
}

bool flush_covers_walk_cache(const tlb_flush &f, std::uint64_t lo, std::uint64_t size) {
    return flush_reaches_walk_cache(f) && hits(f, lo, size);
}

void machine::bbm_report(std::uint64_t va, pteval_t old_val, pteval_t new_val, const char *reason,
                         bool via_break) {
    report(violation_id::BBM, std::string(reason) + " at va " + hex(va) + ": " + hex(old_val) +
                                  " -> " + hex(new_val) +
                                  (via_break ? " (broken, but no flush before the make)"
                                             : " (live entry rewritten without an invalid step)"));
}

void machine::bbm_direct(std::uint64_t va, pteval_t old_val, pteval_t new_val, bool size_change) {
    if (const char *why =
            bbm::change_needs_bbm(old_val, new_val, false, size_change, opts_.bbml2_noabort))
        bbm_report(va, old_val, new_val, why, false);
}

void machine::bbm_add_break(std::uint64_t va, pteval_t old_val, bool from_block) {
    const std::size_t pn = page_number(va);
    const std::uint64_t lo = from_block ? geo_.pmd_align_down(va) : va;
    const std::uint64_t size = from_block ? geo_.pmd_size() : geo_.page_size();
    const pending_break b{va, lo, size, old_val, from_block};
    if (break_at_[pn] != 0) {
        breaks_[break_at_[pn] - 1] = b;
        return;
    }
    breaks_.push_back(b);
    break_at_[pn] = static_cast<std::uint32_t>(breaks_.size());
}

void machine::bbm_remove_break(std::size_t at) {
    break_at_[page_number(breaks_[at].va)] = 0;
    if (at + 1 != breaks_.size()) {
        breaks_[at] = breaks_.back();
        break_at_[page_number(breaks_[at].va)] = static_cast<std::uint32_t>(at + 1);
    }
    breaks_.pop_back();
}

/// A valid translation of va becomes reachable: check it against the broken, unflushed one and
/// return why it needs BBM (nullptr if it does not); `old_val` gets the broken translation.
const char *machine::bbm_make(std::uint64_t va, pteval_t new_val, bool new_is_block,
                              pteval_t &old_val) {
    const std::uint32_t at = break_at_[page_number(va)];
    if (at == 0)
        return nullptr;
    const pending_break b = breaks_[at - 1];
    bbm_remove_break(at - 1);
    old_val = b.old_val;
    return bbm::change_needs_bbm(b.old_val, new_val, true, b.from_block != new_is_block,
                                 opts_.bbml2_noabort);
}

void machine::bbm_pte_write(pfn_t table, std::size_t index, pteval_t old_val, pteval_t new_val) {
    const bool was = (old_val & PTE_VALID) != 0;
    const bool is = (new_val & PTE_VALID) != 0;
    if (!was && !is)
        return;
    const std::uint64_t va =
        window_base +
        (static_cast<std::uint64_t>(table_pmd_slot_[table_slot(table)]) << geo_.pmd_shift()) +
        (static_cast<std::uint64_t>(index) << geo_.page_shift);
    if (was && is)
        bbm_direct(va, old_val, new_val, false);
    else if (was)
        bbm_add_break(va, old_val, false);
    else if (pteval_t broken = 0; const char *why = bbm_make(va, new_val, false, broken))
        bbm_report(va, broken, new_val, why, true);
}

/// Unlinking a table breaks every translation it offered and leaves the walk cache stale.
void machine::bbm_break_table(std::size_t pmd, pfn_t table) {
    broken_table_[pmd] = table;
    if (!is_table_page(table))
        return;
    const std::uint64_t base = window_base + (static_cast<std::uint64_t>(pmd) << geo_.pmd_shift());
    const pte_t *t = table_ptr({table});
    for (std::size_t i = 0; i < geo_.ptrs_per_pte(); ++i)
        if (pte_valid(t[i]))
            bbm_add_break(base + (i << geo_.page_shift), t[i].pte, false);
}

void machine::bbm_pmd_write(std::size_t index, pteval_t old_val, pteval_t new_val) {
    const bool was = (old_val & PTE_VALID) != 0;
    const bool is = (new_val & PTE_VALID) != 0;
    if ((!was && !is) || old_val == new_val)
        return;
    const bool was_table = was && pmd_table({old_val});
    const bool is_table = is && pmd_table({new_val});
    const std::uint64_t base =
        window_base + (static_cast<std::uint64_t>(index) << geo_.pmd_shift());
    const std::size_t n = geo_.ptrs_per_pte();
    const auto page_va = [&](std::size_t i) { return base + (i << geo_.page_shift); };

    // The old side: what the TLB and walk cache may still hold.
    if (was && !was_table && is && !is_table) {
        bbm_direct(base, old_val, new_val, false); // block -> block
        return;
    }
    if (was_table && is_table && pmd_pfn({old_val}) == pmd_pfn({new_val}))
        return; // the same table
    if (was_table) {
        bbm_break_table(index, pmd_pfn({old_val}));
    } else if (was) {
        // A block replaced by a table (split) or by an invalid entry: each page of the block is
        // broken, unless the new table maps it at once (block -> table without an invalid step).
        const pte_t *t = is_table && is_table_page(pmd_pfn({new_val}))
                             ? table_ptr(pmd_pgtable({new_val}))
                             : nullptr;
        bool reported = false;
        for (std::size_t i = 0; i < n; ++i) {
            const pteval_t old_page = pte_advance_pfn({old_val}, i).pte;
            if (t != nullptr && pte_valid(t[i])) {
                const char *why =
                    bbm::change_needs_bbm(old_page, t[i].pte, false, true, opts_.bbml2_noabort);
                if (why != nullptr && !reported) {
                    bbm_report(page_va(i), old_page, t[i].pte, why, false);
                    reported = true;
                }
            } else {
                bbm_add_break(page_va(i), old_page, true);
            }
        }
    }

    // The new side: the translations that become reachable.
    if (is_table) {
        const pfn_t t = pmd_pfn({new_val});
        if (broken_table_[index] != 0 && broken_table_[index] != t)
            report(violation_id::BBM,
                   "PMD " + std::to_string(index) + " now points to table " + hex(t) +
                       " while the walk cache may still hold table " + hex(broken_table_[index]) +
                       " (no flush beyond the last level since it was unlinked)");
        broken_table_[index] = 0;
        if (!is_table_page(t) || breaks_.empty())
            return;
        const pte_t *entries = table_ptr({t});
        bool reported = false;
        for (std::size_t i = 0; i < n && !breaks_.empty(); ++i) {
            pteval_t broken = 0;
            const char *why = pte_valid(entries[i])
                                  ? bbm_make(page_va(i), entries[i].pte, false, broken)
                                  : nullptr;
            if (why != nullptr && !reported) {
                bbm_report(page_va(i), broken, entries[i].pte,
                           (std::string("publishing table ") + hex(t) + ": " + why).c_str(), true);
                reported = true;
            }
        }
    } else if (is) {
        if (broken_table_[index] != 0 && !opts_.bbml2_noabort)
            report(violation_id::BBM,
                   "PMD " + std::to_string(index) +
                       " maps a block while the walk cache may still "
                       "hold table " +
                       hex(broken_table_[index]) +
                       " (no flush beyond the last level since it was unlinked)");
        broken_table_[index] = 0;
        bool reported = false;
        for (std::size_t i = 0; i < n && !breaks_.empty(); ++i) {
            pteval_t broken = 0;
            const pteval_t page = pte_advance_pfn({new_val}, i).pte;
            const char *why = bbm_make(page_va(i), page, true, broken);
            if (why != nullptr && !reported) {
                bbm_report(page_va(i), broken, page, (std::string("PMD block: ") + why).c_str(),
                           true);
                reported = true;
            }
        }
    }
}

void machine::bbm_flush(const tlb_flush &f) {
    for (std::size_t i = 0; i < breaks_.size();) {
        const pending_break &b = breaks_[i];
        if (flush_covers(f, b.cover_lo, b.cover_size, b.from_block ? tlb_level_pmd : tlb_level_pte))
            bbm_remove_break(i);
        else
            ++i;
    }
    if (!flush_reaches_walk_cache(f))
        return;
    for (std::size_t p = 0; p < broken_table_.size(); ++p)
        if (broken_table_[p] != 0 &&
            flush_covers_walk_cache(
                f, window_base + (static_cast<std::uint64_t>(p) << geo_.pmd_shift()),
                geo_.pmd_size()))
            broken_table_[p] = 0;
}

} // namespace mmfuzz
