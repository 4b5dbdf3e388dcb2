#include "machine/machine.hpp"

#include "machine/handle_access.hpp"
#include "pgtable/format.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace mmfuzz {

namespace {

/// Table memory recycled between machines of one thread: a machine is built for every program
/// run, and returning its large aligned blocks to the allocator each time costs more (under
/// ASan, an mmap and munmap) than the run itself.
class table_memory_pool {
  public:
    table_memory_pool() = default;
    table_memory_pool(const table_memory_pool &) = delete;
    table_memory_pool &operator=(const table_memory_pool &) = delete;
    ~table_memory_pool() {
        for (const block &b : free_)
            ::operator delete (b.p, std::align_val_t{b.align});
    }
    void *take(std::size_t bytes, std::size_t align) {
        for (std::size_t i = 0; i < free_.size(); ++i) {
            if (free_[i].bytes == bytes && free_[i].align == align) {
                void *p = free_[i].p;
                free_[i] = free_.back();
                free_.pop_back();
                return p;
            }
        }
        return ::operator new (bytes, std::align_val_t{align});
    }
    void give(void *p, std::size_t bytes, std::size_t align) {
        if (free_.size() < max_kept)
            free_.push_back({p, bytes, align});
        else
            ::operator delete (p, std::align_val_t{align});
    }

  private:
    struct block {
        void *p;
        std::size_t bytes;
        std::size_t align;
    };
    static constexpr std::size_t max_kept = 8;
    std::vector<block> free_;
};

thread_local table_memory_pool table_pool;

/// Table memory aligned to the table size. Zeroed only when asked: a PTE table page is zeroed
/// when pte_alloc_one() hands it out, so the arena needs no clearing up front.
template <typename T>
T *alloc_table_memory(std::size_t entries, std::size_t align_bytes, bool zeroed) {
    static_assert(std::is_trivial_v<T>);
    void *p = table_pool.take(entries * sizeof(T), align_bytes);
    // A memset: value-constructing the entries one by one is a scalar loop.
    if (zeroed)
        std::memset(p, 0, entries * sizeof(T));
    return static_cast<T *>(p);
}

} // namespace

void machine::aligned_free::operator()(void *p) const {
    if (p != nullptr)
        table_pool.give(p, bytes, align);
}

machine::machine(const machine_options &opts)
    : geo_(geometry_of(opts.gran)), opts_(opts),
      nr_tables_(2 * (static_cast<std::size_t>(opts.window_pmds) * 4 + 8) + 1),
      data_base_(geometry_of(opts.gran).ptrs_per_pte()),
      nr_frames_(static_cast<std::uint64_t>(opts.window_pmds + 2) *
                 geometry_of(opts.gran).ptrs_per_pte()),
      root_(nullptr, aligned_free{}), tables_(nullptr, aligned_free{}) {
    if (opts.window_pmds == 0 || opts.window_pmds > 16)
        throw std::invalid_argument("window_pmds must be 1..16");
    mm.mach = this;
    const std::size_t n = geo_.ptrs_per_pte();
    const std::size_t table_bytes = n * sizeof(pte_t);
    // Tables are aligned to their size, as page-table pages are, so an entry's index is its
    // address bits (hw_pte_index, contpte's block alignment).
    root_ = std::unique_ptr<pmd_t, aligned_free>(alloc_table_memory<pmd_t>(n, table_bytes, true),
                                                 aligned_free{table_bytes, table_bytes});
    tables_ = std::unique_ptr<pte_t, aligned_free>(
        alloc_table_memory<pte_t>(n * nr_tables_, table_bytes, false),
        aligned_free{table_bytes, n * nr_tables_ * sizeof(pte_t)});
    pages_.reserve(nr_frames_);
    folio_of_.reserve(nr_frames_);
    table_allocated_.assign(nr_tables_, 0);
    table_pmd_slot_.assign(nr_tables_, -1);
    deposited_.resize(opts.window_pmds);
    writes_.reserve(1024);
    flushes_.reserve(64);
    tlb_.resize(tlb_capacity);
    tlb_verified_.resize(tlb_capacity);
    tlb_len_.assign(tlb_capacity, 0);
    page_gen_.assign(static_cast<std::size_t>(opts.window_pmds) * n, 0);
    block_gen_.assign(static_cast<std::size_t>(opts.window_pmds) * n / geo_.cont_ptes(), 0);
    pmd_entry_gen_.assign(opts.window_pmds, 0);
    pmd_any_gen_.assign(opts.window_pmds, 0);
    walk_cache_.assign(opts.window_pmds, 0);
    break_at_.assign(static_cast<std::size_t>(opts.window_pmds) * n, 0);
    broken_table_.assign(opts.window_pmds, 0);
    breaks_.reserve(64);
}

