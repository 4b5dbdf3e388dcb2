// The op language shared by every driver: ops, programs, and the schema both codecs read.
//
// An op is a tag plus up to seven numeric fields in fixed slots. Each kind's schema says which
// slots it uses, under which kernel-like name, with which width and type. The binary codec,
// the text codec, the legalizer and the mutator all work from this one table.
#pragma once

#include "machine/machine.hpp"
#include "pgtable/geometry.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mmfuzz {

/// Stable one-byte tags: never renumbered or reused, so stored corpora keep their value.
enum class op_kind : std::uint8_t {
    folio_alloc = 0x01,
    set_ptes = 0x02,
    set_softleaf = 0x03,
    ptep_get = 0x04,
    ptep_get_lockless = 0x05,
    ptep_get_and_clear = 0x06,
    pte_clear = 0x07,
    get_and_clear_full_ptes = 0x08,
    clear_full_ptes = 0x09,
    ptep_test_and_clear_young = 0x0a,
    ptep_clear_flush_young = 0x0b,
    clear_flush_young_ptes = 0x0c,
    clear_young_dirty_ptes = 0x0d,
    wrprotect_ptes = 0x0e,
    ptep_set_access_flags = 0x0f,
    modify_prot = 0x10,
    hw_access = 0x11,
    // Core-MM flows (src/core): whole kernel paths, each written once against the handle API.
    do_anonymous_page = 0x40,
    handle_mm_fault = 0x41,
    folio_referenced = 0x42,
    mprotect = 0x43,
    zap_pte_range = 0x44,
    madvise_free = 0x45,
    shrink_folio = 0x46,
    do_swap_page = 0x47,
    migrate_folio = 0x48,
    split_huge_pmd = 0x49,
    split_folio = 0x4a,
    collapse_huge_page = 0x4b,
    madvise_guard = 0x4c,
    uffd_writeprotect = 0x4d,
    memory_failure = 0x4e,
    migrate_device = 0x4f,
    fork = 0x50,
    iommu_sva_handle_mm = 0x51,
    change_prot_numa = 0x52,
};

/// Whether a kind is a core flow (dispatched through program/flow.hpp).
constexpr bool is_flow(op_kind k) {
    return static_cast<std::uint8_t>(k) >= 0x40;
}

/// Field slots. `addr` holds a page index into the window (printed as a virtual address).
enum class slot : std::uint8_t { addr, nr, folio, page, arg, flags, value };
constexpr std::size_t nr_slots = 7;

/// How a field reads and prints.
enum class field_type : std::uint8_t {
    address,  ///< page index, printed as a hex virtual address
    number,   ///< unsigned
    boolean,  ///< 0 or 1
    prot,     ///< one of prot_names
    leaf,     ///< softleaf kind, one of leaf_names
    flag_set, ///< bit set over the schema's flag names, printed a|b
};

struct field_desc {
    slot s;
    std::string_view name;
    field_type type;
    std::uint8_t width; ///< bytes in the binary codec
    std::uint64_t max;  ///< largest legal value (numbers); bit mask (flag sets)
};

struct op_desc {
    op_kind kind;
    std::string_view name;
    std::array<field_desc, nr_slots> fields;
    std::uint8_t nfields;
    std::array<std::string_view, 4> flag_names; ///< bit i of a flag_set field
    std::string_view doc;
    [[nodiscard]] std::span<const field_desc> used() const { return {fields.data(), nfields}; }
};

/// All kinds, in tag order.
std::span<const op_desc> op_descs();
/// The schema of a tag, or nullptr for a tag no op has.
const op_desc *find_op(std::uint8_t tag);
const op_desc *find_op(std::string_view name);
const op_desc &desc_of(op_kind kind);

struct op {
    op_kind kind = op_kind::ptep_get;
    std::array<std::uint64_t, nr_slots> f{};

    [[nodiscard]] std::uint64_t operator[](slot s) const { return f[static_cast<std::size_t>(s)]; }
    std::uint64_t &operator[](slot s) { return f[static_cast<std::size_t>(s)]; }
    friend bool operator==(const op &, const op &) = default;
};

// Named values of the enum-typed fields.
enum class prot_kind : std::uint8_t { rw, ro, rwx, rx, none };
constexpr std::array<std::string_view, 5> prot_names = {"rw", "ro", "rwx", "rx", "none"};
pgprot_t prot_of(prot_kind p);

enum class leaf_kind : std::uint8_t {
    swap,
    migration_read,
    migration_read_exclusive,
    migration_write,
    device_read,
    device_write,
    device_exclusive,
    hwpoison,
    marker,
};
constexpr std::array<std::string_view, 9> leaf_names = {
    "swap",        "migration_read", "migration_read_exclusive", "migration_write",
    "device_read", "device_write",   "device_exclusive",         "hwpoison",
    "marker"};

// Flag bits, by op.
constexpr std::uint64_t SETF_YOUNG = 1, SETF_DIRTY = 2, SETF_SPECIAL = 4, SETF_UFFD_WP = 8;
constexpr std::uint64_t LEAFF_EXCLUSIVE = 1, LEAFF_UFFD_WP = 2, LEAFF_YOUNG = 4, LEAFF_DIRTY = 8;
constexpr std::uint64_t ACCF_WRITE = 1, ACCF_DIRTY = 2;
constexpr std::uint64_t CYDPF_YOUNG = 1, CYDPF_DIRTY = 2;

/// The header of a program: codec version, geometry and machine options.
struct program_header {
    std::uint8_t version = 1;
    machine_options options{};
    friend bool operator==(const program_header &, const program_header &) = default;
};

struct program {
    program_header header;
    std::vector<op> ops;
    friend bool operator==(const program &, const program &) = default;
};

constexpr std::uint8_t program_format_version = 1;
constexpr unsigned max_window_pmds = 4;

/// Number of pages in a program's window.
std::uint64_t window_pages(const program_header &h);

} // namespace mmfuzz
