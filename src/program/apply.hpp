// Applying one legal op to one world, the way the kernel's caller would: under the PTL, with
// the caller's TLB flush and RSS accounting.
#pragma once

#include "core/flows.hpp"
#include "core/world.hpp"
#include "program/op.hpp"

#include <array>

namespace mmfuzz {

enum class result_kind : std::uint8_t { none, pte, boolean, access, folio };

struct op_result {
    result_kind kind = result_kind::none;
    pte_t pte{};
    bool flag = false;
    /// hw_access: the fault, or 0 with the value read.
    int fault = 0;
    std::uint64_t value = 0;
    /// folio_alloc found no memory; a flow could not run for lack of memory.
    bool failed = false;
    /// A flow's own outcome code (the fault path taken, the reclaim result...), compared
    /// between the worlds.
    std::uint8_t detail = 0;
    /// iommu_sva_handle_mm: the device's faults before the last one, packed as `detail`
    /// (handler and outcome), oldest first, and the world's write-log length after each.
    std::array<std::uint8_t, sva_max_faults - 1> earlier{};
    std::uint8_t nr_earlier = 0;
    std::array<std::uint32_t, sva_max_faults - 1> earlier_writes{};
};

op_result apply_op(world &w, const op &o);
/// The pages an op names (its range): first page index and count.
std::pair<std::uint64_t, std::uint64_t> op_range(const op &o);

} // namespace mmfuzz
