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
    explicit content_spec(std::uint64_t pages) { pages_.assign(pages, ideal_page{}); }

    [[nodiscard]] const ideal_page &at(std::uint64_t page) const { return pages_[page]; }
    /// A hardware write of `value`.
    void written(std::uint64_t page, std::uint64_t value) { pages_[page] = {value, false}; }
    /// The data is gone by design; the next fault maps a zeroed page.
    void dropped(std::uint64_t page) { pages_[page] = {}; }
    /// The page was mapped from a frame holding `value` (a raw set_ptes exposes what is there).
    void mapped(std::uint64_t page, std::uint64_t value) { pages_[page] = {value, false}; }
    /// A directly set migration or device-private entry: any value until the next change.
    void untracked(std::uint64_t page) { pages_[page] = {0, false, true}; }
    /// MADV_FREE: reclaim may discard it until the next write.
    void lazyfree(std::uint64_t page) { pages_[page].discardable = true; }
    /// Whether a read of `value` is allowed.
    [[nodiscard]] bool allows(std::uint64_t page, std::uint64_t value) const {
        const ideal_page &p = pages_[page];
        return p.any || value == p.value || (p.discardable && value == 0);
    }
    [[nodiscard]] std::uint64_t size() const { return pages_.size(); }

  private:
    recycled_vector<ideal_page> pages_;
};

} // namespace mmfuzz
