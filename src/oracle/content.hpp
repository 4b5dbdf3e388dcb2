// The ideal memory behind CONTENT: per page of the window, the value a read must return.
//
// Kept from the op stream: a hardware write sets it; ops that legitimately drop the data (zap,
// the raw clears, guard install) reset it to zero, as the next fault maps a zeroed page; MADV_FREE
// makes it discardable until the next write (reclaim may drop a clean lazy-free folio, and a read
// then sees zero). Flows that move data (swap, migration, split, collapse) leave it unchanged:
// that is what they must preserve. A migration or device-private entry set directly names a
// frame that may also be mapped, or become mapped, elsewhere and written there; one value per
// page cannot follow that aliasing, so such a page holds whatever the frame holds until it is
// written, dropped or mapped anew.
#pragma once

#include "machine/recycled.hpp"

#include <cstdint>
#include <vector>

namespace mmfuzz {

struct ideal_page {
    std::uint64_t value = 0;
    bool discardable = false;
    bool any = false; ///< the data of a frame a directly set entry names: not tracked
};

class content_spec {
  public:
    explicit content_spec(std::uint64_t pages) {
        value_.assign(pages, 0);
        state_.assign(pages, 0);
    }

    [[nodiscard]] ideal_page at(std::uint64_t page) const {
        return {value_[page], (state_[page] & discardable) != 0, (state_[page] & any) != 0};
    }
    /// A hardware write of `value`.
    void written(std::uint64_t page, std::uint64_t value) { set(page, value, 0); }
    /// The data is gone by design; the next fault maps a zeroed page.
    void dropped(std::uint64_t page) { set(page, 0, 0); }
    /// The page was mapped from a frame holding `value` (a raw set_ptes exposes what is there).
    void mapped(std::uint64_t page, std::uint64_t value) { set(page, value, 0); }
    /// A directly set migration or device-private entry: any value until the next change.
    void untracked(std::uint64_t page) { set(page, 0, any); }
    /// MADV_FREE: reclaim may discard it until the next write.
    void lazyfree(std::uint64_t page) { state_[page] |= discardable; }
    /// Whether a read of `value` is allowed.
    [[nodiscard]] bool allows(std::uint64_t page, std::uint64_t value) const {
        const std::uint8_t st = state_[page];
        return (st & any) != 0 || value == value_[page] || ((st & discardable) != 0 && value == 0);
    }
    [[nodiscard]] std::uint64_t size() const { return value_.size(); }

  private:
    // ideal_page split in two arrays of scalars, which a new run clears with memset.
    static constexpr std::uint8_t discardable = 1;
    static constexpr std::uint8_t any = 2;
    void set(std::uint64_t page, std::uint64_t value, std::uint8_t state) {
        value_[page] = value;
        state_[page] = state;
    }
    recycled_vector<std::uint64_t> value_;
    recycled_vector<std::uint8_t> state_;
};

} // namespace mmfuzz
