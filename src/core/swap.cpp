#include "core/flows.hpp"

namespace mmfuzz {

reclaim_result shrink_folio(world &, std::uint64_t) {
    return reclaim_result::failed;
}
vm_fault do_swap_page(world &, std::uint64_t, bool) {
    return vm_fault::nopage;
}
bool migrate_folio(world &, std::uint64_t) {
    return false;
}
void madvise_guard_install(world &, std::uint64_t, std::uint64_t) {}
void madvise_guard_remove(world &, std::uint64_t, std::uint64_t) {}
void uffd_writeprotect(world &, std::uint64_t, std::uint64_t, bool) {}
bool memory_failure(world &, std::uint64_t) {
    return false;
}
bool migrate_device(world &, std::uint64_t, bool) {
    return false;
}

} // namespace mmfuzz
