#include "core/flows.hpp"

namespace mmfuzz {

vm_fault do_huge_pmd_anonymous_page(world &, std::uint64_t, bool) {
    return vm_fault::fallback;
}
void split_huge_pmd(world &, std::uint64_t) {}
void zap_huge_pmd(world &, std::uint64_t) {}
bool split_folio(world &, std::uint64_t, unsigned) {
    return false;
}
bool collapse_huge_page(world &, std::uint64_t, unsigned) {
    return false;
}

} // namespace mmfuzz
