// Core-flow ops: how each flow of src/core becomes an op of the language. Per kind, its
// legalization, its application to one world, the oracle's spec transitions it drives, and the
// checks of its results. The runner, the legalizer and apply_op dispatch here for is_flow kinds.
#pragma once

#include "core/world.hpp"
#include "oracle/check.hpp"
#include "oracle/content.hpp"
#include "program/apply.hpp"
#include "program/op.hpp"

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace mmfuzz {

/// What a flow's oracle hooks see: both worlds after the op, the checker with its young/dirty
/// spec (still as before the op when `update` starts), and the ideal memory.
struct flow_context {
    world &ref;
    world &opt;
    checker &chk;
    content_spec &content;
};

struct flow_op {
    op_kind kind;
    /// The legal form of o against the reference world (addr already reduced into the window),
    /// or nullopt with the reason in why. Legalizing a legal op returns it unchanged.
    std::optional<op> (*legalize)(const op &o, world &ref, const char *&why);
    /// The pages the op names: first page index and count.
    std::pair<std::uint64_t, std::uint64_t> (*range)(const op &o);
    /// Runs the flow in one world (locks taken and released inside, as the kernel does).
    op_result (*apply)(world &w, const op &o);
    /// The results of both worlds against each other and the spec; nullptr compares
    /// fault/value/flag/failed exactly.
    std::optional<finding> (*check)(flow_context &c, const op &o, const op_result &ref_result,
                                    const op_result &opt_result);
    /// The spec transitions of the op (young/dirty intervals, ideal memory).
    void (*update)(flow_context &c, const op &o, const op_result &ref_result,
                   const op_result &opt_result);
};

/// The spec after change_pte_range() over [first, first + nr) (mprotect, uffd-wp):
/// modify_prot_start_ptes() gathers young/dirty over each folio batch (the write bit respected)
/// and the commit writes the gather to all of it, so `may` spreads over each batch the
/// reference now shows; `must` stays. The write bit is ignored here: a commit may have made
/// part of a batch writable (commit_prot_batch()). False when no table maps `first`.
bool spread_prot_batches(flow_context &c, std::uint64_t first, std::uint64_t nr);

/// Window pages whose live PTE the op wrote in w (the reference world's own writes: no
/// contpte conversions), in order.
std::vector<std::uint64_t> written_pages(world &w);

/// The spec after __split_huge_pmd() of the PMD whose first page is `first`: every PTE takes
/// the PMD's young and dirty, so each page's interval becomes the gather over the PMD's pages.
void spread_split_pmd(flow_context &c, std::uint64_t first);

/// The faults an access op took, each handler and outcome as access_result() packs them in
/// op_result::earlier and ::detail, oldest first, for traces and reports:
/// "(do_numa_page: handled) (ptep_set_access_flags: handled)".
std::string describe_faults(const op_result &r);

/// The page an op names at `addr`, as a flow_op range: (addr, 1).
std::pair<std::uint64_t, std::uint64_t> one_page(const op &o);
/// The flow op of a kind, or nullptr when this build has none for it.
const flow_op *find_flow(op_kind kind);

// The groups, one file each: flow_fault.cpp (anonymous faults, CPU and device accesses with
// fault handling), flow_basic.cpp (aging, mprotect, zap, MADV_FREE, fork),
// flow_huge.cpp (THP split, folio split, collapse), flow_swap.cpp (reclaim, swap, migration,
// softleaves).
std::span<const flow_op> fault_flows();
std::span<const flow_op> basic_flows();
std::span<const flow_op> huge_flows();
std::span<const flow_op> swap_flows();

} // namespace mmfuzz
