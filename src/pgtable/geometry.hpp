// Translation granule geometry, chosen per run (SEMANTICS 1.1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mmfuzz {

enum class granule : std::uint8_t { k4 = 0, k16 = 1, k64 = 2 };

/// The constants the kernel derives from the granule: arch/arm64/include/asm/pgtable-hwdef.h
/// (PTRS_PER_PTE, PMD_SHIFT) and CONFIG_ARM64_CONT_PTE_SHIFT (CONT_PTES).
struct geometry {
    granule gran;
    unsigned page_shift;     ///< 12, 14 or 16
    unsigned pte_index_bits; ///< log2(PTRS_PER_PTE) = page_shift - 3
    unsigned cont_pte_shift; ///< log2(CONT_PTES): 4, 7 or 5

    [[nodiscard]] constexpr std::uint64_t page_size() const {
        return std::uint64_t{1} << page_shift;
    }
    [[nodiscard]] constexpr std::size_t ptrs_per_pte() const {
        return std::size_t{1} << pte_index_bits;
    }
    [[nodiscard]] constexpr std::size_t cont_ptes() const {
        return std::size_t{1} << cont_pte_shift;
    }
    [[nodiscard]] constexpr std::uint64_t cont_pte_size() const {
        return cont_ptes() * page_size();
    }
    [[nodiscard]] constexpr unsigned pmd_shift() const { return page_shift + pte_index_bits; }
    [[nodiscard]] constexpr std::uint64_t pmd_size() const {
        return std::uint64_t{1} << pmd_shift();
    }
    /// HPAGE_PMD_ORDER: folio order of a PMD-mapped THP.
    [[nodiscard]] constexpr unsigned pmd_order() const { return pte_index_bits; }
    /// pte_index(): index of addr's entry in its PTE table.
    [[nodiscard]] constexpr std::size_t pte_index(std::uint64_t addr) const {
        return (addr >> page_shift) & (ptrs_per_pte() - 1);
    }
    [[nodiscard]] constexpr std::uint64_t pmd_align_down(std::uint64_t addr) const {
        return addr & ~(pmd_size() - 1);
    }
    [[nodiscard]] constexpr std::uint64_t cont_align_down(std::uint64_t addr) const {
        return addr & ~(cont_pte_size() - 1);
    }
};

constexpr geometry geometry_of(granule g) {
    switch (g) {
    case granule::k16:
        return {granule::k16, 14, 11, 7};
    case granule::k64:
        return {granule::k64, 16, 13, 5};
    case granule::k4:
    default:
        return {granule::k4, 12, 9, 4};
    }
}

std::string_view granule_name(granule g);
std::optional<granule> granule_from_name(std::string_view name);

} // namespace mmfuzz
