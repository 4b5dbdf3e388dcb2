// The young/dirty spec: per page an interval must ⊆ observed ⊆ may (DESIGN "The oracle").
//
// `must` is what generic semantics guarantee; `may` adds what arm64 contpte may legally
// over-report (young/dirty of other entries of a block one folio could map contiguously).
// Transitions are driven by the op stream, never by either world's state.
#pragma once

#include "machine/recycled.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace mmfuzz {

struct ad_bits {
    bool young = false;
    bool dirty = false;
    friend bool operator==(ad_bits, ad_bits) = default;
};

struct ad_interval {
    ad_bits must;
    ad_bits may;
};

/// What the op stream says an entry's uffd-wp bit, or a software leaf's swap-exclusive flag,
/// is (SOFTLEAF_ROUNDTRIP): conversions between present entries and software leaves (swap
/// out/in, migration, device-private) must carry them.
enum class flag_expect : std::int8_t { unknown = -1, clear = 0, set = 1 };

class ad_spec {
  public:
    explicit ad_spec(std::uint64_t pages) {
        iv_.assign(pages, ad_interval{});
        stale_old_.assign(pages, 0);
        cont_maybe_.assign(pages, 0);
        wp_.assign(pages, unknown_byte);
        excl_.assign(pages, unknown_byte);
        flags_op_.assign(pages, 0);
    }

    [[nodiscard]] const ad_interval &at(std::uint64_t page) const { return iv_[page]; }
    /// The entry was written with exactly these bits.
    void set_exact(std::uint64_t page, bool young, bool dirty) {
        iv_[page] = {{young, dirty}, {young, dirty}};
        cont_maybe_[page] = 0;
    }
    void set(std::uint64_t page, const ad_interval &iv) { iv_[page] = iv; }
    /// The entry stopped being present: nothing to check any more.
    void clear(std::uint64_t page) {
        iv_[page] = {};
        stale_old_[page] = 0;
        cont_maybe_[page] = 0;
    }
    /// The optimized world may hold PTE_CONT on this entry: its block was once one folio mapped
    /// contiguously with equal protection, and the entry has not been rewritten since. Batched
    /// young/dirty clears on such an entry act on its whole block (they test pte_cont()).
    void mark_cont_maybe(std::uint64_t page) { cont_maybe_[page] = 1; }
    [[nodiscard]] bool cont_maybe(std::uint64_t page) const { return cont_maybe_[page] != 0; }
    /// OR over a range, as batched getters gather.
    [[nodiscard]] ad_interval gather(std::uint64_t first, std::uint64_t nr) const {
        ad_interval g;
        for (std::uint64_t p = first; p < first + nr; ++p) {
            g.must.young |= iv_[p].must.young;
            g.must.dirty |= iv_[p].must.dirty;
            g.may.young |= iv_[p].may.young;
            g.may.dirty |= iv_[p].may.dirty;
        }
        return g;
    }
    /// Young cleared on this page: definitely old now.
    void clear_young(std::uint64_t page) {
        iv_[page].must.young = false;
        iv_[page].may.young = false;
    }
    /// Young may have been cleared here (block-wide clear of a contiguous block).
    void relax_young(std::uint64_t page) { iv_[page].must.young = false; }
    void clear_dirty(std::uint64_t page) {
        iv_[page].must.dirty = false;
        iv_[page].may.dirty = false;
    }
    /// A TLB may still hold a translation whose AF was cleared without a flush.
    void mark_stale_old(std::uint64_t page) { stale_old_[page] = 1; }
    void flushed(std::uint64_t page) { stale_old_[page] = 0; }
    [[nodiscard]] bool stale_old(std::uint64_t page) const { return stale_old_[page] != 0; }
    /// A successful hardware access: young unless a stale-old translation served it; a write
    /// makes the page dirty.
    void accessed(std::uint64_t page, bool write) {
        ad_interval &iv = iv_[page];
        if (!stale_old(page))
            iv.must.young = true;
        iv.may.young = true;
        if (write) {
            iv.must.dirty = true;
            iv.may.dirty = true;
        }
    }
    /// May-spread over a block that one folio maps contiguously with equal prot.
    void spread(std::uint64_t first, std::uint64_t nr) {
        const ad_interval g = gather(first, nr);
        for (std::uint64_t p = first; p < first + nr; ++p) {
            iv_[p].may.young |= g.may.young;
            iv_[p].may.dirty |= g.may.dirty;
        }
    }
    [[nodiscard]] std::uint64_t size() const { return iv_.size(); }

