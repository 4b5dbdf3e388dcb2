#include "program/runner.hpp"
#include "pgtable/format.hpp"

#include "core/world.hpp"
#include "oracle/check.hpp"
#include "oracle/invariants.hpp"
#include "oracle/view.hpp"
#include "program/apply.hpp"
#include "program/codec.hpp"
#include "program/flow.hpp"
#include "program/legalize.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace mmfuzz {

namespace {

/// Whether the known finding `entry` ("INVARIANT op [words]") names a violation with this
/// "INVARIANT op" key and detail: the key, and the words, if any, found in the detail.
bool known_matches(const std::string &entry, const std::string &key, const std::string &detail) {
    if (entry.compare(0, key.size(), key) != 0)
        return false;
    if (entry.size() == key.size())
        return true;
    return entry[key.size()] == ' ' &&
           detail.find(entry.c_str() + key.size() + 1) != std::string::npos;
}

std::string describe_result(const op_result &r) {
    switch (r.kind) {
    case result_kind::pte:
        return describe_pte(r.pte);
    case result_kind::boolean:
        return r.flag ? "1" : "0";
    case result_kind::access: {
        std::string s = r.fault == 0 ? "ok value=" + hex(r.value)
                                     : std::string("fault ") + hw_fault_name(r.fault);
        if (r.flag) // handle_mm_fault() ran
            s += " " + describe_faults(r);
        return s;
    }
    case result_kind::folio:
        return r.failed ? "no memory" : "ok";
    default:
        return "";
    }
}

/// One run: two worlds, the checker, and the report builder.
class session {
  public:
    session(const program &p, const run_options &o)
        : prog_(p), opts_(o), ref_(o.reference, p.header.options),
          opt_(o.optimized, p.header.options) {
        if (o.oracle)
            orc_ = std::make_unique<oracle_state>(ref_, opt_);
        if (o.inject.empty())
            return;
        const auto c = canary_from_name(o.inject);
        if (!c)
            throw std::invalid_argument("unknown canary '" + o.inject + "'");
        for (const canary_info &i : canaries()) {
            if (i.id != *c)
                continue;
            opt_.ops->canaries.enable(*c);
            opt_.canaries.enable(*c);
            if (i.in_core)
                ref_.canaries.enable(*c);
        }
    }

    run_result run();

  private:
    std::optional<finding> step(const op &o, const op_result &a, const op_result &b);
    /// The pages an op names (op_range()), worked out once per op.
    using page_range = std::pair<std::uint64_t, std::uint64_t>;
    std::optional<finding> check_returns(const op &o, page_range range, const op_result &a,
                                         const op_result &b);
    void update_spec(const op &o, page_range range, const op_result &a, const op_result &b);
    void update_content(const op &o, page_range range, const op_result &a);
    void note_flushes();
    void forget_rewritten_flags();
    std::string report(const finding &f, std::size_t index, const op *o);
    std::string dump();