machine::~machine() = default;

// ---- walking ------------------------------------------------------------------------------

hw_pmdp machine::pmd_off(std::uint64_t addr) {
    if (!in_window(addr))
        throw api_misuse("pmd_off: address " + hex(addr) + " is outside the window");
    return handle_access::make_pmd(root_.get() + pmd_index(addr));
}

std::optional<hw_ptep> machine::pte_offset_map(hw_pmdp pmdp, std::uint64_t addr) {
    const pmd_t pmd = read(pmdp);
    if (!pmd_table(pmd) || !is_table_page(pmd_pfn(pmd)))
        return std::nullopt;
    return handle_access::make_pte(table_ptr(pmd_pgtable(pmd)) + geo_.pte_index(addr));
}

staged_ptep machine::pte_offset_staged(pgtable_t table, std::uint64_t addr) {
    if (!is_table_page(table.pfn) || !table_allocated_[table_slot(table.pfn)])
        throw api_misuse("pte_offset_staged: pfn " + hex(table.pfn) + " is not a table page");
    return handle_access::make_staged(table_ptr(table) + geo_.pte_index(addr));
}

pgtable_t machine::pte_alloc_one() {
    for (std::size_t i = 1; i < nr_tables_; i += 2) {
        if (!table_allocated_[i]) {
            table_allocated_[i] = 1;
            const pgtable_t t{first_table_pfn + i};
            std::fill_n(table_ptr(t), geo_.ptrs_per_pte(), pte_t{0});
            return t;
        }
    }
    throw std::runtime_error("pte_alloc_one: out of page-table pages");
}

void machine::pte_free(pgtable_t table) {
    if (!is_table_page(table.pfn) || !table_allocated_[table_slot(table.pfn)])
        throw api_misuse("pte_free: pfn " + hex(table.pfn) + " is not an allocated table");
    if (table_is_live(table))
        throw api_misuse("pte_free: table " + hex(table.pfn) + " is still reachable");
    // A table unlinked from a PMD may be freed only after a flush that reaches the walk cache
    // (pte_free_tlb(), tlb_remove_table()): until then the walker may still read it.
    for (std::size_t p = 0; p < broken_table_.size(); ++p)
        if (broken_table_[p] == table.pfn)
            report(violation_id::BBM, "pte_free of table " + hex(table.pfn) +
                                          " unlinked from PMD " + std::to_string(p) +
                                          " with no flush beyond the last level since: the "
                                          "walk cache may still hold it");
    table_allocated_[table_slot(table.pfn)] = 0;
}

pgtable_t machine::table_of_ptr(const pte_t *p) const {
    const auto off = static_cast<std::size_t>(p - tables_.get());
    return {first_table_pfn + off / geo_.ptrs_per_pte()};
}

pgtable_t machine::table_of(hw_ptep ptep) const {
    return table_of_ptr(handle_access::ptr(ptep));
}
pgtable_t machine::table_of(staged_ptep ptep) const {
    return table_of_ptr(handle_access::ptr(ptep));
}
std::size_t machine::index_of(hw_ptep ptep) const {
    return static_cast<std::size_t>(handle_access::ptr(ptep) - tables_.get()) % geo_.ptrs_per_pte();
}
std::size_t machine::index_of(hw_pmdp pmdp) const {
    return static_cast<std::size_t>(handle_access::ptr(pmdp) - root_.get());
}

