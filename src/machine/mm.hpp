// The kernel objects the page-table API takes: mm_struct and vm_area_struct (minimal models).
#pragma once

#include <cstdint>

namespace mmfuzz {

class machine;

/// MM_ANONPAGES, MM_FILEPAGES, MM_SWAPENTS (include/linux/mm_types_task.h).
struct rss_stat {
    long anon = 0;
    long file = 0;
    long swap = 0;
    friend bool operator==(const rss_stat &, const rss_stat &) = default;
};

struct mm_struct {
    machine *mach = nullptr;
    /// init_mm: kernel mappings. contpte never folds or unfolds for it (mm_is_user()).
    bool is_kernel = false;
    rss_stat rss;
};

inline bool mm_is_user(const mm_struct *mm) {
    return !mm->is_kernel;
}

using vm_flags_t = std::uint32_t;
constexpr vm_flags_t VM_READ = 1U << 0;
constexpr vm_flags_t VM_WRITE = 1U << 1;
constexpr vm_flags_t VM_EXEC = 1U << 2;
constexpr vm_flags_t VM_SHARED = 1U << 3;
constexpr vm_flags_t VM_UFFD_WP = 1U << 12;

struct vm_area_struct {
    mm_struct *vm_mm = nullptr;
    std::uint64_t vm_start = 0;
    std::uint64_t vm_end = 0;
    vm_flags_t vm_flags = VM_READ | VM_WRITE;
    bool anon = true;
};

} // namespace mmfuzz
