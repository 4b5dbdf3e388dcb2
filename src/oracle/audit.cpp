// The end-of-program audit and the CONTENT checks against the ideal memory.
#include "oracle/check.hpp"
#include "oracle/entry_cursor.hpp"
#include "pgtable/format.hpp"
#include "pgtable/softleaf.hpp"

#include <bit>
#include <utility>

namespace mmfuzz {

namespace {

/// The value core code would read at a page of w, if the page holds data: the frame a present
/// entry or a PMD leaf maps, or the swap slot of a swap entry of the core swap device.
std::optional<std::uint64_t> stored_value(const world &w, entry_cursor &cur, std::uint64_t page) {
    const pmd_t pmd = cur.pmd(page);
    if (pmd_leaf(pmd) && pmd_present(pmd))
        return w.m.page(pmd_pfn(pmd) + (page & (w.geo().ptrs_per_pte() - 1))).content;
    // The raw entry names the same frame or slot as the view (PTE_CONT changes neither), and
    // costs no gathering.
    const auto pte = cur.raw(page);
    if (!pte || pte_none(*pte))
        return std::nullopt;
    if (pte_present(*pte))
        return w.m.page(pte_pfn(*pte)).content;
    const softleaf_t e = softleaf_from_pte(*pte);
    if (softleaf_is_swap(e) && swp_type(e) == core_swap_type && swp_offset(e) < w.swap_slots.size())
        return w.swap_slots[swp_offset(e)].content;
    return std::nullopt;
}

/// What the ideal memory allows at a page, for a report.
std::string expected(const ideal_page &p) {
    return p.any ? std::string("anything")
                 : hex(p.value) + (p.discardable ? " (or 0: lazy-free)" : "");
}

} // namespace

std::optional<finding> checker::check_read(const content_spec &content, std::uint64_t page,
                                           std::uint64_t value, std::string_view what) {
    if (content.allows(page, value))
        return std::nullopt;
    return finding{"CONTENT",
                   std::string(what) + " read " + hex(value) + ", expected " +
                       expected(content.at(page)),
                   {page}};
}

std::optional<finding> checker::check_content(const content_spec &content,
                                              const std::vector<std::uint64_t> &pages) {
    entry_cursor ca(ref_);
    entry_cursor cb(opt_);
    for (const std::uint64_t page : pages) {
        for (auto [w, cur] : {std::pair{&ref_, &ca}, std::pair{&opt_, &cb}}) {
            const auto v = stored_value(*w, *cur, page);
            if (v && !content.allows(page, *v))
                return finding{"CONTENT",
                               std::string(w->ops->name()) + " holds " + hex(*v) +
                                   " for this page, expected " + expected(content.at(page)),
                               {page}};
        }
    }
    return std::nullopt;
}

std::optional<finding> checker::audit(const content_spec *content) {
    // Every page either world maps (an entry that is none in both raw tables shows none).
    std::vector<std::uint64_t> &all = audit_pages_;
    all.clear();
    all.reserve(ref_.nr_pages());
    const std::size_t per = ref_.geo().ptrs_per_pte();
    for (std::size_t i = 0; i < ref_.m.options().window_pmds; ++i) {
        const auto ta = ref_.m.live_table_for(ref_.page_va(i * per));
        const auto tb = opt_.m.live_table_for(opt_.page_va(i * per));
        if (!ta && !tb)
            continue;
        // A world without a table reads as the other: the test is one OR per entry.
        const auto ea = ta ? ref_.m.peek_table(*ta) : opt_.m.peek_table(*tb);
        const auto eb = tb ? opt_.m.peek_table(*tb) : ea;
        // Most of a table is none: runs of 64 none entries are skipped after an OR over them,
        // which vectorizes.
        constexpr std::size_t run = 64;
        for (std::size_t k = 0; k < per; k += run) {
            const pte_t *a = ea.data() + k;
            const pte_t *b = eb.data() + k;
            pteval_t any = 0;
            for (std::size_t j = 0; j < run; ++j)
                any |= pte_val(a[j]) | pte_val(b[j]);
            if (any == 0)
                continue;
            // A run with entries: one bit per entry, then the set bits in order, without a
            // branch per entry.
            std::uint64_t used = 0;
            for (std::size_t j = 0; j < run; ++j)
                used |= std::uint64_t{(pte_val(a[j]) | pte_val(b[j])) != 0} << j;
            for (; used != 0; used &= used - 1)
                all.push_back(i * per + k + static_cast<unsigned>(std::countr_zero(used)));
        }
    }
    if (auto f = check_pages(all))
        return f;
    if (auto f = check_blocks(all))
        return f;
    if (content != nullptr) {
        // Pages that hold data: a non-none entry in either world, or under a PMD leaf.
        if (auto f = check_content(*content, all))
            return f;
        for (std::size_t i = 0; i < ref_.m.options().window_pmds; ++i) {
            if (!pmd_leaf(ref_.m.peek_pmd(i)) && !pmd_leaf(opt_.m.peek_pmd(i)))
                continue;
            std::vector<std::uint64_t> huge(per);
            for (std::size_t k = 0; k < per; ++k)
                huge[k] = i * per + k;
            if (auto f = check_content(*content, huge))
                return f;
        }
    }
    std::vector<std::size_t> pmds(ref_.m.options().window_pmds);
    for (std::size_t i = 0; i < pmds.size(); ++i)
        pmds[i] = i;
    if (auto f = check_pmds(pmds))
        return f;
    // page_table_check recount and RSS, from each world's raw tables.
    for (world *w : {&ref_, &opt_}) {
        const std::string who(w->ops->name());
        entry_cursor cur(*w);
        const pfn_t base = w->m.first_data_pfn();
        std::vector<int> &counts = audit_counts_;
        counts.assign(w->m.frames_in_use(), 0);
        rss_stat rss;
        for (const std::uint64_t page : all) {
            const auto raw = cur.raw(page);
            if (!raw || pte_none(*raw))
                continue;
            if (!pte_present(*raw)) {
                rss.swap += softleaf_is_swap(softleaf_from_pte(*raw)) ? 1 : 0;
                continue;
            }
            const folio *f = w->m.pfn_folio(pte_pfn(*raw));
            if (f == nullptr)
                continue;
            (f->anon ? rss.anon : rss.file) += 1;
            if (pte_valid(*raw) && (pte_user(*raw) || pte_user_exec(*raw)) && !pte_special(*raw))
                ++counts[pte_pfn(*raw) - base];
        }
        for (std::size_t i = 0; i < w->m.options().window_pmds; ++i) {
            const pmd_t p = w->m.peek_pmd(i);
            if (!pmd_leaf(p))
                continue;
            const folio *f = w->m.pfn_folio(pmd_pfn(p));
            if (f == nullptr)
                continue;
            (f->anon ? rss.anon : rss.file) += static_cast<long>(f->nr_pages());
            if (pmd_valid(p) && pte_user(pmd_pte(p)))
                for (std::uint64_t k = 0; k < f->nr_pages(); ++k)
                    ++counts[pmd_pfn(p) + k - base];
        }
        if (rss != w->m.mm.rss)
            return finding{"RSS",
                           who + " counters anon/file/swap " + std::to_string(w->m.mm.rss.anon) +
                               "/" + std::to_string(w->m.mm.rss.file) + "/" +
                               std::to_string(w->m.mm.rss.swap) + " but the table maps " +
                               std::to_string(rss.anon) + "/" + std::to_string(rss.file) + "/" +
                               std::to_string(rss.swap),
                           {}};
        // Counters change only for frames of folios (page_table_check skips the rest), and a
        // folio is checked for zero counts when freed: the live folios are all there is to see.
        for (const folio *f : w->folios) {
            const auto states = std::as_const(w->m).pages(f->pfn, f->nr_pages());
            const int *seen = counts.data() + (f->pfn - base);
            // What the children of fork() map is counted too, in their own tables.
            const auto mapped = [&](std::size_t k) {
                return states[k].anon_map_count + states[k].file_map_count -
                       states[k].child_ptc_count;
            };
            // One pass without a branch per page; the page is looked for only on a mismatch.
            int differ = 0;
            for (std::size_t k = 0; k < states.size(); ++k)
                differ |= mapped(k) ^ seen[k];
            if (differ == 0) [[likely]]
                continue;
            for (std::size_t k = 0; k < states.size(); ++k)
                if (mapped(k) != seen[k])
                    return finding{"MAPCOUNT",
                                   who + " page " + hex(f->pfn + k) + " counted " +
                                       std::to_string(mapped(k)) + " mappings but the table has " +
                                       std::to_string(seen[k]),
                                   {}};
        }
        // The swap entries of fork() children name their slots for good: each slot keeps the
        // data the child's swap-in will read.
        for (std::size_t off = 0; off < w->swap_slots.size(); ++off) {
            const swap_slot &s = w->swap_slots[off];
            if (s.child_refs != 0 && !s.content) [[unlikely]]
                return finding{"COW",
                               who + " freed swap slot " + hex(off) + ", which " +
                                   std::to_string(s.child_refs) +
                                   " swap entries of fork() children still name",
                               {}};
        }
    }
    return std::nullopt;
}

} // namespace mmfuzz