    const program &prog_;
    const run_options &opts_;
    world ref_;
    world opt_;
    /// The spec, the ideal memory and the checks: built only when the oracle runs, so that the
    /// bare baseline carries none of its cost.
    struct oracle_state {
        oracle_state(world &ref, world &opt)
            : chk(ref, opt), content(ref.nr_pages()), ctx{ref, opt, chk, content} {
            touched.written.reserve(ref.nr_pages());
            touched.pages.reserve(ref.nr_pages());
            touched.pmds.reserve(ref.m.options().window_pmds);
        }
        checker chk;
        content_spec content;
        flow_context ctx;
        checker::touched_set touched; ///< scratch: what an op touched
    };
    std::unique_ptr<oracle_state> orc_;
};

std::optional<finding> session::check_returns(const op &o, page_range range, const op_result &a,
                                              const op_result &b) {
    const auto [first, nr] = range;
    const auto what = std::string_view(desc_of(o.kind).name);
    if (is_flow(o.kind)) {
        const flow_op *f = find_flow(o.kind);
        if (f->check != nullptr)
            return f->check(orc_->ctx, o, a, b);
        if (a.fault != b.fault || a.value != b.value || a.flag != b.flag || a.failed != b.failed ||
            a.detail != b.detail)
            return finding{"EQUIV",
                           std::string(what) + ": " + describe_result(a) + " vs " +
                               describe_result(b),
                           {first}};
        return std::nullopt;
    }
    switch (o.kind) {
    case op_kind::folio_alloc:
        if (a.failed != b.failed)
            return finding{"EQUIV", "folio_alloc succeeded in one world only", {}};
        return std::nullopt;
    case op_kind::ptep_get:
    case op_kind::ptep_get_lockless:
    case op_kind::ptep_get_and_clear:
    case op_kind::get_and_clear_full_ptes:
    case op_kind::modify_prot:
        return orc_->chk.check_result(what, a.pte, b.pte, orc_->chk.spec.gather(first, nr), first);
    case op_kind::ptep_test_and_clear_young:
    case op_kind::ptep_clear_flush_young:
    case op_kind::clear_flush_young_ptes:
        return orc_->chk.check_young_result(what, first, nr, a.flag, b.flag);
    case op_kind::hw_access:
        if (a.fault != b.fault || a.value != b.value)
            return finding{
                "EQUIV", "hw_access: " + describe_result(a) + " vs " + describe_result(b), {first}};
        if (a.fault == 0 && o[slot::arg] == 0)
            return orc_->chk.check_read(orc_->content, first, a.value, "hw_access");
        return std::nullopt;
    default:
        return std::nullopt;
    }
}

/// The ideal memory after a direct call: what it maps, drops or writes.
void session::update_content(const op &o, page_range range, const op_result &a) {
    const auto [first, nr] = range;
    switch (o.kind) {
    case op_kind::set_ptes: {
        const pfn_t pfn = ref_.folios.at(o[slot::folio])->pfn + o[slot::page];
        for (std::uint64_t i = 0; i < nr; ++i)
            orc_->content.mapped(first + i, ref_.m.page(pfn + i).content);
        break;
    }
    case op_kind::set_softleaf: {
        // A device-private or migration entry says the page's data is in the frame it names
        // (migration or a device move back to RAM maps it). That frame may be mapped at another
        // page too, now or later, and written there: the kernel never builds such an alias,
        // the op language can, and the ideal memory does not follow it (content.hpp).
        // Any other leaf replaces the data the entry it overwrites held (a swap entry of the
        // core flows' device): a marker's fault maps a zeroed page, the rest fail or wait.
        const auto kind = static_cast<leaf_kind>(o[slot::arg]);
        if (kind == leaf_kind::device_read || kind == leaf_kind::device_write ||
            kind == leaf_kind::device_exclusive || kind == leaf_kind::migration_read ||
            kind == leaf_kind::migration_read_exclusive || kind == leaf_kind::migration_write)
            orc_->content.untracked(first);
        else
            orc_->content.dropped(first);
        break;
    }
    case op_kind::ptep_get_and_clear:
    case op_kind::pte_clear:
    case op_kind::get_and_clear_full_ptes:
    case op_kind::clear_full_ptes:
        for (std::uint64_t p = first; p < first + nr; ++p)
            orc_->content.dropped(p);
        break;
    case op_kind::hw_access:
        if (a.fault == 0 && o[slot::arg] != 0)
            orc_->content.written(first, o[slot::value]);
        break;
    default:
        break;
    }
}

void session::update_spec(const op &o, page_range range, const op_result &a, const op_result &b) {
    if (is_flow(o.kind)) {
        find_flow(o.kind)->update(orc_->ctx, o, a, b);
        return;
    }
    update_content(o, range, a);
    ad_spec &s = orc_->chk.spec;
    const std::uint64_t first = range.first;
    const std::uint64_t nr = range.second;
    switch (o.kind) {
    case op_kind::ptep_test_and_clear_young:
    case op_kind::ptep_clear_flush_young:
    case op_kind::clear_flush_young_ptes:
    case op_kind::clear_young_dirty_ptes:
    case op_kind::wrprotect_ptes:
    case op_kind::ptep_set_access_flags:
    case op_kind::modify_prot:
        for (std::uint64_t p = first; p < first + nr; ++p)
            s.keep_flags(p); // A/D and protection changes keep uffd-wp
        break;
    default:
        break;
    }
    auto clear_young = [&] { orc_->chk.young_cleared(first, nr); };
    switch (o.kind) {
    case op_kind::set_ptes: {
        const pte_t pte = set_ptes_entry(ref_, o);
        const auto wp = pte_uffd_wp(pte) ? flag_expect::set : flag_expect::clear;
        for (std::uint64_t p = first; p < first + nr; ++p) {
            s.set_exact(p, pte_young(pte), pte_dirty(pte));
            s.expect_flags(p, wp, flag_expect::unknown);
        }
        break;
    }
    case op_kind::set_softleaf: {
        const pte_t pte = softleaf_entry(ref_, o);
        s.clear(first);
        s.expect_flags(first, pte_swp_uffd_wp(pte) ? flag_expect::set : flag_expect::clear,
                       pte_swp_exclusive(pte) ? flag_expect::set : flag_expect::clear);
        break;
    }
    case op_kind::ptep_get_and_clear:
    case op_kind::pte_clear:
    case op_kind::get_and_clear_full_ptes:
    case op_kind::clear_full_ptes:
        for (std::uint64_t p = first; p < first + nr; ++p)
            s.clear(p);
        break;
    case op_kind::ptep_test_and_clear_young:
        clear_young();
        break;
    case op_kind::ptep_clear_flush_young:
    case op_kind::clear_flush_young_ptes: {
        // The flush is part of the contract for every entry the call finds young (mm/rmap.c
        // relies on it so that the next access sets AF again): a page known young has been
        // flushed by both worlds, whatever their flush logs say. Only that page: the generic
        // clear_flush_young_ptes() is ptep_clear_flush_young() on each entry, which flushes
        // an entry only if it was young (mm/pgtable-generic.c), so an entry whose AF an earlier
        // ptep_test_and_clear_young() cleared keeps its stale translation; flushes beyond that
        // (contpte's whole range) count when both flush logs show them (note_flushes()).
        std::vector<std::uint64_t> young;
        if (a.flag && b.flag)
            for (std::uint64_t p = first; p < first + nr; ++p)
                if (s.at(p).must.young)
                    young.push_back(p);
        clear_young();
        for (const std::uint64_t p : young)
            s.flushed(p);
        break;
    }
    case op_kind::clear_young_dirty_ptes:
        if ((o[slot::flags] & CYDPF_YOUNG) != 0)
            clear_young();
        if ((o[slot::flags] & CYDPF_DIRTY) != 0)
            for (std::uint64_t p = first; p < first + nr; ++p)
                s.clear_dirty(p);
        break;
    case op_kind::ptep_set_access_flags: {
        const bool write = (o[slot::flags] & ACCF_WRITE) != 0;
        const bool dirty = write || (o[slot::flags] & ACCF_DIRTY) != 0;
        ad_interval iv = s.at(first);
        iv.must.young = iv.may.young = true;
        if (dirty)
            iv.must.dirty = iv.may.dirty = true;
        s.set(first, iv);
        break;
    }
    case op_kind::modify_prot: {
        const ad_interval g = s.gather(first, nr);
        for (std::uint64_t p = first; p < first + nr; ++p)
            s.set(p, g);
        break;
    }
    case op_kind::hw_access:
        if (a.fault == 0)
            s.accessed(first, o[slot::arg] != 0);
        break;
    default:
        break;
    }
}

/// Entries the reference world's software rewrote in this op, without the op's spec
/// transition setting or keeping their uffd-wp/exclusive expectations, are no longer known
/// (a PMD write: every page under it). Direct ops that rewrite entries but keep the flags
/// (A/D and protection changes) keep them.
void session::forget_rewritten_flags() {
    ad_spec &s = orc_->chk.spec;
    const std::uint64_t per = ref_.geo().ptrs_per_pte();
    for_each_write(
        ref_,
        [&](const pgtable_write &wr) {
            if (!wr.by_hw)
                s.forget_flags_not_set_in_op(wr.index * per, per);
        },
        [&](const pgtable_write &wr, std::uint64_t page) {
            if (!wr.by_hw)
                s.forget_flags_not_set_in_op(page, 1);
        });
}

/// A page flushed by both worlds no longer has a stale-old translation anywhere.
void session::note_flushes() {
    const auto &fa = ref_.m.flush_log();
    const auto &fb = opt_.m.flush_log();
    if (fa.empty() || fb.empty())
        return;
    const std::uint64_t base = ref_.m.window_start();
    const unsigned shift = ref_.geo().page_shift;
    auto covered = [&](const std::vector<tlb_flush> &log, std::uint64_t va) {
        return std::any_of(log.begin(), log.end(), [&](const tlb_flush &f) {
            return f.kind == flush_kind::mm || (va >= f.start && va < f.end);
        });
    };
    for (const tlb_flush &f : fa) {
        const std::uint64_t start = std::max(f.start, base);
        const std::uint64_t end =
            f.kind == flush_kind::mm ? ref_.m.window_end() : std::min(f.end, ref_.m.window_end());
        for (std::uint64_t va = start; va < end; va += ref_.geo().page_size()) {
            const std::uint64_t page = (va - base) >> shift;
            if (orc_->chk.spec.stale_old(page) && covered(fb, va))
                orc_->chk.spec.flushed(page);
        }
    }
}

std::optional<finding> session::step(const op &o, const op_result &a, const op_result &b) {
    // Every check below reads the spec as it stands after this op.
    const page_range range = op_range(o);
    auto monitors = orc_->chk.check_monitors();
    auto returns = check_returns(o, range, a, b);
    orc_->chk.spec.begin_op();
    update_spec(o, range, a, b);
    forget_rewritten_flags();
    note_flushes();
    const auto [first, nr] = range;
    checker::touched_set &t = orc_->touched;
    // Entries only change by writes, and the spec only where an op named them or gave an entry
    // flag expectations; an op that did neither leaves nothing new to compare (its results were
    // checked above), and its spec changes are spread over the blocks it named.
    const auto &flags_set = orc_->chk.spec.flags_set_pages();
    const bool wrote =
        !ref_.m.write_log().empty() || !opt_.m.write_log().empty() || !flags_set.empty();
    if (wrote) {
        orc_->chk.touched(first, nr, opts_.whole_blocks || is_flow(o.kind), flags_set, t);
    } else {
        t.pages.resize(std::min(nr, ref_.nr_pages() - std::min(first, ref_.nr_pages())));
        std::iota(t.pages.begin(), t.pages.end(), first);
    }
    orc_->chk.spread(t.pages);
    if (monitors)
        return monitors;
    if (returns)
        return returns;
    if (!wrote)
        return std::nullopt;
    if (auto f = orc_->chk.check_pmds(t.pmds))
        return f;
    if (auto f = orc_->chk.check_pages(t.pages))
        return f;
    if (auto f = orc_->chk.check_cont_blocks(t.cont_blocks))
        return f;
    if (auto f = orc_->chk.check_content(orc_->content, t.written))
        return f;
    for (world *w : {&ref_, &opt_})
        w->m.check_tlb_stale();
    return orc_->chk.check_monitors();
}

std::string session::report(const finding &f, std::size_t index, const op *o) {
    std::string r =
        "VIOLATION " + f.invariant + " at op #" + std::to_string(index) + ": " + f.detail + "\n";
    for (const invariant_info &i : invariants())
        if (i.id == f.invariant)
            r += "  invariant: " + std::string(i.doc) + "\n";
    r += "  op: " +
         (o != nullptr ? print_op(prog_.header, *o) : std::string("(end-of-program audit)")) + "\n";
    const std::string ln(ref_.ops->name());
    const std::string rn(opt_.ops->name());
    std::vector<std::uint64_t> blocks;
    for (const std::uint64_t page : f.pages) {
        const std::uint64_t va = ref_.page_va(page);
        r += "  page " + hex(va) + " (index " + std::to_string(page) + "):\n";
        for (world *w : {&ref_, &opt_}) {
            const auto p = w->pte_lookup(va);
            r += "    " + std::string(w->ops->name()) + ": " +
                 (p ? describe_pte(w->ops->ptep_get(*p)) : std::string("no table")) + "\n";
        }
        r += "    spec: " + describe_interval(orc_->chk.spec.at(page)) + "\n";
        blocks.push_back(orc_->chk.block_of(page));
        if (f.pages.size() > 4)
            break;
    }
    std::sort(blocks.begin(), blocks.end());
    blocks.erase(std::unique(blocks.begin(), blocks.end()), blocks.end());
    if (blocks.empty())
        return r;
    std::vector<map_row> rows;
    const std::uint64_t n = ref_.geo().cont_ptes();
    for (const std::uint64_t b : blocks) {
        map_row row{ref_.page_va(b), {}, {}};
        for (std::uint64_t i = 0; i < n; ++i) {
            for (auto [w, out] : {std::pair{&ref_, &row.left}, std::pair{&opt_, &row.right}}) {
                const auto t = w->m.live_table_for(w->page_va(b + i));
                *out +=
                    t ? map_char(w->m.peek_pte(*t, (b + i) & (w->geo().ptrs_per_pte() - 1))) : ' ';
            }
        }
        rows.push_back(row);
    }
    return r + "  raw tables, one row per CONT block:\n" + render_map(rows, ln, rn);
}

/// Both worlds' PMDs and non-none PTEs, raw and through the API.
std::string session::dump() {
    std::string out;
    for (world *w : {&ref_, &opt_}) {
        out += "-- " + std::string(w->ops->name()) + " final tables\n";
        for (std::size_t i = 0; i < w->m.options().window_pmds; ++i) {
            const pmd_t pmd = w->m.peek_pmd(i);
            const std::uint64_t va = w->page_va(i * w->geo().ptrs_per_pte());
            out += "pmd " + hex(va) + " = " + hex(pmd_val(pmd)) +
                   (pmd_table(pmd)  ? " (table)"
                    : pmd_leaf(pmd) ? " (leaf)"
                                    : "") +
                   "\n";
            const auto t = w->m.live_table_for(va);
            if (!t)
                continue;
            for (std::size_t k = 0; k < w->geo().ptrs_per_pte(); ++k) {
                const pte_t raw = w->m.peek_pte(*t, k);
                if (pte_none(raw))
                    continue;
                const std::uint64_t pva = va + k * w->geo().page_size();
                out += "  pte " + hex(pva) + " raw " + describe_pte(raw) + "\n" +
                       std::string(21, ' ') + "api " +
                       describe_pte(w->ops->ptep_get(*w->pte_lookup(pva))) + "\n";
            }
        }
    }
    return out;
}

run_result session::run() {
    run_result res;
    res.legalized.header = prog_.header;
    res.legalized.ops.reserve(prog_.ops.size());
    const std::size_t limit = std::min(prog_.ops.size(), opts_.max_ops.value_or(prog_.ops.size()));
    for (std::size_t i = 0; i < limit; ++i) {
        const op &raw = prog_.ops[i];
        const char *why = "";
        const auto o = legalize(raw, ref_, why);
        if (!o) {
            ++res.noops;
            if (opts_.trace)
                res.trace += std::to_string(i) + "  (skipped: " + why + ") " +
                             print_op(prog_.header, raw) + "\n";
            continue;
        }
        op_result a;
        op_result b;
        std::optional<finding> misuse;
        for (const auto &[w, r] : {std::pair{&ref_, &a}, std::pair{&opt_, &b}}) {
            try {
                *r = apply_op(*w, *o);
            } catch (const api_misuse &e) {
                // The legalizer makes every direct call legal, so the caller that broke the
                // API's documented preconditions is a flow of core code, or the arch code.
                if (!opts_.oracle)
                    throw;
                misuse = finding{
                    "API", std::string(w->ops->name()) + ": " + e.what(), {op_range(*o).first}};
                break;
            }
        }
        ++res.applied;
        res.legalized.ops.push_back(*o);
        if (opts_.trace) {
            res.trace += std::to_string(i) + "  " + print_op(prog_.header, *o);
            if (a.kind != result_kind::none)
                res.trace += "  => " + describe_result(a);
            res.trace += "\n";
        }
        if (opts_.oracle) {
            if (auto f = misuse ? std::move(misuse) : step(*o, a, b)) {
                const std::string key = f->invariant + " " + std::string(desc_of(o->kind).name);
                if (std::any_of(opts_.known.begin(), opts_.known.end(), [&](const std::string &k) {
                        return known_matches(k, key, f->detail);
                    })) {
                    // What follows a finding may be its consequence (the worlds can differ
                    // from here on), so the run ends here, counted as known.
                    ++res.known;
                    if (opts_.trace)
                        res.trace += "   (known finding, run ends: " + key + ")\n";
                    if (opts_.dump)
                        res.dump = dump();
                    return res;
                }
                res.violation = verdict_violation{f->invariant, i, f->detail, report(*f, i, &*o)};
                if (opts_.dump)
                    res.dump = dump();
                return res;
            }
        }
        ref_.m.clear_logs();
        opt_.m.clear_logs();
        ref_.m.clear_violations();
        opt_.m.clear_violations();
    }
    if (opts_.oracle) {
        if (auto f = orc_->chk.audit(&orc_->content)) {
            res.violation = verdict_violation{f->invariant, prog_.ops.size(), f->detail,
                                              report(*f, prog_.ops.size(), nullptr)};
        }
    }
    if (opts_.dump)
        res.dump = dump();
    return res;
}

} // namespace