std::vector<pgtable_t> &machine::pmd_huge_pte(hw_pmdp pmdp) {
    return deposited_.at(index_of(pmdp));
}

// ---- entry access ---------------------------------------------------------------------------

/// Every store lands in the write log; a store to a live PTE table also feeds the BBM monitor
/// (PMD stores do so in write(hw_pmdp), once the new table is known to be reachable).
void machine::record_write(pt_level level, pfn_t table, std::size_t index, pteval_t old_val,
                           pteval_t new_val, bool by_hw) {
    const bool live = level == pt_level::pmd || table_is_live({table});
    writes_.push_back({.seq = seq_++,
                       .table = table,
                       .old_val = old_val,
                       .new_val = new_val,
                       .index = static_cast<std::uint32_t>(index),
                       .level = level,
                       .live = live,
                       .by_hw = by_hw});
    ++state_gen_;
    if (!live)
        return;
    if (level == pt_level::pmd) {
        ++pmd_entry_gen_[index];
        ++pmd_any_gen_[index];
        return;
    }
    const auto pmd = static_cast<std::size_t>(table_pmd_slot_[table_slot(table)]);
    const std::size_t page = (pmd << geo_.pte_index_bits) + index;
    ++page_gen_[page];
    ++block_gen_[page >> geo_.cont_pte_shift];
    ++pmd_any_gen_[pmd];
    bbm_pte_write(table, index, old_val, new_val);
}

pte_t machine::read(hw_ptep ptep) const {
    const pte_t *p = handle_access::ptr(ptep);
    check_live(p, "read");
    return *p;
}

pte_t machine::read_once(hw_ptep ptep) const {
    pte_t *p = handle_access::ptr(ptep);
    check_live(p, "read_once");
    // READ_ONCE(): a single-copy-atomic load. The builtin rather than std::atomic_ref, which
    // the libc++ OSS-Fuzz builds with does not have yet.
    return {__atomic_load_n(&p->pte, __ATOMIC_RELAXED)};
}

void machine::write(hw_ptep ptep, pte_t pte) {
    pte_t *p = handle_access::ptr(ptep);
    check_live(p, "write");
    record_write(pt_level::pte, table_of_ptr(p).pfn, index_of(ptep), p->pte, pte.pte);
    *p = pte;
}

pte_t machine::xchg(hw_ptep ptep, pte_t pte) {
    pte_t *p = handle_access::ptr(ptep);
    check_live(p, "xchg");
    const pte_t old = *p;
    record_write(pt_level::pte, table_of_ptr(p).pfn, index_of(ptep), old.pte, pte.pte);
    *p = pte;
    return old;
}

pte_t machine::read(staged_ptep ptep) const {
    const pte_t *p = handle_access::ptr(ptep);
    check_staged(p, "read");
    return *p;
}

void machine::write(staged_ptep ptep, pte_t pte) {
    pte_t *p = handle_access::ptr(ptep);
    check_staged(p, "write");
    const pgtable_t t = table_of_ptr(p);
    record_write(pt_level::pte, t.pfn, static_cast<std::size_t>(p - table_ptr(t)), p->pte, pte.pte);
    *p = pte;
}

pmd_t machine::read(hw_pmdp pmdp) const {
    return *handle_access::ptr(pmdp);
}

void machine::write(hw_pmdp pmdp, pmd_t pmd) {
    pmd_t *p = handle_access::ptr(pmdp);
    const std::size_t idx = index_of(pmdp);
    const pmd_t old = *p;
    record_write(pt_level::pmd, root_pfn, idx, old.pmd, pmd.pmd);
    *p = pmd;
    after_pmd_write(idx, old, pmd);
    bbm_pmd_write(idx, old.pmd, pmd.pmd);
}

