// The oracle's reader of window pages (internal to src/oracle).
#pragma once

#include "core/world.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace mmfuzz {

/// Reads window pages of one world, looking a PMD's table up once for a run of pages in it.
/// Used within one check, while no op runs.
class entry_cursor {
  public:
    explicit entry_cursor(world &w)
        : w_(w), mask_(w.geo().ptrs_per_pte() - 1), shift_(w.geo().pte_index_bits) {}
    /// Whether the page has a table; positions the cursor on it. The handle for API reads is
    /// looked up at the first such read under a PMD: raw reads need only the table.
    bool seek(std::uint64_t page) {
        const std::uint64_t pmd = page >> shift_;
        if (pmd != pmd_) [[unlikely]] {
            pmd_ = pmd;
            pmd_val_ = w_.m.peek_pmd(pmd);
            const auto table = w_.m.live_table_for(w_.page_va(pmd << shift_));
            table_ = table ? w_.m.peek_table(*table) : std::span<const pte_t>{};
            base_.reset();
        }
        return !table_.empty();
    }
    std::optional<pte_t> api(std::uint64_t page) {
        if (!seek(page))
            return std::nullopt;
        if (!base_) [[unlikely]]
            base_ = w_.pte_lookup(w_.page_va(pmd_ << shift_));
        return w_.ops->ptep_get(hw_pte_add(*base_, static_cast<std::ptrdiff_t>(page & mask_)));
    }
    std::optional<pte_t> raw(std::uint64_t page) {
        if (!seek(page))
            return std::nullopt;
        return table_[page & mask_];
    }
    /// The raw entries [page, page + n), all under one table; empty without a table.
    std::span<const pte_t> raw_run(std::uint64_t page, std::uint64_t n) {
        if (!seek(page))
            return {};
        return table_.subspan(page & mask_, n);
    }
    /// The PMD above the page.
    pmd_t pmd(std::uint64_t page) {
        seek(page);
        return pmd_val_;
    }

  private:
    world &w_;
    std::uint64_t mask_;
    unsigned shift_;
    std::uint64_t pmd_ = ~std::uint64_t{0};
    std::optional<hw_ptep> base_;
    std::span<const pte_t> table_;
    pmd_t pmd_val_{};
};

} // namespace mmfuzz