std::vector<std::string> read_known_findings(const std::string &path) {
    std::ifstream in(path);
    // A folder opens, and reads as empty: it would pass over nothing, silently.
    std::error_code ec;
    if (!in || std::filesystem::is_directory(path, ec))
        throw std::runtime_error("cannot read known findings " + path);
    std::vector<std::string> out;
    std::string line;
    for (std::size_t nr = 1; std::getline(in, line); ++nr) {
        line = line.substr(0, line.find('#'));
        // The words of the line and the columns they start at.
        std::vector<std::pair<std::string, std::size_t>> words;
        for (std::size_t at = line.find_first_not_of(" \t\r"); at != std::string::npos;) {
            const std::size_t stop = std::min(line.find_first_of(" \t\r", at), line.size());
            words.emplace_back(line.substr(at, stop - at), at + 1);
            at = line.find_first_not_of(" \t\r", stop);
        }
        // A line that can match no finding is a mistake; say where it is.
        const auto bad = [&](std::size_t column, const std::string &what) {
            return parse_error(path, static_cast<unsigned>(nr), static_cast<unsigned>(column),
                               what);
        };
        if (words.empty())
            continue;
        if (!is_invariant(words[0].first))
            throw bad(words[0].second,
                      "expected an invariant ID (see 'mmfuzz invariants'), found '" +
                          words[0].first + "'");
        if (words.size() < 2)
            throw bad(line.size() + 1, "expected an op name after '" + words[0].first + "'");
        if (find_op(words[1].first) == nullptr)
            throw bad(words[1].second, "expected an op name, found '" + words[1].first + "'");
        std::string entry = words[0].first + " " + words[1].first;
        for (std::size_t k = 2; k < words.size(); ++k)
            entry += " " + words[k].first;
        out.push_back(std::move(entry));
    }
    return out;
}

run_result run_program(const program &p, const run_options &opts) {
    session s(p, opts);
    return s.run();
}

bool caused_by_canary(const program &p, const verdict_violation &v, const run_options &without) {
    const run_result w = run_program(p, without);
    return !w.violation || w.violation->invariant != v.invariant ||
           w.violation->op_index != v.op_index;
}

std::optional<verdict_violation> canary_violation(const program &p, const run_options &with) {
    run_result r = run_program(p, with);
    if (!r.violation)
        return std::nullopt;
    run_options without = with;
    without.inject.clear();
    if (!caused_by_canary(p, *r.violation, without))
        return std::nullopt;
    return std::move(r.violation);
}

} // namespace mmfuzz