pmd_t machine::xchg(hw_pmdp pmdp, pmd_t pmd) {
    const pmd_t old = read(pmdp);
    write(pmdp, pmd);
    return old;
}

void machine::after_pmd_write(std::size_t index, pmd_t old_pmd, pmd_t new_pmd) {
    if (pmd_table(old_pmd) && is_table_page(pmd_pfn(old_pmd)))
        table_pmd_slot_[table_slot(pmd_pfn(old_pmd))] = -1;
    if (pmd_table(new_pmd)) {
        if (!is_table_page(pmd_pfn(new_pmd))) {
            report("PMD_WELLFORMED", "PMD " + std::to_string(index) + " points to pfn " +
                                         hex(pmd_pfn(new_pmd)) + ", which is not a table page");
            return;
        }
        auto &slot = table_pmd_slot_[table_slot(pmd_pfn(new_pmd))];
        if (slot >= 0 && static_cast<std::size_t>(slot) != index)
            report("PMD_WELLFORMED",
                   "table " + hex(pmd_pfn(new_pmd)) + " is installed at two PMDs");
        slot = static_cast<std::int32_t>(index);
    }
}

// ---- logs -----------------------------------------------------------------------------------

void machine::clear_logs() {
    writes_.clear();
    flushes_.clear();
}

/// Every flush request is logged, invalidates the TLB and walk cache entries it covers, and
/// completes the BBM breaks it covers.
void machine::flush_tlb(flush_kind kind, std::uint64_t start, std::uint64_t end,
                        std::uint64_t stride, bool last_level, int level) {
    const tlb_flush f{seq_++, kind, start, end, stride, last_level, level};
    flushes_.push_back(f);
    tlb_apply_flush(f);
    bbm_flush(f);
}

/// flush_tlb_page() (arm64 asm/tlbflush.h): TLBI VALE1IS, last level, no level hint.
void machine::flush_tlb_page(std::uint64_t addr) {
    flush_tlb(flush_kind::page, addr, addr + geo_.page_size(), geo_.page_size(), true);
}

/// flush_tlb_range(): page stride, not last level (it may be invalidating table entries, as a
/// collapse does), no level hint.
void machine::flush_tlb_range(std::uint64_t start, std::uint64_t end) {
    flush_tlb(flush_kind::range, start, end, geo_.page_size(), false);
}

/// flush_pmd_tlb_range() (arm64 asm/pgtable.h): PMD stride, not last level, hinted at level 2,
/// so it reaches PMD blocks only.
void machine::flush_pmd_tlb_range(std::uint64_t start, std::uint64_t end) {
    flush_tlb(flush_kind::pmd_range, start, end, geo_.pmd_size(), false, tlb_level_pmd);
}

void machine::flush_tlb_mm() {
    flush_tlb(flush_kind::mm, window_start(), window_end(), 0, false);
}

// ---- frames and folios -------------------------------------------------------------------------

void machine::grow_frames(std::uint64_t count) {
    if (count > pages_.size()) {
        pages_.resize(count);
        folio_of_.resize(count, 0);
    }
}

