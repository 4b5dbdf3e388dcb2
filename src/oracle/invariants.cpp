#include "oracle/invariants.hpp"

#include <array>

namespace mmfuzz {

namespace {
constexpr std::array<invariant_info, 19> catalogue = {{
    {"EQUIV", "both worlds show core code the same entries: exact on all fields but young/dirty, "
              "young/dirty inside the spec interval; op results likewise"},
    {"DIRTY_LOSS", "an entry or op result shows clean where the page is known dirty"},
    {"CONT_LEAK", "a value returned through the handle API carries PTE_CONT"},
    {"CONT_BLOCK", "a block with a CONT entry is CONT_PTES valid+CONT entries mapping consecutive "
                   "PFNs of one folio from an aligned PFN, equal but for young/dirty"},
    {"BBM", "a live entry changed in a way that needs break-before-make without an invalid step "
            "and a covering TLB flush in between"},
    {"TLB_STALE", "at the end of an op a TLB entry is more permissive than the table"},
    {"SOFTLEAF_ROUNDTRIP", "a software leaf entry does not decode and re-encode to itself, or an "
                           "entry lost (or gained) the uffd-wp or swap-exclusive flag the op "
                           "stream gave it across a conversion (swap, migration, device)"},
    {"SOFTLEAF_NOT_VALID", "a software leaf entry has a bit hardware would read as present"},
    {"PMD_WELLFORMED", "a PMD is none, a table page installed once, an aligned leaf of a "
                       "PMD-order folio, or a migration/device-private softleaf"},
    {"MAPCOUNT", "page_table_check rules: counts never negative, anon/file exclusive, a writable "
                 "anon page mapped once, counts zero at alloc/free and equal to the table's"},
    {"COW", "no write reaches a page that a child of fork() still maps or will swap in, and no "
            "swap slot its swap entries name is freed: copy-on-write gives the writer a copy, "
            "and the child keeps its memory as it was"},
    {"RSS", "the mm's RSS counters equal the pages mapped in the table"},
    {"LOCK", "an API call made without the PTL the kernel holds for it, or a lock misuse"},
    {"UPDATE_MMU_WALK", "update_mmu_cache_range could not reach its entries walking from the root"},
    {"LIVENESS", "a live handle used on an unreachable table, or a staged handle on a live one"},
    {"RESTORE", "an entry a flow takes down and puts back by design (reclaim keeping a "
                "redirtied lazy-free folio) comes back as it was, young and dirty aside"},
    {"CONTENT", "a read returned other than the last value written (zero only where the kernel "
                "may discard)"},
    {"FAULT_PROGRESS", "a device's access still faults after every fault on it was reported "
                       "handled, as many times as a correct kernel could need: the device, "
                       "which retries, would fault for ever"},
    {"API", "a page-table API call broke its documented preconditions (a batch over entries "
            "that are not consecutive pages of one folio, set_ptes over present entries, an "
            "entry handle moved past either end of its page table); the "
            "legalizer makes direct calls legal, so the caller is a core flow or the arch code"},
}};
} // namespace

std::span<const invariant_info> invariants() {
    return catalogue;
}

bool is_invariant(std::string_view id) {
    for (const auto &i : catalogue)
        if (i.id == id)
            return true;
    return false;
}

} // namespace mmfuzz
