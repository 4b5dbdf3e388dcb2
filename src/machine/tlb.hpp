// The hardware half of the machine: what an access returns, what the TLB holds, and the deferred
// flush (mmu_gather) that core flows batch their invalidations into.
#pragma once

#include "pgtable/handle.hpp"
#include "pgtable/pte.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace mmfuzz {

class machine;

/// Why a hardware access faulted. Faults are results, never exceptions: the fuzzer touches
/// unmapped and protected pages on purpose.
enum class hw_fault : std::uint8_t {
    ok,              ///< the access succeeded
    none_entry,      ///< translation fault: none PMD or PTE, or outside the window
    softleaf,        ///< translation fault on a swap/migration/device/marker entry
    present_invalid, ///< translation fault on a present-invalid entry (pmdp_invalidate)
    protnone,        ///< translation fault on a PROT_NONE entry
    reserved,        ///< a valid PTE without the page type bit (reserved descriptor encoding)
    permission,      ///< the entry is not user-accessible (AP[1] clear)
    write_protect,   ///< write to an entry that is neither writable nor DBM-writable, or
                     ///< any read-only (AP[2]) one for a walker without hardware dirty state
    access_flag,     ///< AF clear, for a walker that does not set it (no hardware AF)
};

/// The fault's name in traces and reports ("fault write_protect").
constexpr const char *hw_fault_name(int f) {
    constexpr std::array<const char *, 9> names = {
        "ok",       "none_entry", "softleaf",      "present_invalid", "protnone",
        "reserved", "permission", "write_protect", "access_flag"};
    return f >= 0 && static_cast<std::size_t>(f) < names.size() ? names[f] : "unknown";
}
static_assert(hw_fault_name(static_cast<int>(hw_fault::access_flag)) ==
              std::string_view("access_flag"));

/// Outcome of machine::hw_access().
struct hw_access_result {
    hw_fault fault = hw_fault::ok;
    bool tlb_hit = false;    ///< translated by a cached entry, without a walk
    bool set_young = false;  ///< the hardware set AF in a table entry
    bool set_dirty = false;  ///< the hardware cleared RDONLY of a DBM entry (hardware dirty)
    bool pmd_leaf = false;   ///< translated by a PMD block mapping
    pfn_t pfn = 0;           ///< the frame accessed
    std::uint64_t value = 0; ///< the value read, or the value written
    [[nodiscard]] bool ok() const { return fault == hw_fault::ok; }
};

enum class tlb_kind : std::uint8_t { empty, page, cont, pmd };

/// One cached translation: a page, a whole CONT_PTES block (from a valid+CONT entry), or a PMD
/// block mapping. `desc` is the descriptor the walk used, as it was after the hardware's AF/DBM
/// update; `pfn` is the frame of `va`, the first address the entry covers.
struct tlb_entry {
    std::uint64_t va = 0;
    pfn_t pfn = 0;
    pteval_t desc = 0;
    tlb_kind kind = tlb_kind::empty;
};

/// struct mmu_gather (include/asm-generic/tlb.h), reduced to its range tracking: a flow that
/// clears entries without flushing records the ranges here and tlb_finish_mmu() issues one flush
/// for their union, as arm64's tlb_flush() (arch/arm64/include/asm/tlb.h) does: last level unless
/// page tables were freed, stride PAGE_SIZE if PTEs were cleared, else PMD_SIZE, and a level hint
/// when only one level of leaves was cleared and no table freed. A gather that is
/// destroyed without finish_mmu() flushes nothing: that is the bug the TLB monitors look for.
class mmu_gather {
  public:
    /// tlb_gather_mmu(); with fullmm, tlb_gather_mmu_fullmm() (exit, execve).
    explicit mmu_gather(machine &m, bool fullmm = false);
    /// tlb_remove_tlb_entries(): the PTEs of [addr, addr + nr pages) were cleared or changed.
    void remove_tlb_entries(std::uint64_t addr, unsigned nr);
    void remove_tlb_entry(std::uint64_t addr) { remove_tlb_entries(addr, 1); }
    /// tlb_remove_pmd_tlb_entry(): the PMD entry mapping addr was cleared or changed.
    void remove_pmd_tlb_entry(std::uint64_t addr);
    /// pte_free_tlb(): the PTE table of the PMD at addr was unlinked; walk caches must go too,
    /// and the table is freed only after the flush (tlb_remove_table(), tlb_flush_mmu_free()).
    void pte_free_tlb(pgtable_t table, std::uint64_t addr);
    /// tlb_flush_mmu(): issue the pending flush now and start a new range.
    void flush_mmu();
    /// tlb_finish_mmu(): the final flush.
    void finish_mmu();
    /// Whether a range is recorded and not yet flushed.
    [[nodiscard]] bool pending() const { return end_ > start_; }

  private:
    void adjust_range(std::uint64_t start, std::uint64_t end);
    [[nodiscard]] int level() const;

    machine &m_;
    bool fullmm_;
    std::uint64_t start_ = ~std::uint64_t{0};
    std::uint64_t end_ = 0;
    bool freed_tables_ = false;
    bool cleared_ptes_ = false;
    bool cleared_pmds_ = false;
    std::vector<pgtable_t> tables_; ///< unlinked tables to free after the next flush
};

} // namespace mmfuzz
