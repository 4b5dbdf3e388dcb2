// Software leaf entries: softleaf_t and the arm64 swap-pte encoding (SEMANTICS 3).
//
// Follows include/linux/leafops.h (softleaf_*), include/linux/swapops.h (make_*_entry, the
// migration A/D bits) and arch/arm64/include/asm/pgtable.h (__swp_* layout).
#pragma once

#include "pgtable/pte.hpp"

#include <cstdint>
#include <string_view>

namespace mmfuzz {

/// A software leaf entry: (type << SWP_TYPE_SHIFT) | offset. Value 0 is the none entry.
struct softleaf_t {
    std::uint64_t val;
    friend constexpr bool operator==(softleaf_t, softleaf_t) = default;
};

constexpr unsigned MAX_SWAPFILES_SHIFT = 5;
constexpr unsigned SWP_TYPE_SHIFT = 64 - 1 - MAX_SWAPFILES_SHIFT; // BITS_PER_XA_VALUE - 5 = 58
constexpr std::uint64_t SWP_OFFSET_MASK = (std::uint64_t{1} << SWP_TYPE_SHIFT) - 1;

// Swap types (include/linux/swap.h): 0..23 are swap files, then the special types.
constexpr unsigned SWP_HWPOISON = 24;
constexpr unsigned SWP_MIGRATION_READ = 25;
constexpr unsigned SWP_MIGRATION_READ_EXCLUSIVE = 26;
constexpr unsigned SWP_MIGRATION_WRITE = 27;
constexpr unsigned SWP_DEVICE_WRITE = 28;
constexpr unsigned SWP_DEVICE_READ = 29;
constexpr unsigned SWP_DEVICE_EXCLUSIVE = 30;
constexpr unsigned SWP_PTE_MARKER = 31;
constexpr unsigned MAX_SWAPFILES = SWP_HWPOISON;

// PFN-carrying entries keep the PFN in the low offset bits and, for migration, A/D just above.
constexpr unsigned SWP_PFN_BITS = PTE_PFN_BITS;
constexpr std::uint64_t SWP_PFN_MASK = (std::uint64_t{1} << SWP_PFN_BITS) - 1;
constexpr std::uint64_t SWP_MIG_YOUNG = std::uint64_t{1} << SWP_PFN_BITS;
constexpr std::uint64_t SWP_MIG_DIRTY = std::uint64_t{1} << (SWP_PFN_BITS + 1);

// Marker bits in the offset of a PTE_MARKER entry (include/linux/swapops.h).
using pte_marker = std::uint64_t;
constexpr pte_marker PTE_MARKER_UFFD_WP = 1U << 0;
constexpr pte_marker PTE_MARKER_POISONED = 1U << 1;
constexpr pte_marker PTE_MARKER_GUARD = 1U << 2;
constexpr pte_marker PTE_MARKER_MASK = (1U << 3) - 1;

// arm64 swap-pte layout: bits 0-1 zero, 2 exclusive, 3 uffd-wp, 6-10 type, 11 zero, 12-61 offset.
constexpr unsigned __SWP_TYPE_SHIFT = 6;
constexpr unsigned __SWP_TYPE_BITS = 5;
constexpr std::uint64_t __SWP_TYPE_MASK = (std::uint64_t{1} << __SWP_TYPE_BITS) - 1;
constexpr unsigned __SWP_OFFSET_SHIFT = 12;
constexpr unsigned __SWP_OFFSET_BITS = 50;
constexpr std::uint64_t __SWP_OFFSET_MASK = (std::uint64_t{1} << __SWP_OFFSET_BITS) - 1;
/// The largest offset a swap pte can carry on arm64.
constexpr std::uint64_t SWP_OFFSET_MAX = __SWP_OFFSET_MASK;

enum class softleaf_type : std::uint8_t {
    SOFTLEAF_NONE,
    SOFTLEAF_SWAP,
    SOFTLEAF_MIGRATION_READ,
    SOFTLEAF_MIGRATION_READ_EXCLUSIVE,
    SOFTLEAF_MIGRATION_WRITE,
    SOFTLEAF_DEVICE_PRIVATE_READ,
    SOFTLEAF_DEVICE_PRIVATE_WRITE,
    SOFTLEAF_DEVICE_EXCLUSIVE,
    SOFTLEAF_HWPOISON,
    SOFTLEAF_MARKER,
};
std::string_view softleaf_type_name(softleaf_type t);

constexpr softleaf_t swp_entry(unsigned type, std::uint64_t offset) {
    return {(std::uint64_t{type} << SWP_TYPE_SHIFT) | (offset & SWP_OFFSET_MASK)};
}
constexpr unsigned swp_type(softleaf_t e) {
    return static_cast<unsigned>(e.val >> SWP_TYPE_SHIFT);
}
constexpr std::uint64_t swp_offset(softleaf_t e) {
    return e.val & SWP_OFFSET_MASK;
}
constexpr softleaf_t softleaf_mk_none() {
    return {0};
}
constexpr bool softleaf_is_none(softleaf_t e) {
    return e.val == 0;
}

constexpr softleaf_type softleaf_type_of(softleaf_t e) {
    using enum softleaf_type;
    if (softleaf_is_none(e))
        return SOFTLEAF_NONE;
    const unsigned t = swp_type(e);
    if (t < MAX_SWAPFILES)
        return SOFTLEAF_SWAP;
    switch (t) {
    case SWP_MIGRATION_READ:
        return SOFTLEAF_MIGRATION_READ;
    case SWP_MIGRATION_READ_EXCLUSIVE:
        return SOFTLEAF_MIGRATION_READ_EXCLUSIVE;
    case SWP_MIGRATION_WRITE:
        return SOFTLEAF_MIGRATION_WRITE;
    case SWP_DEVICE_WRITE:
        return SOFTLEAF_DEVICE_PRIVATE_WRITE;
    case SWP_DEVICE_READ:
        return SOFTLEAF_DEVICE_PRIVATE_READ;
    case SWP_DEVICE_EXCLUSIVE:
        return SOFTLEAF_DEVICE_EXCLUSIVE;
    case SWP_HWPOISON:
        return SOFTLEAF_HWPOISON;
    case SWP_PTE_MARKER:
        return SOFTLEAF_MARKER;
    default:
        return SOFTLEAF_NONE; // unknown type: the kernel warns and answers none
    }
}

constexpr bool softleaf_is_swap(softleaf_t e) {
    return softleaf_type_of(e) == softleaf_type::SOFTLEAF_SWAP;
}
constexpr bool softleaf_is_migration_write(softleaf_t e) {
    return softleaf_type_of(e) == softleaf_type::SOFTLEAF_MIGRATION_WRITE;
}
constexpr bool softleaf_is_migration_read(softleaf_t e) {
    return softleaf_type_of(e) == softleaf_type::SOFTLEAF_MIGRATION_READ;
}
constexpr bool softleaf_is_migration_read_exclusive(softleaf_t e) {
    return softleaf_type_of(e) == softleaf_type::SOFTLEAF_MIGRATION_READ_EXCLUSIVE;
}
constexpr bool softleaf_is_migration(softleaf_t e) {
    const unsigned t = swp_type(e);
    return !softleaf_is_none(e) && t >= SWP_MIGRATION_READ && t <= SWP_MIGRATION_WRITE;
}
constexpr bool softleaf_is_device_private_write(softleaf_t e) {
    return softleaf_type_of(e) == softleaf_type::SOFTLEAF_DEVICE_PRIVATE_WRITE;
}
constexpr bool softleaf_is_device_private(softleaf_t e) {
    const auto t = softleaf_type_of(e);
    return t == softleaf_type::SOFTLEAF_DEVICE_PRIVATE_WRITE ||
           t == softleaf_type::SOFTLEAF_DEVICE_PRIVATE_READ;
}
constexpr bool softleaf_is_device_exclusive(softleaf_t e) {
    return softleaf_type_of(e) == softleaf_type::SOFTLEAF_DEVICE_EXCLUSIVE;
}
constexpr bool softleaf_is_hwpoison(softleaf_t e) {
    return softleaf_type_of(e) == softleaf_type::SOFTLEAF_HWPOISON;
}
constexpr bool softleaf_is_marker(softleaf_t e) {
    return softleaf_type_of(e) == softleaf_type::SOFTLEAF_MARKER;
}
constexpr pte_marker softleaf_to_marker(softleaf_t e) {
    return swp_offset(e) & PTE_MARKER_MASK;
}
constexpr bool softleaf_is_poison_marker(softleaf_t e) {
    return softleaf_is_marker(e) && (softleaf_to_marker(e) & PTE_MARKER_POISONED) != 0;
}
constexpr bool softleaf_is_guard_marker(softleaf_t e) {
    return softleaf_is_marker(e) && (softleaf_to_marker(e) & PTE_MARKER_GUARD) != 0;
}
constexpr bool softleaf_is_uffd_wp_marker(softleaf_t e) {
    return softleaf_is_marker(e) && (softleaf_to_marker(e) & PTE_MARKER_UFFD_WP) != 0;
}
constexpr bool softleaf_has_pfn(softleaf_t e) {
    return softleaf_is_migration(e) || softleaf_is_device_private(e) ||
           softleaf_is_device_exclusive(e) || softleaf_is_hwpoison(e);
}
constexpr pfn_t softleaf_to_pfn(softleaf_t e) {
    return swp_offset(e) & SWP_PFN_MASK;
}
/// Migration entries carry A/D (arm64 swap offsets are wide enough: migration_entry_supports_ad).
constexpr bool softleaf_is_migration_young(softleaf_t e) {
    return softleaf_is_migration(e) && (swp_offset(e) & SWP_MIG_YOUNG) != 0;
}
constexpr bool softleaf_is_migration_dirty(softleaf_t e) {
    return softleaf_is_migration(e) && (swp_offset(e) & SWP_MIG_DIRTY) != 0;
}

// Constructors (include/linux/swapops.h).
constexpr softleaf_t make_readable_migration_entry(pfn_t pfn) {
    return swp_entry(SWP_MIGRATION_READ, pfn & SWP_PFN_MASK);
}
constexpr softleaf_t make_readable_exclusive_migration_entry(pfn_t pfn) {
    return swp_entry(SWP_MIGRATION_READ_EXCLUSIVE, pfn & SWP_PFN_MASK);
}
constexpr softleaf_t make_writable_migration_entry(pfn_t pfn) {
    return swp_entry(SWP_MIGRATION_WRITE, pfn & SWP_PFN_MASK);
}
constexpr softleaf_t make_migration_entry_young(softleaf_t e) {
    return swp_entry(swp_type(e), swp_offset(e) | SWP_MIG_YOUNG);
}
constexpr softleaf_t make_migration_entry_dirty(softleaf_t e) {
    return swp_entry(swp_type(e), swp_offset(e) | SWP_MIG_DIRTY);
}
constexpr softleaf_t make_readable_device_private_entry(pfn_t pfn) {
    return swp_entry(SWP_DEVICE_READ, pfn & SWP_PFN_MASK);
}
constexpr softleaf_t make_writable_device_private_entry(pfn_t pfn) {
    return swp_entry(SWP_DEVICE_WRITE, pfn & SWP_PFN_MASK);
}
constexpr softleaf_t make_device_exclusive_entry(pfn_t pfn) {
    return swp_entry(SWP_DEVICE_EXCLUSIVE, pfn & SWP_PFN_MASK);
}
constexpr softleaf_t make_hwpoison_entry(pfn_t pfn) {
    return swp_entry(SWP_HWPOISON, pfn & SWP_PFN_MASK);
}
constexpr softleaf_t make_pte_marker_entry(pte_marker marker) {
    return swp_entry(SWP_PTE_MARKER, marker & PTE_MARKER_MASK);
}

// --- arm64 encoding ---------------------------------------------------------------------------

/// __swp_entry_to_pte(): type in bits 6-10, offset in bits 12-61.
constexpr pte_t softleaf_to_pte(softleaf_t e) {
    return {((std::uint64_t{swp_type(e)} & __SWP_TYPE_MASK) << __SWP_TYPE_SHIFT) |
            ((swp_offset(e) & __SWP_OFFSET_MASK) << __SWP_OFFSET_SHIFT)};
}
/// softleaf_from_pte(): none for present or none entries, else the entry without swap-pte flags.
constexpr softleaf_t softleaf_from_pte(pte_t p) {
    if (pte_present(p) || pte_none(p))
        return softleaf_mk_none();
    const std::uint64_t v = pte_val(pte_swp_clear_uffd_wp(pte_swp_clear_exclusive(p)));
    return swp_entry(static_cast<unsigned>((v >> __SWP_TYPE_SHIFT) & __SWP_TYPE_MASK),
                     (v >> __SWP_OFFSET_SHIFT) & __SWP_OFFSET_MASK);
}
/// A non-none, non-present entry: what SOFTLEAF_NOT_VALID requires never to be valid.
constexpr bool pte_is_softleaf(pte_t p) {
    return !pte_none(p) && !pte_present(p);
}
constexpr bool pte_is_marker(pte_t p) {
    return softleaf_is_marker(softleaf_from_pte(p));
}
constexpr bool pte_is_uffd_wp_marker(pte_t p) {
    return softleaf_is_uffd_wp_marker(softleaf_from_pte(p));
}

constexpr pmd_t softleaf_to_pmd(softleaf_t e) {
    return pte_pmd(softleaf_to_pte(e));
}
constexpr softleaf_t softleaf_from_pmd(pmd_t p) {
    return softleaf_from_pte(pmd_pte(p));
}
constexpr bool pmd_is_migration_entry(pmd_t p) {
    return softleaf_is_migration(softleaf_from_pmd(p));
}
/// At PMD level only migration and device-private softleaves are valid.
constexpr bool pmd_is_valid_softleaf(pmd_t p) {
    const softleaf_t e = softleaf_from_pmd(p);
    return softleaf_is_device_private(e) || softleaf_is_migration(e);
}

} // namespace mmfuzz
