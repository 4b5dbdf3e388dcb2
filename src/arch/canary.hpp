// Canary bugs: known-bug variants of the implementations and flows, switched on by name at run
// time, so the benchmark can measure how fast each driver finds each bug class.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace mmfuzz {

enum class canary : std::uint8_t {
    unfold_drops_dirty,
    ptep_get_leaks_cont,
    ptep_get_no_gather,
    fold_ignores_pfn_contiguity,
    fold_ignores_folio,
    fold_ignores_prot,
    convert_skips_flush,
    clear_flush_young_skips_flush,
    wrprotect_partial_no_unfold,
    set_ptes_cont_misaligned,
    get_and_clear_full_drops_dirty,
    split_drops_dirty,
    split_publishes_early,
    collapse_mmu_update_early,
    swap_drops_flags,
    migration_drops_dirty,
    madv_free_beyond_range,
    mprotect_no_flush,
    migration_copies_head_only,
    zap_rss_per_batch,
    referenced_without_ptl,
    mprotect_ignores_uffd_wp,
    set_access_flags_no_unfold,
    pte_batch_crosses_folio,
    collapse_flush_pmd_level,
    zap_huge_pmd_pte_level,
    pt_reclaim_frees_unflushed,
    change_huge_pmd_in_place,
    fork_write_bit_from_first,
    swapin_reuses_shared_slot,
    writable_ignores_anon_exclusive,
    fork_keeps_swp_exclusive,
    lazyfree_batch_ignores_write,
    set_access_flags_gathered_noop,
    thp_access_fault_ignored,
    numa_rebuild_crosses_table,
};

struct canary_info {
    canary id;
    std::string_view name;
    std::string_view bug_class; ///< the real bug class it stands for
    bool in_core;               ///< a core-flow bug (both worlds run it), else an arch bug
};

std::span<const canary_info> canaries();
std::optional<canary> canary_from_name(std::string_view name);

/// A set of enabled canaries (empty in every default build and run).
class canary_set {
  public:
    void enable(canary c) { bits_ |= bit(c); }
    [[nodiscard]] bool on(canary c) const { return (bits_ & bit(c)) != 0; }
    [[nodiscard]] bool empty() const { return bits_ == 0; }

  private:
    static std::uint64_t bit(canary c) { return std::uint64_t{1} << static_cast<unsigned>(c); }
    std::uint64_t bits_ = 0;
};

} // namespace mmfuzz
