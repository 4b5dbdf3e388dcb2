#include "core/world.hpp"

#include "arch/registry.hpp"

namespace mmfuzz {

world::world(std::string_view impl, const machine_options &opts)
    : m(opts), ops(make_pgtable_ops(impl, m)) {
    vma.vm_mm = &m.mm;
    vma.vm_start = m.window_start();
    vma.vm_end = m.window_end();
    vma.vm_flags = VM_READ | VM_WRITE;
    vma.anon = true;
}

std::optional<hw_ptep> world::pte_lookup(std::uint64_t addr) {
    return m.pte_offset_map(m.pmd_off(addr), addr);
}

/// mm/memory.c __pte_alloc() and pmd_install(): allocate outside the lock, publish under the
/// PMD lock only if the PMD is still none.
std::optional<hw_ptep> world::pte_alloc_map(std::uint64_t addr) {
    const hw_pmdp pmdp = m.pmd_off(addr);
    if (pmd_none(ops->pmdp_get(pmdp))) {
        const pgtable_t table = m.pte_alloc_one();
        m.spin_lock(m.pmd_lockptr());
        ops->pmd_populate(&m.mm, pmdp, table);
        m.spin_unlock(m.pmd_lockptr());
    }
    return m.pte_offset_map(pmdp, addr);
}

bool world::one_vma(std::uint64_t start, std::uint64_t nr) const {
    const vm_flags_t flags = vm_flags_at(start);
    if ((flags & (VM_READ | VM_WRITE | VM_EXEC)) == 0)
        return false; // a PROT_NONE VMA: a fault never gets here (vma_is_accessible())
    for (std::uint64_t i = 1; i < nr; ++i)
        if (vm_flags_at(start + i * geo().page_size()) != flags)
            return false;
    return true;
}

vm_flags_t world::vm_flags_at(std::uint64_t addr) const {
    const std::uint64_t page = (addr - m.window_start()) >> geo().page_shift;
    return page < vm_flags_of_page_.size() ? vm_flags_of_page_[page] : vma.vm_flags;
}

void world::set_vm_flags(std::uint64_t addr, vm_flags_t flags) {
    const std::uint64_t page = (addr - m.window_start()) >> geo().page_shift;
    if (vm_flags_of_page_.size() <= page)
        vm_flags_of_page_.resize(nr_pages(), vma.vm_flags);
    vm_flags_of_page_[page] = flags;
}

/// arch/arm64/mm/mmap.c protection_map[], private entries.
pgprot_t world::vm_page_prot(std::uint64_t addr) const {
    const vm_flags_t f = vm_flags_at(addr);
    if ((f & (VM_READ | VM_WRITE | VM_EXEC)) == 0)
        return PAGE_NONE;
    return (f & VM_EXEC) != 0 ? PAGE_READONLY_EXEC : PAGE_READONLY;
}

pte_t world::maybe_mkwrite(pte_t pte, std::uint64_t addr) const {
    return (vm_flags_at(addr) & VM_WRITE) != 0 ? pte_mkwrite_novma(pte) : pte;
}

void world::rmap_add(pfn_t pfn, std::uint64_t nr) {
    const folio *f = m.pfn_folio(pfn);
    if (f == nullptr)
        return;
    (f->anon ? m.mm.rss.anon : m.mm.rss.file) += static_cast<long>(nr);
    for (std::uint64_t i = 0; i < nr; ++i)
        ++mapcount(pfn + i);
}

void world::child_map(pte_t pte, std::uint64_t nr) {
    if (pte_special(pte))
        return;
    if (m.pfn_folio(pte_pfn(pte)) != nullptr)
        for (std::uint64_t i = 0; i < nr; ++i)
            ++mapcount(pte_pfn(pte) + i);
    m.child_map(pte, nr);
}

int world::child_unmap(pfn_t pfn) {
    const int n = m.child_unmap(pfn);
    mapcount(pfn) -= n;
    return n;
}

void world::child_move(pfn_t from, pfn_t to) {
    const int n = m.child_move(from, to);
    mapcount(from) -= n;
    mapcount(to) += n;
}

void world::rmap_remove(pfn_t pfn, std::uint64_t nr) {
    const folio *f = m.pfn_folio(pfn);
    if (f == nullptr)
        return;
    (f->anon ? m.mm.rss.anon : m.mm.rss.file) -= static_cast<long>(nr);
    for (std::uint64_t i = 0; i < nr; ++i)
        --mapcount(pfn + i);
}

spinlock_t world::ptl(std::uint64_t addr) const {
    const auto t = m.live_table_for(addr);
    return t ? m.pte_lockptr(*t) : m.pmd_lockptr();
}

} // namespace mmfuzz
