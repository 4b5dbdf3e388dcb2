// Softleaf laws of SEMANTICS 3 and the swap laws of SEMANTICS 5, for every type.
#include "pgtable/softleaf.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace mmfuzz {
namespace {

struct typed_entry {
    softleaf_t entry;
    softleaf_type type;
};

std::vector<typed_entry> one_of_each() {
    using enum softleaf_type;
    const pfn_t pfn = 0x12345;
    std::vector<typed_entry> v = {
        {make_readable_migration_entry(pfn), SOFTLEAF_MIGRATION_READ},
        {make_readable_exclusive_migration_entry(pfn), SOFTLEAF_MIGRATION_READ_EXCLUSIVE},
        {make_writable_migration_entry(pfn), SOFTLEAF_MIGRATION_WRITE},
        {make_migration_entry_dirty(make_migration_entry_young(make_writable_migration_entry(pfn))),
         SOFTLEAF_MIGRATION_WRITE},
        {make_readable_device_private_entry(pfn), SOFTLEAF_DEVICE_PRIVATE_READ},
        {make_writable_device_private_entry(pfn), SOFTLEAF_DEVICE_PRIVATE_WRITE},
        {make_device_exclusive_entry(pfn), SOFTLEAF_DEVICE_EXCLUSIVE},
        {make_hwpoison_entry(pfn), SOFTLEAF_HWPOISON},
        {make_pte_marker_entry(PTE_MARKER_UFFD_WP), SOFTLEAF_MARKER},
        {make_pte_marker_entry(PTE_MARKER_POISONED), SOFTLEAF_MARKER},
        {make_pte_marker_entry(PTE_MARKER_GUARD), SOFTLEAF_MARKER},
    };
    for (unsigned type = 0; type < MAX_SWAPFILES; ++type)
        v.push_back({swp_entry(type, 1 + type * 1000), SOFTLEAF_SWAP});
    v.push_back({swp_entry(MAX_SWAPFILES - 1, SWP_OFFSET_MAX), SOFTLEAF_SWAP});
    return v;
}

TEST(Softleaf, EveryTypeRoundTripsThroughThePte) {
    for (const auto &[e, type] : one_of_each()) {
        SCOPED_TRACE(softleaf_type_name(type));
        EXPECT_EQ(softleaf_type_of(e), type);
        const pte_t p = softleaf_to_pte(e);
        EXPECT_FALSE(pte_none(p));
        EXPECT_FALSE(pte_present(p));
        EXPECT_FALSE(pte_valid(p));
        EXPECT_TRUE(pte_is_softleaf(p));
        EXPECT_EQ(softleaf_from_pte(p), e);
    }
}

TEST(Softleaf, MaximalSwapEntryRoundTripsBitExactly) {
    const softleaf_t e = swp_entry(MAX_SWAPFILES - 1, SWP_OFFSET_MAX);
    const pte_t p = softleaf_to_pte(e);
    EXPECT_EQ(pte_val(p), (pteval_t{MAX_SWAPFILES - 1} << 6) | (SWP_OFFSET_MAX << 12));
    EXPECT_EQ(softleaf_from_pte(p), e);
    EXPECT_EQ(pte_val(p) & 0x803, 0U); // bits 0-1 and 11 stay clear: never present
}

TEST(Softleaf, SwapPteFlagsChangeOnlyTheirBitAndAreIgnoredByDecoding) {
    for (const auto &[e, type] : one_of_each()) {
        SCOPED_TRACE(softleaf_type_name(type));
        const pte_t p = softleaf_to_pte(e);
        const pte_t ex = pte_swp_mkexclusive(p);
        const pte_t wp = pte_swp_mkuffd_wp(p);
        EXPECT_EQ(pte_val(ex) ^ pte_val(p), PTE_SWP_EXCLUSIVE);
        EXPECT_EQ(pte_val(wp) ^ pte_val(p), PTE_SWP_UFFD_WP);
        EXPECT_TRUE(pte_swp_exclusive(ex));
        EXPECT_TRUE(pte_swp_uffd_wp(wp));
        EXPECT_EQ(pte_swp_clear_exclusive(ex), p);
        EXPECT_EQ(pte_swp_clear_uffd_wp(wp), p);
        EXPECT_EQ(softleaf_from_pte(ex), e);
        EXPECT_EQ(softleaf_from_pte(wp), e);
        EXPECT_EQ(softleaf_from_pte(pte_swp_mkuffd_wp(ex)), e);
        EXPECT_FALSE(pte_present(pte_swp_mkuffd_wp(ex)));
    }
}

TEST(Softleaf, PresentAndNoneEntriesAreNotSoftleaves) {
    EXPECT_TRUE(softleaf_is_none(softleaf_from_pte(pte_t{0})));
    EXPECT_TRUE(softleaf_is_none(softleaf_from_pte(pfn_pte(99, PAGE_SHARED))));
    const pte_t protnone = pfn_pte(99, PAGE_NONE);
    EXPECT_TRUE(pte_present(protnone));
    EXPECT_FALSE(pte_is_softleaf(protnone));
    EXPECT_TRUE(softleaf_is_none(softleaf_from_pte(protnone)));
    EXPECT_EQ(softleaf_type_of(softleaf_mk_none()), softleaf_type::SOFTLEAF_NONE);
}

TEST(Softleaf, PfnEntriesCarryThePfnAndMigrationAD) {
    const pfn_t pfn = SWP_PFN_MASK; // the largest PFN
    for (const auto &[e, type] : one_of_each()) {
        SCOPED_TRACE(softleaf_type_name(type));
        const bool has =
            type != softleaf_type::SOFTLEAF_SWAP && type != softleaf_type::SOFTLEAF_MARKER;
        EXPECT_EQ(softleaf_has_pfn(e), has);
        if (has)
            EXPECT_EQ(softleaf_to_pfn(e), 0x12345U);
    }
    const softleaf_t w = make_writable_migration_entry(pfn);
    EXPECT_TRUE(softleaf_is_migration(w));
    EXPECT_TRUE(softleaf_is_migration_write(w));
    EXPECT_FALSE(softleaf_is_migration_young(w));
    EXPECT_FALSE(softleaf_is_migration_dirty(w));
    const softleaf_t yd = make_migration_entry_dirty(make_migration_entry_young(w));
    EXPECT_TRUE(softleaf_is_migration_young(yd));
    EXPECT_TRUE(softleaf_is_migration_dirty(yd));
    EXPECT_EQ(softleaf_to_pfn(yd), pfn); // A/D sit above the PFN bits
    EXPECT_EQ(softleaf_from_pte(softleaf_to_pte(yd)), yd);
    const softleaf_t r = make_readable_migration_entry(pfn);
    EXPECT_TRUE(softleaf_is_migration(r));
    EXPECT_FALSE(softleaf_is_migration_write(r));
    EXPECT_TRUE(softleaf_is_migration_read(r));
    EXPECT_TRUE(softleaf_is_migration_read_exclusive(make_readable_exclusive_migration_entry(pfn)));
    // A/D bits are not read from non-migration entries.
    EXPECT_FALSE(softleaf_is_migration_young(swp_entry(3, SWP_MIG_YOUNG)));
}

TEST(Softleaf, Markers) {
    const softleaf_t all = make_pte_marker_entry(PTE_MARKER_MASK);
    EXPECT_TRUE(softleaf_is_uffd_wp_marker(all));
    EXPECT_TRUE(softleaf_is_poison_marker(all));
    EXPECT_TRUE(softleaf_is_guard_marker(all));
    const softleaf_t guard = make_pte_marker_entry(PTE_MARKER_GUARD);
    EXPECT_TRUE(softleaf_is_guard_marker(guard));
    EXPECT_FALSE(softleaf_is_uffd_wp_marker(guard));
    EXPECT_TRUE(pte_is_marker(softleaf_to_pte(guard)));
    EXPECT_TRUE(pte_is_uffd_wp_marker(softleaf_to_pte(make_pte_marker_entry(PTE_MARKER_UFFD_WP))));
    EXPECT_FALSE(softleaf_is_guard_marker(swp_entry(2, PTE_MARKER_GUARD))); // a swap entry
}

TEST(Softleaf, UnknownTypeDecodesAsNone) {
    EXPECT_EQ(softleaf_type_of(softleaf_t{std::uint64_t{40} << SWP_TYPE_SHIFT}),
              softleaf_type::SOFTLEAF_NONE);
}

TEST(Softleaf, OnlyMigrationAndDevicePrivateAreValidAtPmdLevel) {
    EXPECT_TRUE(pmd_is_valid_softleaf(softleaf_to_pmd(make_writable_migration_entry(512))));
    EXPECT_TRUE(pmd_is_migration_entry(softleaf_to_pmd(make_readable_migration_entry(512))));
    EXPECT_TRUE(pmd_is_valid_softleaf(softleaf_to_pmd(make_readable_device_private_entry(512))));
    EXPECT_FALSE(pmd_is_valid_softleaf(softleaf_to_pmd(swp_entry(1, 5))));
    EXPECT_FALSE(pmd_is_valid_softleaf(softleaf_to_pmd(make_hwpoison_entry(512))));
    EXPECT_FALSE(pmd_is_valid_softleaf(softleaf_to_pmd(make_pte_marker_entry(PTE_MARKER_GUARD))));
}

} // namespace
} // namespace mmfuzz
