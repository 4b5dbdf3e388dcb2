// A world running the arm64 contpte implementation, with helpers that build blocks the way core
// code does (one set_pte_at per entry, or one set_ptes) and read the raw table back, CONT included.
#pragma once

#include "arch/arm64_contpte/arm64_contpte.hpp"
#include "fixture.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace mmfuzz::test {

class ContpteTest : public ::testing::TestWithParam<granule> {
  protected:
    explicit ContpteTest(machine_options opts = {}) : w(GetParam(), "arm64_contpte", opts) {}

    /// No machine monitor (BBM, LOCK, MAPCOUNT, LIVENESS...) may fire during a contpte test;
    /// a test that provokes one on purpose checks and clears it.
    void TearDown() override {
        for (const auto &v : w.m.violations())
            ADD_FAILURE() << v.id << ": " << v.detail;
    }

    arm64_contpte_pgtable &impl() { return dynamic_cast<arm64_contpte_pgtable &>(*w.ops); }
    /// CONT_PTES of the granule under test, and the folio order that exactly covers a block.
    [[nodiscard]] std::size_t C() const { return w.geo().cont_ptes(); }
    [[nodiscard]] unsigned cont_order() const { return w.geo().cont_pte_shift; }

    /// set_pte_at() of one entry under the PTL.
    void set_one(std::size_t index, pte_t pte, mm_struct *mm = nullptr) {
        w.lock();
        w.ops->set_pte_at(mm != nullptr ? mm : &w.m.mm, w.addr(index), w.ptep(index), pte);
        w.unlock();
    }
    /// set_ptes() of nr entries under the PTL.
    void set_batch(std::size_t index, pte_t pte, unsigned nr, mm_struct *mm = nullptr) {
        w.lock();
        w.ops->set_ptes(mm != nullptr ? mm : &w.m.mm, w.addr(index), w.ptep(index), pte, nr);
        w.unlock();
    }
    /// Maps pages first_page.. of f at index.. one set_pte_at() at a time, in VA order.
    void map_each(std::size_t index, const folio *f, std::size_t first_page, std::size_t n,
                  pgprot_t prot = PAGE_SHARED, mm_struct *mm = nullptr) {
        for (std::size_t i = 0; i < n; ++i)
            set_one(index + i, test_world::mk(f, first_page + i, prot), mm);
    }
    /// A new folio of `order` mapped at index by one set_ptes() of pte_fn(first entry).
    template <typename Fn> folio *map_folio_as(std::size_t index, unsigned order, Fn pte_fn) {
        folio *f = w.alloc(order);
        set_batch(index, pte_fn(test_world::mk(f)), 1U << order);
        return f;
    }
    folio *map_cont_blocks(std::size_t index, unsigned order) {
        return map_folio_as(index, order, [](pte_t p) { return p; });
    }

    void write_raw(std::size_t index, pte_t pte) { w.m.write(w.ptep(index), pte); }
    /// A user access by the MMU to the page at index. In a CONT block the hardware may use and
    /// update any entry: `slot` picks which one.
    void touch(std::size_t index, bool write, unsigned slot = 0) {
        const hw_access_result r = w.m.hw_access(w.addr(index), write, slot);
        ASSERT_TRUE(r.ok()) << "access to entry " << index << " faulted";
    }
    [[nodiscard]] bool cont(std::size_t index) const { return pte_cont(w.raw(index)); }
    [[nodiscard]] std::size_t count_cont(std::size_t from, std::size_t n) const {
        std::size_t c = 0;
        for (std::size_t i = from; i < from + n; ++i)
            c += cont(i) ? 1 : 0;
        return c;
    }
    [[nodiscard]] const std::vector<tlb_flush> &flushes() const { return w.m.flush_log(); }
    /// A last-level range flush at page stride of entries [first, end), as contpte.c issues.
    void expect_range_flush(const tlb_flush &f, std::size_t first, std::size_t end) const {
        EXPECT_EQ(f.kind, flush_kind::range);
        EXPECT_EQ(f.start, w.addr(first));
        EXPECT_EQ(f.end, w.addr(end));
        EXPECT_EQ(f.stride, w.geo().page_size());
        EXPECT_TRUE(f.last_level);
    }
    [[nodiscard]] std::size_t writes_to_zero() const {
        std::size_t n = 0;
        for (const auto &wr : w.m.write_log())
            n += wr.new_val == 0 ? 1 : 0;
        return n;
    }
    mm_struct kernel_mm() {
        mm_struct kmm;
        kmm.mach = &w.m;
        kmm.is_kernel = true;
        return kmm;
    }

    test_world w;
};

inline std::string contpte_param_name(const ::testing::TestParamInfo<granule> &info) {
    return granule_param_name(info.param);
}

} // namespace mmfuzz::test