folio *machine::folio_alloc(unsigned order, bool anon) {
    if (order > geo_.pmd_order())
        throw api_misuse("folio_alloc: order " + std::to_string(order) + " above PMD order");
    const std::uint64_t n = std::uint64_t{1} << order;
    const auto used = [](std::uint32_t index) { return index != 0; };
    const auto at = [&](std::uint64_t off) {
        return folio_of_.begin() + static_cast<std::ptrdiff_t>(off);
    };
    // First fit: every frame below free_hint_ is allocated, so no slot starts below it.
    for (std::uint64_t off = (free_hint_ + n - 1) & ~(n - 1); off + n <= nr_frames_; off += n) {
        const std::uint64_t known = std::min<std::uint64_t>(folio_of_.size(), off + n);
        if (off < known && std::any_of(at(off), at(known), used))
            continue;
        // Frames new to this machine start as page_state{}; those below `known` may have been
        // handed out and freed before: they start over too, and must not be mapped.
        grow_frames(off + n);
        const pfn_t head = data_base_ + off;
        for (std::uint64_t i = off; i < known; ++i) {
            page_state &ps = pages_[i];
            if (ps.anon_map_count != 0 || ps.file_map_count != 0)
                report("MAPCOUNT", "page " + hex(data_base_ + i) + " allocated with map counts " +
                                       std::to_string(ps.anon_map_count) + "/" +
                                       std::to_string(ps.file_map_count));
            ps = page_state{};
        }
        folios_.push_back(folio{.pfn = head, .order = order, .anon = anon, .refcount = 1});
        std::fill(at(off), at(off + n), static_cast<std::uint32_t>(folios_.size()));
        ++nr_folios_;
        free_hint_ = static_cast<std::uint64_t>(
            std::find_if_not(at(free_hint_), folio_of_.end(), used) - folio_of_.begin());
        return &folios_.back();
    }
    return nullptr;
}

void machine::folio_free(folio *f) {
    for (std::uint64_t i = 0; i < f->nr_pages(); ++i) {
        page_state &ps = page(f->pfn + i);
        if (ps.anon_map_count != 0 || ps.file_map_count != 0)
            report("MAPCOUNT", "page " + hex(f->pfn + i) + " freed while still mapped (" +
                                   std::to_string(ps.anon_map_count) + "/" +
                                   std::to_string(ps.file_map_count) + ")");
        folio_of_[f->pfn + i - data_base_] = 0;
    }
    f->refcount = 0;
    --nr_folios_;
    free_hint_ = std::min<std::uint64_t>(free_hint_, f->pfn - data_base_);
}

folio *machine::pfn_folio(pfn_t pfn) {
    if (!pfn_valid(pfn) || pfn - data_base_ >= folio_of_.size())
        return nullptr;
    const std::uint32_t index = folio_of_[pfn - data_base_];
    return index == 0 ? nullptr : &folios_[index - 1];
}

const folio *machine::pfn_folio(pfn_t pfn) const {
    return const_cast<machine *>(this)->pfn_folio(pfn);
}

page_state &machine::page(pfn_t pfn) {
    if (!pfn_valid(pfn))
        throw api_misuse("page: pfn " + hex(pfn) + " is not a data frame");
    grow_frames(pfn - data_base_ + 1);
    return pages_[pfn - data_base_];
}

const page_state machine::untouched_page{};

void machine::bad_page(pfn_t pfn) {
    throw api_misuse("page: pfn " + hex(pfn) + " is not a data frame");
}

// ---- findings -------------------------------------------------------------------------------

void machine::report(std::string_view id, std::string detail) {
    note(id, std::move(detail));
}

/// report() for const accessors (a read through a stale handle is a finding too).
void machine::note(std::string_view id, std::string detail) const {
    violations_.push_back({std::string(id), std::move(detail)});
}

std::vector<folio *> machine::folio_split(folio *f, unsigned new_order) {
    if (new_order >= f->order)
        throw api_misuse("folio_split: order " + std::to_string(new_order) + " is not below " +
                         std::to_string(f->order));
    const std::uint64_t n = std::uint64_t{1} << new_order;
    const std::uint64_t total = f->nr_pages();
    const folio head = *f;
    f->order = new_order;
    std::vector<folio *> tails;
    for (std::uint64_t off = n; off < total; off += n) {
        folio t = head;
        t.pfn = head.pfn + off;
        t.order = new_order;
        folios_.push_back(t);
        const auto index = static_cast<std::uint32_t>(folios_.size());
        for (std::uint64_t i = 0; i < n; ++i)
            folio_of_[t.pfn + i - data_base_] = index;
        ++nr_folios_;
        tails.push_back(&folios_.back());
    }
    return tails;
}

} // namespace mmfuzz
