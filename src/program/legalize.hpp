// The legalizer: turns any decoded op into a call that meets the kernel's documented
// preconditions, or says why it cannot (a counted no-op, never a report). It reads only the
// reference world, whose core-visible structure both worlds share.
#pragma once

#include "core/world.hpp"
#include "program/op.hpp"

#include <optional>

namespace mmfuzz {

/// The legal form of `o` against the reference world's current state, or nullopt with the
/// reason in `why`. Legalizing a legal op returns it unchanged.
std::optional<op> legalize(const op &o, world &ref, const char *&why);

// Helpers the legalizers of the direct ops and of the flows share (indices are window pages).
/// 1..limit from a raw count, covering the whole range as the raw value varies (0 if limit is 0).
std::uint64_t fold_count(std::uint64_t raw, std::uint64_t limit);
/// Entries left in the table of page `index` from it on.
std::uint64_t room_in_table(const world &w, std::uint64_t index);
/// The entry of page `index` through the API, if its PMD points to a table.
std::optional<pte_t> entry_at(world &w, std::uint64_t index);
/// A counted no-op: nullopt, with the reason in why.
std::optional<op> no_op(const char *&why, const char *reason);
/// Entries from `index` (at most `limit`) that are present and map consecutive pages of one
/// folio with equal protection, as folio_pte_batch() groups them. 0 if the first is not present.
unsigned folio_batch(world &w, std::uint64_t index, unsigned limit);

/// The entry core code would install for a set_ptes op (its first page).
pte_t set_ptes_entry(const world &w, const op &o);
/// The software leaf entry of a set_softleaf op.
pte_t softleaf_entry(const world &w, const op &o);

} // namespace mmfuzz
