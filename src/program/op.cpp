#include "program/op.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace mmfuzz {

namespace {

using ft = field_type;
constexpr std::uint64_t u8max = 0xff, u16max = 0xffff, u32max = 0xffffffff;
constexpr std::uint64_t u64max = ~std::uint64_t{0};

constexpr field_desc f_addr{slot::addr, "addr", ft::address, 4, u32max};
constexpr field_desc f_nr{slot::nr, "nr", ft::number, 2, u16max};
constexpr field_desc f_folio{slot::folio, "folio", ft::number, 1, u8max};
constexpr field_desc f_page{slot::page, "page", ft::number, 2, u16max};
constexpr field_desc f_prot{slot::arg, "prot", ft::prot, 1, prot_names.size() - 1};

constexpr op_desc make(op_kind k, std::string_view name, std::initializer_list<field_desc> fields,
                       std::array<std::string_view, 4> flags, std::string_view doc) {
    op_desc d{k, name, {}, 0, flags, doc};
    for (const field_desc &f : fields)
        d.fields[d.nfields++] = f;
    return d;
}

const std::array<op_desc, 36> descs = {
    make(op_kind::folio_alloc, "folio_alloc",
         {{slot::arg, "order", ft::number, 1, u8max}, {slot::flags, "anon", ft::boolean, 1, 1}}, {},
         "allocate a folio of 2^order pages; later ops name it by allocation index"),
    make(op_kind::set_ptes, "set_ptes",
         {f_addr, f_nr, f_folio, f_page, f_prot, {slot::flags, "flags", ft::flag_set, 1, 0xf}},
         {"young", "dirty", "special", "uffd_wp"},
         "map nr pages of a folio from `page` with one set_ptes (PTL held)"),
    make(op_kind::set_softleaf, "set_softleaf",
         {f_addr,
          {slot::arg, "type", ft::leaf, 1, leaf_names.size() - 1},
          f_folio,
          f_page,
          {slot::nr, "swapfile", ft::number, 1, u8max},
          {slot::value, "offset", ft::number, 8, u64max},
          {slot::flags, "flags", ft::flag_set, 1, 0xf}},
         {"exclusive", "uffd_wp", "young", "dirty"},
         "install a software leaf entry with set_pte_at over a non-present entry"),
    make(op_kind::ptep_get, "ptep_get", {f_addr}, {}, "read an entry under the PTL"),
    make(op_kind::ptep_get_lockless, "ptep_get_lockless", {f_addr}, {},
         "read an entry without the PTL"),
    make(op_kind::ptep_get_and_clear, "ptep_get_and_clear", {f_addr}, {},
         "clear an entry and return it; the caller flushes the page"),
    make(op_kind::pte_clear, "pte_clear", {f_addr}, {},
         "clear an entry; the caller flushes the page"),
    make(op_kind::get_and_clear_full_ptes, "get_and_clear_full_ptes",
         {f_addr, f_nr, {slot::flags, "full", ft::boolean, 1, 1}}, {},
         "zap a folio batch, returning the first entry with gathered young/dirty; "
         "the caller's mmu_gather flushes"),
    make(op_kind::clear_full_ptes, "clear_full_ptes",
         {f_addr, f_nr, {slot::flags, "full", ft::boolean, 1, 1}}, {},
         "zap a folio batch; the caller's mmu_gather flushes"),
    make(op_kind::ptep_test_and_clear_young, "ptep_test_and_clear_young", {f_addr}, {},
         "clear young without a flush"),
    make(op_kind::ptep_clear_flush_young, "ptep_clear_flush_young", {f_addr}, {},
         "clear young, flushing if it was young"),
    make(op_kind::clear_flush_young_ptes, "clear_flush_young_ptes", {f_addr, f_nr}, {},
         "clear young over a folio batch, flushing if any was young"),
    make(op_kind::clear_young_dirty_ptes, "clear_young_dirty_ptes",
         {f_addr, f_nr, {slot::flags, "flags", ft::flag_set, 1, 3}}, {"young", "dirty"},
         "MADV_FREE's clear over a folio batch (dirty only over whole folios); "
         "the caller flushes"),
    make(op_kind::wrprotect_ptes, "wrprotect_ptes", {f_addr, f_nr}, {},
         "write-protect a folio batch (fork); the caller flushes"),
    make(op_kind::ptep_set_access_flags, "ptep_set_access_flags",
         {f_addr, {slot::flags, "flags", ft::flag_set, 1, 3}}, {"write", "dirty"},
         "fault fix-up: make an entry young, and writable/dirty as the fault asks"),
    make(op_kind::modify_prot, "modify_prot", {f_addr, f_nr, f_prot}, {},
         "mprotect a folio batch: modify_prot_start_ptes, pte_modify, modify_prot_commit_ptes, "
         "then the caller flushes"),
    make(op_kind::hw_access, "hw_access",
         {f_addr,
          {slot::arg, "write", ft::boolean, 1, 1},
          {slot::folio, "slot", ft::number, 1, u8max},
          {slot::value, "value", ft::number, 8, u64max}},
         {},
         "a CPU access through the MMU; `slot` picks the CONT entry hardware updates, and an odd "
         "`slot / CONT_PTES` caches the page alone rather than its block"),
    make(
        op_kind::do_anonymous_page, "do_anonymous_page",
        {f_addr, {slot::arg, "order", ft::number, 1, u8max}}, {},
        "anonymous write fault on a none entry: a zeroed folio of 2^order pages (mTHP) mapped with "
        "one set_ptes, or a PMD-order THP with a deposited table"),
    make(op_kind::handle_mm_fault, "handle_mm_fault",
         {f_addr,
          {slot::arg, "write", ft::boolean, 1, 1},
          {slot::folio, "slot", ft::number, 1, u8max},
          {slot::value, "value", ft::number, 8, u64max}},
         {},
         "a CPU access; on a fault, the kernel's fault handling (anon, swap-in, write-protect, "
         "access flag) and the access again"),
    make(op_kind::folio_referenced, "folio_referenced", {f_addr}, {},
         "aging: clear and flush young over the entries mapping the folio at addr"),
    make(op_kind::mprotect, "mprotect", {f_addr, f_nr, f_prot}, {},
         "change_protection() over a range, across page tables: change_huge_pmd per PMD "
         "leaf, modify_prot_start/commit_ptes per folio batch, one deferred flush"),
    make(op_kind::zap_pte_range, "zap_pte_range", {f_addr, f_nr}, {},
         "MADV_DONTNEED over a range, across page tables: get_and_clear_full_ptes per batch "
         "or zap_huge_pmd per PMD leaf, dirty/young to the folio, a table emptied whole freed "
         "through the gather, one deferred flush"),
    make(op_kind::madvise_free, "madvise_free", {f_addr, f_nr}, {},
         "MADV_FREE: clear young and dirty of whole folios and mark them lazy-free"),
    make(op_kind::shrink_folio, "shrink_folio", {f_addr}, {},
         "reclaim the folio mapped at addr: discard it if lazy-free and clean, else swap it out"),
    make(op_kind::do_swap_page, "do_swap_page", {f_addr, {slot::flags, "write", ft::boolean, 1, 1}},
         {}, "swap in the page of the swap entry at addr"),
    make(op_kind::migrate_folio, "migrate_folio", {f_addr}, {},
         "migrate the folio mapped at addr: migration entries, copy, remap"),
    make(op_kind::split_huge_pmd, "split_huge_pmd", {f_addr}, {},
         "split the PMD mapping at addr into a table of PTEs"),
    make(op_kind::split_folio, "split_folio", {f_addr, {slot::arg, "order", ft::number, 1, u8max}},
         {}, "split the large folio mapped at addr into folios of 2^order pages"),
    make(op_kind::collapse_huge_page, "collapse_huge_page",
         {f_addr, {slot::arg, "order", ft::number, 1, u8max}}, {},
         "khugepaged: collapse the 2^order pages around addr into one new folio"),
    make(op_kind::madvise_guard, "madvise_guard",
         {f_addr, f_nr, {slot::flags, "remove", ft::boolean, 1, 1}}, {},
         "MADV_GUARD_INSTALL (zap, then guard markers) or MADV_GUARD_REMOVE over a range"),
    make(op_kind::uffd_writeprotect, "uffd_writeprotect",
         {f_addr, f_nr, {slot::flags, "enable", ft::boolean, 1, 1}}, {},
         "UFFDIO_WRITEPROTECT: set or clear uffd-wp on the entries of a range"),
    make(op_kind::memory_failure, "memory_failure", {f_addr}, {},
         "hwpoison the page mapped at addr: unmap its entry to a hwpoison entry"),
    make(op_kind::migrate_device, "migrate_device",
         {f_addr, {slot::flags, "to_ram", ft::boolean, 1, 1}}, {},
         "migrate the page at addr to device-private memory, or back to RAM"),
    make(op_kind::fork, "fork", {}, {},
         "copy_page_range() of the window into a child that never runs: the parent's "
         "writable entries write-protected per folio batch (wrprotect_ptes) or PMD, swap "
         "entries made shared, migration and device-private entries readable, then "
         "flush_tlb_mm"),
    make(op_kind::iommu_sva_handle_mm, "iommu_sva_handle_mm",
         {f_addr,
          {slot::arg, "write", ft::boolean, 1, 1},
          {slot::value, "value", ft::number, 8, u64max}},
         {},
         "an SVA device's access through an SMMU without HTTU, which sets neither AF nor dirty; "
         "on each fault, handle_mm_fault() and, if handled, the access again, up to four "
         "faults"),
    make(op_kind::change_prot_numa, "change_prot_numa", {f_addr, f_nr}, {},
         "NUMA balancing's scan (task_numa_work()): change_protection() with MM_CP_PROT_NUMA "
         "over a range of one accessible VMA, the entries of each folio it may migrate made "
         "PROT_NONE hints a folio batch at a time, one deferred flush"),
};

} // namespace

