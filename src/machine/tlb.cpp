#include "machine/tlb.hpp"

#include "machine/machine.hpp"

#include <algorithm>

namespace mmfuzz {

mmu_gather::mmu_gather(machine &m, bool fullmm) : m_(m), fullmm_(fullmm) {}

/// __tlb_adjust_range()
void mmu_gather::adjust_range(std::uint64_t start, std::uint64_t end) {
    start_ = std::min(start_, start);
    end_ = std::max(end_, end);
}

void mmu_gather::remove_tlb_entries(std::uint64_t addr, unsigned nr) {
    cleared_ptes_ = true;
    adjust_range(addr, addr + std::uint64_t{nr} * m_.geo().page_size());
}

/// tlb_flush_pmd_range(tlb, addr, HPAGE_PMD_SIZE)
void mmu_gather::remove_pmd_tlb_entry(std::uint64_t addr) {
    cleared_pmds_ = true;
    const std::uint64_t base = m_.geo().pmd_align_down(addr);
    adjust_range(base, base + m_.geo().pmd_size());
}

/// pte_free_tlb(): freed_tables, then tlb_flush_pmd_range(tlb, addr, PAGE_SIZE).
void mmu_gather::pte_free_tlb(pgtable_t table, std::uint64_t addr) {
    tables_.push_back(table);
    freed_tables_ = true;
    cleared_pmds_ = true;
    const std::uint64_t base = m_.geo().pmd_align_down(addr);
    adjust_range(base, base + m_.geo().page_size());
}

/// arm64 tlb_get_level() (asm/tlb.h): the level hint of the flush, known only when the gather
/// cleared leaves of a single level and freed no table.
int mmu_gather::level() const {
    if (freed_tables_)
        return tlbi_ttl_unknown;
    if (cleared_ptes_ && !cleared_pmds_)
        return tlb_level_pte;
    if (cleared_pmds_ && !cleared_ptes_)
        return tlb_level_pmd;
    return tlbi_ttl_unknown;
}

/// tlb_flush_mmu(): tlb_flush_mmu_tlbonly() with arm64's tlb_flush(), then tlb_flush_mmu_free()
/// frees the gathered tables. A full-mm gather flushes the whole mm (the kernel instead retires
/// the ASID when no table was freed; this machine keeps one ASID).
void mmu_gather::flush_mmu() {
    const bool anything = freed_tables_ || cleared_ptes_ || cleared_pmds_;
    if (anything && fullmm_) {
        m_.flush_tlb_mm();
    } else if (anything && pending()) {
        const std::uint64_t stride =
            cleared_ptes_ ? m_.geo().page_size()
                          : (cleared_pmds_ ? m_.geo().pmd_size() : m_.geo().page_size());
        m_.flush_tlb(flush_kind::range, start_, end_, stride, !freed_tables_, level());
    }
    start_ = ~std::uint64_t{0};
    end_ = 0;
    freed_tables_ = cleared_ptes_ = cleared_pmds_ = false;
    for (const pgtable_t t : tables_)
        m_.pte_free(t);
    tables_.clear();
}

void mmu_gather::finish_mmu() {
    flush_mmu();
}

} // namespace mmfuzz
