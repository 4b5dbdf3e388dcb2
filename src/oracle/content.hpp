// The ideal memory behind CONTENT: per page of the window, the value a read must return.
//
// Kept from the op stream: a hardware write sets it; ops that legitimately drop the data (zap,
// the raw clears, guard install) reset it to zero, as the next fault maps a zeroed page; MADV_FREE
// makes it discardable until the next write (reclaim may drop a clean lazy-free folio, and a read
// then sees zero). Flows that move data (swap, migration, split, collapse) leave it unchanged:
// that is what they must preserve.
#pragma once

#include <cstdint>
#include <vector>

namespace mmfuzz {

struct ideal_page {
    std::uint64_t value = 0;
    bool discardable = false;
};

class content_spec {
  public:
    explicit content_spec(std::uint64_t pages) : pages_(pages) {}

    [[nodiscard]] const ideal_page &at(std::uint64_t page) const { return pages_[page]; }
    /// A hardware write of `value`.
    void written(std::uint64_t page, std::uint64_t value) { pages_[page] = {value, false}; }
    /// The data is gone by design; the next fault maps a zeroed page.
    void dropped(std::uint64_t page) { pages_[page] = {}; }
    /// The page was mapped from a frame holding `value` (a raw set_ptes exposes what is there).
    void mapped(std::uint64_t page, std::uint64_t value) { pages_[page] = {value, false}; }
    /// MADV_FREE: reclaim may discard it until the next write.
    void lazyfree(std::uint64_t page) { pages_[page].discardable = true; }
    /// Whether a read of `value` is allowed.
    [[nodiscard]] bool allows(std::uint64_t page, std::uint64_t value) const {
        const ideal_page &p = pages_[page];
        return value == p.value || (p.discardable && value == 0);
    }
    [[nodiscard]] std::uint64_t size() const { return pages_.size(); }

  private:
    std::vector<ideal_page> pages_;
};

} // namespace mmfuzz
