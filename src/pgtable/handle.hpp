// Handles to page-table entries (seed 000).
//
// hw_ptep / hw_pmdp name a live hardware entry. In strict mode (the default) they are opaque:
// no dereference, no construction from a pte_t*, no arithmetic but hw_pte_next()/hw_pte_add().
// With MMFUZZ_HANDLE_ALIAS they are plain pointers, as on an arch that has not opted in.
//
// staged_ptep names an entry of a PTE table that hardware cannot reach yet (a table being filled
// by a THP split, or one detached by collapse). It is a distinct type in both modes, so a staged
// table can only become live through pmd_populate().
//
// Only the machine opens a handle (through handle_access, see machine/handle_access.hpp).
#pragma once

#include "pgtable/pte.hpp"

#include <cstddef>
#include <cstdint>

namespace mmfuzz {

struct handle_access;

/// pgtable_t: a page-table page, named by its PFN (the kernel's struct ptdesc *).
struct pgtable_t {
    pfn_t pfn = 0;
    friend constexpr bool operator==(pgtable_t, pgtable_t) = default;
};

namespace detail {
/// Index of an entry within its table: tables are aligned to their size, as in the kernel.
inline std::size_t entry_index(const void *p, std::size_t ptrs_per_table) {
    return (reinterpret_cast<std::uintptr_t>(p) / sizeof(pteval_t)) & (ptrs_per_table - 1);
}
} // namespace detail

#ifdef MMFUZZ_HANDLE_ALIAS

using hw_ptep = pte_t *;
using hw_pmdp = pmd_t *;

constexpr hw_ptep hw_pte_next(hw_ptep p) {
    return p + 1;
}
constexpr hw_ptep hw_pte_add(hw_ptep p, std::ptrdiff_t n) {
    return p + n;
}
constexpr std::ptrdiff_t hw_pte_distance(hw_ptep from, hw_ptep to) {
    return to - from;
}
inline std::size_t hw_pte_index(hw_ptep p, std::size_t ptrs_per_pte) {
    return detail::entry_index(p, ptrs_per_pte);
}

#else

class hw_ptep {
  public:
    hw_ptep() = default;
    friend constexpr bool operator==(hw_ptep, hw_ptep) = default;

    friend constexpr hw_ptep hw_pte_next(hw_ptep p) { return hw_ptep(p.ptr_ + 1); }
    friend constexpr hw_ptep hw_pte_add(hw_ptep p, std::ptrdiff_t n) { return hw_ptep(p.ptr_ + n); }
    friend constexpr std::ptrdiff_t hw_pte_distance(hw_ptep from, hw_ptep to) {
        return to.ptr_ - from.ptr_;
    }
    friend std::size_t hw_pte_index(hw_ptep p, std::size_t ptrs_per_pte) {
        return detail::entry_index(p.ptr_, ptrs_per_pte);
    }

  private:
    explicit constexpr hw_ptep(pte_t *p) : ptr_(p) {}
    pte_t *ptr_ = nullptr;
    friend struct handle_access;
};

class hw_pmdp {
  public:
    hw_pmdp() = default;
    friend constexpr bool operator==(hw_pmdp, hw_pmdp) = default;

  private:
    explicit constexpr hw_pmdp(pmd_t *p) : ptr_(p) {}
    pmd_t *ptr_ = nullptr;
    friend struct handle_access;
};

#endif

/// Entry of a table that is not reachable by hardware (seed 000's question, answered).
class staged_ptep {
  public:
    staged_ptep() = default;
    friend constexpr bool operator==(staged_ptep, staged_ptep) = default;

    friend constexpr staged_ptep staged_pte_next(staged_ptep p) { return staged_ptep(p.ptr_ + 1); }
    friend constexpr staged_ptep staged_pte_add(staged_ptep p, std::ptrdiff_t n) {
        return staged_ptep(p.ptr_ + n);
    }

  private:
    explicit constexpr staged_ptep(pte_t *p) : ptr_(p) {}
    pte_t *ptr_ = nullptr;
    friend struct handle_access;
};

} // namespace mmfuzz