std::span<const op_desc> op_descs() {
    return descs;
}

const op_desc *find_op(std::uint8_t tag) {
    // Looked up for every op the runner applies: an index by tag, not a walk over the schemas.
    static const auto by_tag = [] {
        std::array<const op_desc *, 256> t{};
        for (const op_desc &d : descs)
            if (t[static_cast<std::uint8_t>(d.kind)] == nullptr)
                t[static_cast<std::uint8_t>(d.kind)] = &d;
        return t;
    }();
    return by_tag[tag];
}

const op_desc *find_op(std::string_view name) {
    for (const op_desc &d : descs)
        if (d.name == name)
            return &d;
    return nullptr;
}

const op_desc &desc_of(op_kind kind) {
    const op_desc *d = find_op(static_cast<std::uint8_t>(kind));
    if (d == nullptr)
        throw std::logic_error("op kind without a schema");
    return *d;
}

pgprot_t prot_of(prot_kind p) {
    switch (p) {
    case prot_kind::ro:
        return PAGE_READONLY;
    case prot_kind::rwx:
        return PAGE_SHARED_EXEC;
    case prot_kind::rx:
        return PAGE_READONLY_EXEC;
    case prot_kind::none:
        return PAGE_NONE;
    case prot_kind::rw:
    default:
        return PAGE_SHARED;
    }
}

std::uint64_t window_pages(const program_header &h) {
    const geometry g = geometry_of(h.options.gran);
    return std::uint64_t{h.options.window_pmds} * g.ptrs_per_pte();
}

} // namespace mmfuzz
