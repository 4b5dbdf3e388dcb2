// A small world for unit tests: one machine, one implementation behind the handle API, one VMA
// over the window, and a live PTE table installed at the first PMD.
#pragma once

#include "arch/generic/generic.hpp"
#include "arch/pgtable_ops.hpp"
#include "machine/machine.hpp"

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mmfuzz::test {

/// Implementations the API tests run against; the contpte implementation registers here too.
std::unique_ptr<pgtable_ops> make_impl(std::string_view name, machine &m);
std::vector<std::string> impl_names();

inline std::string granule_param_name(granule g) {
    return "g" + std::string(granule_name(g));
}

struct test_world {
    explicit test_world(granule g, std::string_view impl = "generic", machine_options opts = {})
        : m(with_granule(opts, g)), ops(make_impl(impl, m)) {
        vma.vm_mm = &m.mm;
        vma.vm_start = m.window_start();
        vma.vm_end = m.window_end();
        pmdp = m.pmd_off(m.window_start());
        table = m.pte_alloc_one();
        ops->pmd_populate(&m.mm, pmdp, table);
        m.clear_logs();
    }

    [[nodiscard]] const geometry &geo() const { return m.geo(); }
    [[nodiscard]] std::uint64_t addr(std::size_t index) const {
        return m.window_start() + index * geo().page_size();
    }
    hw_ptep ptep(std::size_t index) {
        auto p = m.pte_offset_map(pmdp, addr(index));
        if (!p)
            throw std::logic_error("no table");
        return *p;
    }
    [[nodiscard]] pte_t raw(std::size_t index) const { return m.peek_pte(table, index); }
    folio *alloc(unsigned order, bool anon = true) {
        folio *f = m.folio_alloc(order, anon);
        if (f == nullptr)
            throw std::logic_error("out of memory");
        return f;
    }
    static pte_t mk(const folio *f, std::size_t page = 0, pgprot_t prot = PAGE_SHARED) {
        return pfn_pte(f->pfn + page, prot);
    }
    void lock() { m.spin_lock(m.pte_lockptr(table)); }
    void unlock() { m.spin_unlock(m.pte_lockptr(table)); }
    /// Maps a whole new folio of `order` at index with one set_ptes, under the PTL.
    folio *map_folio(std::size_t index, unsigned order, pgprot_t prot = PAGE_SHARED) {
        folio *f = alloc(order);
        lock();
        ops->set_ptes(&m.mm, addr(index), ptep(index), mk(f, 0, prot), 1U << order);
        unlock();
        return f;
    }

    machine m;
    std::unique_ptr<pgtable_ops> ops;
    vm_area_struct vma;
    hw_pmdp pmdp;
    pgtable_t table;

  private:
    static machine_options with_granule(machine_options o, granule g) {
        o.gran = g;
        return o;
    }
};

inline constexpr granule all_granules[] = {granule::k4, granule::k16, granule::k64};

} // namespace mmfuzz::test
