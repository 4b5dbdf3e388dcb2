// What core code sees of an entry, how two views compare, and how tables are drawn in reports.
#pragma once

#include "oracle/spec.hpp"
#include "pgtable/pte.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace mmfuzz {

/// The bits of a core-visible entry that both worlds must agree on exactly (SEMANTICS 1.7.1):
/// for a present entry all but AF, DIRTY, RDONLY and CONT (dirtiness is compared through
/// pte_dirty(), young through the spec); anything else whole.
inline pteval_t exact_part(pte_t p) {
    if (!pte_present(p))
        return pte_val(p);
    return pte_val(p) & ~(PTE_AF | PTE_DIRTY | PTE_RDONLY | PTE_CONT);
}
/// The young/dirty core code reads from an entry (pte_young(), pte_dirty()).
inline ad_bits ad_of(pte_t p) {
    return {pte_young(p), pte_dirty(p)};
}
/// Kernel-style one-line description: "pfn=0x1234 rw young dirty", "swap type=1 offset=0x5".
std::string describe_pte(pte_t p);
std::string describe_interval(const ad_interval &iv);
/// One character of a table map (see map_legend()).
char map_char(pte_t raw);
std::string map_legend();

/// One row of a map per CONT block: raw entries of both worlds side by side, '^' under columns
/// that differ.
struct map_row {
    std::uint64_t va;
    std::string left;
    std::string right;
};
std::string render_map(const std::vector<map_row> &rows, const std::string &left_name,
                       const std::string &right_name);

} // namespace mmfuzz
