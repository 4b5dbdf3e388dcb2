// Vectors that hand their buffer to the thread's next vector of the same type. The runner
// builds two machines, the spec and the ideal memory for every program; on 32-op programs
// allocating and freeing their per-page and per-PMD arrays was a sixth of the bare run.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

namespace mmfuzz {

/// Per thread, the emptied buffers of recycled_vector<T>s gone, capacity kept.
template <typename T> class spare_buffers {
  public:
    static std::vector<T> take() {
        auto &kept = list();
        if (kept.empty())
            return {};
        std::vector<T> v = std::move(kept.back());
        kept.pop_back();
        return v;
    }
    static void give(std::vector<T> &v) {
        auto &kept = list();
        if (v.capacity() == 0 || kept.size() >= max_kept)
            return;
        v.clear();
        kept.push_back(std::move(v));
    }

  private:
    static constexpr std::size_t max_kept = 16;
    static std::vector<std::vector<T>> &list() {
        thread_local std::vector<std::vector<T>> kept;
        return kept;
    }
};

/// A std::vector whose buffer comes from, and goes back to, the thread's spare_buffers<T>.
/// It starts empty like any vector: only the capacity is inherited. Not for objects of static
/// or thread storage duration, which may outlive the thread's spares.
template <typename T> class recycled_vector : public std::vector<T> {
  public:
    recycled_vector() : std::vector<T>(spare_buffers<T>::take()) {}
    recycled_vector(const recycled_vector &) = default;
    recycled_vector(recycled_vector &&) noexcept = default;
    recycled_vector &operator=(const recycled_vector &) = default;
    recycled_vector &operator=(recycled_vector &&) noexcept = default;
    ~recycled_vector() { spare_buffers<T>::give(*this); }
};

} // namespace mmfuzz
