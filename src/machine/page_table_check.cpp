// The page_table_check counters (mm/page_table_check.c) and the mappings fork() children hold.
#include "machine/machine.hpp"

#include "pgtable/format.hpp"
#include "pgtable/softleaf.hpp"

#include <string>
#include <utility>

namespace mmfuzz {

namespace {
/// pte_user_accessible_page() on arm64: valid and user readable or executable.
bool user_accessible(pte_t pte) {
    return pte_valid(pte) && (pte_user(pte) || pte_user_exec(pte));
}
} // namespace

/// Whether page_table_check counts the frame as anonymous (PageAnon()): a frame no folio owns
/// is counted too, as a file page, so a mapping left on a freed frame shows at its next
/// allocation (__page_table_check_zero(), mm/page_table_check.c).
bool machine::ptc_anon(pfn_t pfn) const {
    const folio *f = pfn_folio(pfn);
    return f != nullptr && f->anon;
}

void machine::ptc_clear_pages(pte_t pte, std::uint64_t nr) {
    if (!user_accessible(pte) || pte_special(pte))
        return;
    for (std::uint64_t i = 0; i < nr; ++i) {
        const pfn_t pfn = pte_pfn(pte) + i;
        if (!pfn_valid(pfn))
            continue;
        const bool anon = ptc_anon(pfn);
        page_state &ps = page(pfn);
        int &mine = anon ? ps.anon_map_count : ps.file_map_count;
        const int other = anon ? ps.file_map_count : ps.anon_map_count;
        if (other != 0 || --mine < 0)
            report("MAPCOUNT", "clearing a mapping of page " + hex(pfn) + " left counts " +
                                   std::to_string(ps.anon_map_count) + "/" +
                                   std::to_string(ps.file_map_count));
    }
}

void machine::ptc_set_pages(pte_t pte, std::uint64_t nr) {
    if (!user_accessible(pte) || pte_special(pte))
        return;
    for (std::uint64_t i = 0; i < nr; ++i) {
        const pfn_t pfn = pte_pfn(pte) + i;
        if (!pfn_valid(pfn))
            continue;
        const bool anon = ptc_anon(pfn);
        page_state &ps = page(pfn);
        if (anon) {
            if (ps.file_map_count != 0 || (++ps.anon_map_count > 1 && pte_write(pte)))
                report("MAPCOUNT", "writable anon mapping of page " + hex(pfn) +
                                       " that is mapped " + std::to_string(ps.anon_map_count) +
                                       " times");
        } else if (ps.anon_map_count != 0 || ++ps.file_map_count < 0) {
            report("MAPCOUNT", "file mapping of anon-counted page " + hex(pfn));
        }
    }
}

void machine::ptc_check_flags(pte_t pte) {
    if (pte_present(pte) && pte_uffd_wp(pte) && pte_write(pte))
        report("MAPCOUNT", "present entry " + hex(pte.pte) + " is both uffd-wp and writable");
    if (pte_is_softleaf(pte) && pte_swp_uffd_wp(pte)) {
        const softleaf_t e = softleaf_from_pte(pte);
        if (softleaf_is_migration_write(e) || softleaf_is_device_private_write(e))
            report("MAPCOUNT", "uffd-wp swap entry " + hex(pte.pte) + " is a writable entry");
    }
}

void machine::page_table_check_pte_clear(const mm_struct *m, pte_t pte) {
    if (m->is_kernel)
        return;
    ptc_clear_pages(pte, 1);
}

void machine::page_table_check_ptes_set(const mm_struct *m, hw_ptep ptep, pte_t pte, unsigned nr) {
    if (m->is_kernel)
        return;
    ptc_check_flags(pte);
    for (unsigned i = 0; i < nr; ++i)
        ptc_clear_pages(read(hw_pte_add(ptep, i)), 1);
    ptc_set_pages(pte, nr);
}

void machine::page_table_check_ptes_set(const mm_struct *m, staged_ptep ptep, pte_t pte,
                                        unsigned nr) {
    if (m->is_kernel)
        return;
    ptc_check_flags(pte);
    for (unsigned i = 0; i < nr; ++i)
        ptc_clear_pages(read(staged_pte_add(ptep, i)), 1);
    ptc_set_pages(pte, nr);
}

void machine::page_table_check_pmd_clear(const mm_struct *m, pmd_t pmd) {
    if (m->is_kernel || !pmd_leaf(pmd))
        return;
    ptc_clear_pages(pmd_pte(pmd), geo_.ptrs_per_pte());
}

/// __page_table_check_pmds_set() (mm/page_table_check.c): the flags check of
/// page_table_check_pmd_flags(), the rules of the PTE one on a PMD's bits, then the counts.
void machine::page_table_check_pmd_set(const mm_struct *m, hw_pmdp pmdp, pmd_t pmd) {
    if (m->is_kernel)
        return;
    ptc_check_flags(pmd_pte(pmd));
    page_table_check_pmd_clear(m, read(pmdp));
    if (pmd_leaf(pmd))
        ptc_set_pages(pmd_pte(pmd), geo_.ptrs_per_pte());
}

void machine::child_map(pte_t pte, std::uint64_t nr) {
    if (pte_special(pte))
        return; // vm_normal_page() is NULL: no rmap, no page_table_check
    ptc_set_pages(pte, nr);
    const bool counted = user_accessible(pte);
    for (std::uint64_t i = 0; i < nr; ++i) {
        const pfn_t pfn = pte_pfn(pte) + i;
        if (!pfn_valid(pfn))
            continue;
        page_state &ps = page(pfn);
        ++ps.child_map_count;
        ps.child_ptc_count += counted ? 1 : 0;
    }
}

void machine::child_map_device(pfn_t pfn) {
    if (pfn_valid(pfn))
        ++page(pfn).child_map_count;
}

int machine::child_unmap(pfn_t pfn) {
    if (!pfn_valid(pfn))
        return 0;
    page_state &ps = page(pfn);
    if (ps.child_ptc_count != 0) {
        int &mine = ptc_anon(pfn) ? ps.anon_map_count : ps.file_map_count;
        if ((mine -= ps.child_ptc_count) < 0)
            report("MAPCOUNT", "unmapping a fork child's mappings of page " + hex(pfn) +
                                   " left counts " + std::to_string(ps.anon_map_count) + "/" +
                                   std::to_string(ps.file_map_count));
    }
    ps.child_ptc_count = 0;
    return std::exchange(ps.child_map_count, 0);
}

int machine::child_move(pfn_t from, pfn_t to) {
    if (!pfn_valid(from) || !pfn_valid(to))
        return 0;
    const int counted = page(from).child_ptc_count;
    const int n = child_unmap(from);
    page_state &ps = page(to);
    ps.child_map_count += n;
    ps.child_ptc_count += counted;
    (ptc_anon(to) ? ps.anon_map_count : ps.file_map_count) += counted;
    return n;
}

} // namespace mmfuzz
