#include "oracle/check.hpp"
#include "oracle/entry_cursor.hpp"
#include "pgtable/format.hpp"

#include "oracle/view.hpp"
#include "pgtable/softleaf.hpp"

#include <algorithm>
#include <bit>
#include <numeric>
#include <span>
#include <utility>

namespace mmfuzz {

namespace {

finding make(std::string id, std::string detail, std::vector<std::uint64_t> pages = {}) {
    return {std::move(id), std::move(detail), std::move(pages)};
}

/// Whether young/dirty fall outside the interval (the cheap test before a report is built).
bool ad_violated(pte_t seen, const ad_interval &iv) {
    const ad_bits a = ad_of(seen);
    return (iv.must.dirty && !a.dirty) || (a.dirty && !iv.may.dirty) ||
           (iv.must.young && !a.young) || (a.young && !iv.may.young);
}

/// Whether any entry of the run is valid with PTE_CONT: one pass without early exit, which
/// vectorizes (most blocks have none).
bool any_valid_cont(std::span<const pte_t> run) {
    static_assert(PTE_VALID == 1, "PTE_CONT is shifted onto PTE_VALID");
    constexpr int cont_shift = std::countr_zero(PTE_CONT);
    pteval_t hit = 0;
    for (const pte_t p : run)
        hit |= pte_val(p) & (pte_val(p) >> cont_shift);
    return (hit & PTE_VALID) != 0;
}

/// PTE_CONT on a present entry (in a software leaf, bit 52 is part of the offset).
bool leaks_cont(pte_t p) {
    return pte_present(p) && pte_cont(p);
}

} // namespace

checker::checker(world &ref, world &opt) : spec(ref.nr_pages()), ref_(ref), opt_(opt) {}

std::optional<finding> checker::check_ad(const std::string &where, pte_t seen,
                                         const ad_interval &iv, std::uint64_t page) {
    const ad_bits a = ad_of(seen);
    if (iv.must.dirty && !a.dirty)
        return make("DIRTY_LOSS", where + " shows clean, but the page is known dirty", {page});
    if (a.dirty && !iv.may.dirty)
        return make("EQUIV", where + " shows dirty, which no write or legal spread explains",
                    {page});
    if (iv.must.young && !a.young)
        return make("EQUIV", where + " shows old, but the page is known young", {page});
    if (a.young && !iv.may.young)
        return make("EQUIV", where + " shows young, which no access or legal spread explains",
                    {page});
    return std::nullopt;
}

std::optional<finding> checker::check_result(std::string_view what, pte_t r, pte_t o,
                                             const ad_interval &iv, std::uint64_t page) {
    if (leaks_cont(r) || leaks_cont(o))
        return make("CONT_LEAK", std::string(what) + " returned PTE_CONT to core code", {page});
    if (exact_part(r) != exact_part(o))
        return make("EQUIV", std::string(what) + " returned different entries", {page});
    if (!pte_present(r))
        return std::nullopt;
    for (const auto &[w, seen] : {std::pair{&ref_, r}, std::pair{&opt_, o}})
        if (ad_violated(seen, iv))
            return check_ad(std::string(what) + " (" + std::string(w->ops->name()) + ")", seen, iv,
                            page);
    return std::nullopt;
}

std::optional<finding> checker::check_leaf(world &w, std::uint64_t page, pte_t raw) {
    const std::string who(w.ops->name());
    if (pte_present(raw) || (pte_val(raw) & PTE_TABLE_BIT) != 0)
        return make("SOFTLEAF_NOT_VALID",
                    who + " holds " + describe_pte(raw) + " where a software leaf belongs", {page});
    const pteval_t flags = pte_val(raw) & (PTE_SWP_EXCLUSIVE | PTE_SWP_UFFD_WP);
    if (pte_val(softleaf_to_pte(softleaf_from_pte(raw))) + flags != pte_val(raw))
        return make("SOFTLEAF_ROUNDTRIP",
                    who + " entry " + describe_pte(raw) + " does not re-encode to itself", {page});
    return std::nullopt;
}

namespace {

/// Which of the uffd-wp bit and the swap-exclusive flag of `seen` differs from what the op
/// stream gave the page, if one does.
enum class flag_mismatch : std::uint8_t { none, uffd_wp, exclusive };

flag_mismatch flags_differ(const ad_spec &spec, std::uint64_t page, pte_t seen) {
    const bool leaf = !pte_none(seen) && !pte_present(seen);
    const flag_expect wp = spec.expected_uffd_wp(page);
    if (wp != flag_expect::unknown &&
        (pte_present(seen) ? pte_uffd_wp(seen) : leaf && pte_swp_uffd_wp(seen)) !=
            (wp == flag_expect::set))
        return flag_mismatch::uffd_wp;
    const flag_expect ex = spec.expected_exclusive(page);
    if (leaf && ex != flag_expect::unknown && pte_swp_exclusive(seen) != (ex == flag_expect::set))
        return flag_mismatch::exclusive;
    return flag_mismatch::none;
}

} // namespace

std::optional<finding> checker::check_flags(std::uint64_t page, pte_t seen) const {
    switch (flags_differ(spec, page, seen)) {
    // A mismatch means the entry has the flag exactly when the op stream cleared it.
    case flag_mismatch::uffd_wp:
        return make("SOFTLEAF_ROUNDTRIP",
                    describe_pte(seen) +
                        (spec.expected_uffd_wp(page) == flag_expect::clear
                             ? " is uffd-wp, which the op stream never made it"
                             : " lost the uffd-wp bit the op stream gave the page"),
                    {page});
    case flag_mismatch::exclusive:
        return make("SOFTLEAF_ROUNDTRIP",
                    describe_pte(seen) + (spec.expected_exclusive(page) == flag_expect::clear
                                              ? " is exclusive, which the op stream never made it"
                                              : " lost the exclusive flag of an exclusive page"),
                    {page});
    case flag_mismatch::none:
        break;
    }
    return std::nullopt;
}

std::optional<finding> checker::check_pages(const std::vector<std::uint64_t> &pages) {
    entry_cursor ca(ref_);
    entry_cursor cb(opt_);
    for (const std::uint64_t page : pages) {
        const auto a = ca.api(page);
        const auto b = cb.api(page);
        if (a.has_value() != b.has_value())
            return make("EQUIV", "one world has a page table here and the other not", {page});
        if (!a)
            continue;
        if (leaks_cont(*a) || leaks_cont(*b))
            return make("CONT_LEAK", "ptep_get returned PTE_CONT to core code", {page});
        if (exact_part(*a) != exact_part(*b))
            return make("EQUIV", "the worlds show different entries", {page});
        if (flags_differ(spec, page, *a) != flag_mismatch::none)
            return check_flags(page, *a);
        if (pte_present(*a)) {
            const ad_interval &iv = spec.at(page);
            for (const auto &[w, seen] : {std::pair{&ref_, *a}, std::pair{&opt_, *b}})
                if (ad_violated(seen, iv))
                    return check_ad("ptep_get in " + std::string(w->ops->name()), seen, iv, page);
        } else if (!pte_none(*a)) {
            if (auto f = check_leaf(ref_, page, *ca.raw(page)))
                return f;
            if (auto f = check_leaf(opt_, page, *cb.raw(page)))
                return f;
        }
    }
    return std::nullopt;
}

std::optional<finding> checker::check_block(std::uint64_t first, std::span<const pte_t> run) {
    const std::uint64_t n = run.size();
    const pte_t head = run[0];
    const folio *f = opt_.m.pfn_folio(pte_pfn(head));
    const pte_t norm = pte_normal_form(pte_mknoncont(head));
    const bool aligned = pte_pfn(head) % n == 0;
    // A special entry has no folio to keep to (foldable() says why); equal normal forms make
    // every entry of the block special with the head.
    const bool any_folio = pte_special(head);
    for (std::uint64_t i = 0; i < n; ++i) {
        const pte_t p = run[i];
        if (pte_valid_cont(p) && aligned && pte_pfn(p) == pte_pfn(head) + i &&
            (any_folio || (f != nullptr && f->contains(pte_pfn(p)))) &&
            pte_normal_form(pte_mknoncont(p)) == pte_advance_pfn(norm, i))
            continue;
        std::vector<std::uint64_t> block(n);
        std::iota(block.begin(), block.end(), first);
        return make("CONT_BLOCK",
                    "entry " + std::to_string(i) + " of a block with PTE_CONT is " +
                        describe_pte(p),
                    std::move(block));
    }
    return std::nullopt;
}

std::optional<finding> checker::check_blocks(const std::vector<std::uint64_t> &pages) {
    const std::uint64_t n = opt_.geo().cont_ptes();
    entry_cursor cur(opt_);
    std::uint64_t last = ~std::uint64_t{0};
    for (const std::uint64_t page : pages) {
        const std::uint64_t first = block_of(page);
        if (first == last)
            continue;
        last = first;
        const auto run = cur.raw_run(first, n);
        if (!any_valid_cont(run))
            continue;
        if (auto f = check_block(first, run))
            return f;
    }
    return std::nullopt;
}

std::optional<finding> checker::check_cont_blocks(const std::vector<std::uint64_t> &blocks) {
    const std::uint64_t n = opt_.geo().cont_ptes();
    entry_cursor cur(opt_);
    for (const std::uint64_t first : blocks)
        if (auto f = check_block(first, cur.raw_run(first, n)))
            return f;
    return std::nullopt;
}

std::optional<finding> checker::check_pmds(const std::vector<std::size_t> &pmds) {
    const geometry &g = ref_.geo();
    for (const std::size_t i : pmds) {
        const pmd_t a = ref_.m.peek_pmd(i);
        const pmd_t b = opt_.m.peek_pmd(i);
        const std::uint64_t first = i * g.ptrs_per_pte();
        if (a != b)
            return make("EQUIV", "PMD " + std::to_string(i) + " differs", {first});
        for (world *w : {&ref_, &opt_}) {
            const pmd_t p = w->m.peek_pmd(i);
            const std::string who(w->ops->name());
            if (pmd_none(p))
                continue;
            if (pmd_table(p)) {
                if (!w->m.is_table_page(pmd_pfn(p)))
                    return make("PMD_WELLFORMED", who + " PMD points at a non-table page", {first});
                continue;
            }
            if (pmd_present(p)) {
                const folio *f = w->m.pfn_folio(pmd_pfn(p));
                if (pmd_pfn(p) % g.ptrs_per_pte() != 0 || f == nullptr || f->order != g.pmd_order())
                    return make("PMD_WELLFORMED", who + " PMD leaf does not map a PMD-order folio",
                                {first});
                continue;
            }
            if (!pmd_is_valid_softleaf(p))
                return make("PMD_WELLFORMED",
                            who + " PMD holds a softleaf other than migration/device-private",
                            {first});
        }
    }
    return std::nullopt;
}

std::optional<finding> checker::check_monitors() {
    for (world *w : {&ref_, &opt_}) {
        if (w->m.violations().empty())
            continue;
        const violation &v = w->m.violations().front();
        return make(v.id, std::string(w->ops->name()) + ": " + v.detail);
    }
    return std::nullopt;
}

void checker::touched(std::uint64_t first, std::uint64_t nr, bool whole_blocks,
                      const std::vector<std::uint64_t> &also, touched_set &out) {
    const std::uint64_t n = ref_.geo().cont_ptes();
    const std::uint64_t total = ref_.nr_pages();
    out.written.clear();
    out.pages.clear();
    out.cont_blocks.clear();
    out.pmds.clear();
    for (std::uint64_t p = first; p < first + nr && p < total; ++p)
        out.written.push_back(p);
    // Most pages fall in the op's range, or repeat the last page: no sort needed then.
    const auto add = [&](std::uint64_t page) {
        if ((page < first || page >= first + nr) &&
            (out.written.empty() || out.written.back() != page))
            out.written.push_back(page);
    };
    for (const world *w : {&ref_, &opt_}) {
        for_each_write(
            *w, [&](const pgtable_write &wr) { out.pmds.push_back(wr.index); },
            [&](const pgtable_write &, std::uint64_t page) { add(page); });
    }
    for (const std::uint64_t page : also)
        add(page);
    if (!std::is_sorted(out.written.begin(), out.written.end())) {
        // Out of order after a flow that wrote thousands of entries in each world: sort through
        // a bitmap of the window, which also drops the repeats.
        std::vector<std::uint64_t> &bits = page_bits_;
        bits.resize((total + 63) / 64);
        for (const std::uint64_t p : out.written)
            bits[p / 64] |= std::uint64_t{1} << (p % 64);
        out.written.clear();
        for (std::size_t w = 0; w < bits.size(); ++w) {
            for (std::uint64_t word = bits[w]; word != 0; word &= word - 1)
                out.written.push_back(w * 64 + static_cast<unsigned>(std::countr_zero(word)));
            bits[w] = 0;
        }
    }
    // Strictly ascending now: the range is, writes inside it and repeats of the last page were
    // left out, and an out-of-order list went through the bitmap.
    entry_cursor ca(ref_);
    entry_cursor cb(opt_);
    const auto cont_in = [&](entry_cursor &cur, std::uint64_t b) {
        return any_valid_cont(cur.raw_run(b, n));
    };
    std::uint64_t last = ~std::uint64_t{0};
    bool whole = false;
    for (const std::uint64_t page : out.written) {
        const std::uint64_t b = block_of(page);
        if (b != last) {
            last = b;
            const bool opt_cont = cont_in(cb, b);
            if (opt_cont)
                out.cont_blocks.push_back(b);
            whole = whole_blocks || opt_cont || cont_in(ca, b);
            if (whole) {
                const std::size_t at = out.pages.size();
                out.pages.resize(at + std::min(n, total - b));
                std::iota(out.pages.begin() + static_cast<std::ptrdiff_t>(at), out.pages.end(), b);
            }
        }
        if (!whole)
            out.pages.push_back(page);
    }
    std::sort(out.pmds.begin(), out.pmds.end());
    out.pmds.erase(std::unique(out.pmds.begin(), out.pmds.end()), out.pmds.end());
}

namespace {

/// Whether the block's raw entries `run` (of the reference world) could be folded: CONT_BLOCK's
/// rule, young and dirty aside.
checker::foldability foldable_run(world &ref, std::span<const pte_t> run) {
    const std::uint64_t n = ref.geo().cont_ptes();
    if (run.size() != n)
        return {};
    const pte_t head = run[0];
    if (!pte_present(head) || pte_pfn(head) % n != 0)
        return {};
    if (!pte_special(head)) {
        const folio *f = ref.m.pfn_folio(pte_pfn(head));
        if (f == nullptr || !f->contains(pte_pfn(head) + n - 1))
            return {};
    }
    bool valid = pte_valid(head);
    const pte_t norm = pte_normal_form(pte_mknoncont(head));
    for (std::uint64_t i = 1; i < n; ++i) {
        const pte_t p = run[i];
        if (!pte_present(p) || pte_normal_form(pte_mknoncont(p)) != pte_advance_pfn(norm, i))
            return {};
        valid = valid && pte_valid(p);
    }
    return {valid, true};
}

/// checker::foldable() with the caller's cursor on the reference world. It reads the raw
/// entries: a view differs from them only in young/dirty and PTE_CONT, which it ignores.
checker::foldability foldable_at(world &ref, entry_cursor &cur, std::uint64_t first) {
    return foldable_run(ref, cur.raw_run(first, ref.geo().cont_ptes()));
}

} // namespace

checker::foldability checker::foldable(std::uint64_t first) {
    entry_cursor cur(ref_);
    return foldable_at(ref_, cur, first);
}

std::optional<finding> checker::check_young_result(std::string_view what, std::uint64_t first,
                                                   std::uint64_t nr, bool ref_young,
                                                   bool opt_young) {
    const ad_interval iv = young_result_interval(first, nr);
    for (const bool r : {ref_young, opt_young}) {
        if (iv.must.young && !r)
            return make("EQUIV", std::string(what) + " returned 0 over a young page", {first});
        if (!iv.may.young && r)
            return make("EQUIV", std::string(what) + " returned 1 where nothing could be young",
                        {first});
    }
    return std::nullopt;
}

ad_interval checker::young_result_interval(std::uint64_t first, std::uint64_t nr) const {
    ad_interval iv = spec.gather(first, nr);
    const std::uint64_t n = ref_.geo().cont_ptes();
    for (const std::uint64_t edge : {first, first + nr - 1}) {
        if (!spec.cont_maybe(edge))
            continue;
        iv.may.young |= spec.gather(block_of(edge), n).may.young;
    }
    return iv;
}

void checker::young_cleared(std::uint64_t first, std::uint64_t nr) {
    const std::uint64_t n = ref_.geo().cont_ptes();
    for (std::uint64_t p = first; p < first + nr; ++p) {
        spec.clear_young(p);
        spec.mark_stale_old(p);
    }
    for (const std::uint64_t edge : {block_of(first), block_of(first + nr - 1)}) {
        if (!foldable(edge).present && !spec.cont_maybe(first) && !spec.cont_maybe(first + nr - 1))
            continue;
        for (std::uint64_t q = edge; q < edge + n; ++q) {
            spec.relax_young(q);
            spec.mark_stale_old(q);
        }
    }
}

void checker::spread_at_write(std::size_t end) {
    const std::uint64_t n = ref_.geo().cont_ptes();
    const auto &log = ref_.m.write_log();
    const auto page_of = [&](const pgtable_write &wr) -> std::optional<std::uint64_t> {
        const auto va = ref_.m.table_va({wr.table});
        if (wr.level != pt_level::pte || !va)
            return std::nullopt;
        return ((*va - ref_.m.window_start()) >> ref_.geo().page_shift) + wr.index;
    };
    std::vector<std::uint64_t> blocks;
    for (std::size_t i = 0; i < std::min(end, log.size()); ++i)
        if (const auto p = page_of(log[i]))
            blocks.push_back(block_of(*p));
    std::sort(blocks.begin(), blocks.end());
    blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
    entry_cursor cur(ref_);
    std::vector<pte_t> run;
    for (const std::uint64_t b : blocks) {
        const auto now = cur.raw_run(b, n);
        run.assign(now.begin(), now.end());
        if (run.empty())
            continue;
        // Undo the later writes, newest first.
        for (std::size_t i = log.size(); i-- > end;)
            if (const auto p = page_of(log[i]); p && *p >= b && *p < b + n)
                run[*p - b] = pte_t{log[i].old_val};
        if (foldable_run(ref_, run).valid)
            spec.spread(b, n);
    }
}

void checker::spread(const std::vector<std::uint64_t> &pages) {
    const std::uint64_t n = ref_.geo().cont_ptes();
    entry_cursor cur(ref_);
    std::uint64_t last = ~std::uint64_t{0};
    for (const std::uint64_t page : pages) {
        const std::uint64_t b = block_of(page);
        if (b == last)
            continue;
        last = b;
        const foldability f = foldable_at(ref_, cur, b);
        if (f.valid)
            spec.spread(b, n);
        if (f.present)
            for (std::uint64_t q = b; q < b + n; ++q)
                spec.mark_cont_maybe(q);
    }
}

} // namespace mmfuzz