    // ---- uffd-wp and swap-exclusive expectations -------------------------------------------
    /// A new op starts: entries it writes without setting or keeping their expectations are
    /// forgotten after it (the runner does that).
    void begin_op() {
        flags_set_.clear();
        // One byte per page: on wrap-around, no page was set in the new op.
        if (++op_seq_ == 0) {
            std::fill(flags_op_.begin(), flags_op_.end(), 0);
            op_seq_ = 1;
        }
    }
    /// The op wrote the entry with these flags.
    void expect_flags(std::uint64_t page, flag_expect uffd_wp, flag_expect exclusive) {
        wp_[page] = static_cast<std::uint8_t>(uffd_wp);
        excl_[page] = static_cast<std::uint8_t>(exclusive);
        flags_op_[page] = op_seq_;
        flags_set_.push_back(page);
    }
    /// The pages expect_flags() gave expectations in this op, in call order: a flow may set
    /// them on entries it should have rewritten and did not (fork() over a swap entry), so they
    /// are checked after the op whether written or not.
    [[nodiscard]] const std::vector<std::uint64_t> &flags_set_pages() const { return flags_set_; }
    /// The op rewrote the entry and carried its flags.
    void keep_flags(std::uint64_t page) { flags_op_[page] = op_seq_; }
    /// Forget the expectations of [first, first + nr) that this op did not set or keep.
    void forget_flags_not_set_in_op(std::uint64_t first, std::uint64_t nr) {
        const std::uint64_t end = std::min<std::uint64_t>(first + nr, size());
        // Forgetting is an OR with all ones (unknown): a compare and an OR per byte, which
        // vectorizes over the whole tables a PMD write covers. Distinct arrays, which byte
        // pointers could otherwise alias.
        const std::uint8_t *__restrict op = flags_op_.data();
        std::uint8_t *__restrict wp = wp_.data();
        std::uint8_t *__restrict ex = excl_.data();
        const std::uint8_t seq = op_seq_;
        for (std::uint64_t p = first; p < end; ++p) {
            const std::uint8_t forget = op[p] == seq ? 0 : unknown_byte;
            wp[p] |= forget;
            ex[p] |= forget;
        }
    }
    [[nodiscard]] bool flags_set_in_op(std::uint64_t page) const {
        return flags_op_[page] == op_seq_;
    }
    [[nodiscard]] flag_expect expected_uffd_wp(std::uint64_t page) const {
        return static_cast<flag_expect>(static_cast<std::int8_t>(wp_[page]));
    }
    [[nodiscard]] flag_expect expected_exclusive(std::uint64_t page) const {
        return static_cast<flag_expect>(static_cast<std::int8_t>(excl_[page]));
    }

  private:
    recycled_vector<ad_interval> iv_;
    recycled_vector<std::uint8_t> stale_old_;
    recycled_vector<std::uint8_t> cont_maybe_;
    /// flag_expect values as bytes; unknown (-1) is all ones.
    static constexpr std::uint8_t unknown_byte = 0xff;
    recycled_vector<std::uint8_t> wp_;
    recycled_vector<std::uint8_t> excl_;
    recycled_vector<std::uint8_t> flags_op_;
    recycled_vector<std::uint64_t> flags_set_;
    std::uint8_t op_seq_ = 1;
};

} // namespace mmfuzz
