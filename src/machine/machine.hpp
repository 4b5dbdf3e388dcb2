// The simulated machine: physical frames with contents, folios, page tables living in simulated
// physical pages, the PMD level of the user window, locks, and the logs of every table write and
// every TLB flush request. Page-table memory is reached only through the accessors below.
#pragma once

#include "machine/mm.hpp"
#include "pgtable/geometry.hpp"
#include "pgtable/handle.hpp"
#include "pgtable/pte.hpp"

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mmfuzz {

struct machine_options {
    granule gran = granule::k4;
    unsigned window_pmds = 2;
    /// FEAT_BBML2_NOABORT: contpte_convert may skip its intermediate TLB flush.
    bool bbml2_noabort = false;
    /// Split PTE/PMD ptlocks (USE_SPLIT_PTE_PTLOCKS); otherwise every PTL is mm->page_table_lock.
    bool split_ptlocks = true;
    friend bool operator==(const machine_options &, const machine_options &) = default;
};

/// A finding of a machine monitor: a stable invariant ID and what happened.
struct violation {
    std::string id;
    std::string detail;
};

/// A call that breaks a documented precondition of the API (a framework bug, not a finding).
class api_misuse : public std::logic_error {
  public:
    using std::logic_error::logic_error;
};

enum class pt_level : std::uint8_t { pte, pmd };

/// One store to a page-table entry. Every store goes through the machine and lands here.
struct pgtable_write {
    std::uint64_t seq;
    pt_level level;
    pfn_t table;         ///< the table page written
    std::uint32_t index; ///< entry index in that table
    bool live;           ///< whether the table was reachable by hardware at the time
    pteval_t old_val;
    pteval_t new_val;
};

enum class flush_kind : std::uint8_t { page, range, pmd_range, mm };

/// One TLB invalidation request (flush_tlb_page/range, flush_pmd_tlb_range, flush_tlb_mm, and
/// arm64's __flush_tlb_range with its stride and last-level hint).
struct tlb_flush {
    std::uint64_t seq;
    flush_kind kind;
    std::uint64_t start;
    std::uint64_t end;
    std::uint64_t stride;
    bool last_level;
};

/// A folio: 2^order naturally aligned frames (include/linux/mm_types.h, heavily reduced).
struct folio {
    pfn_t pfn = 0;
    unsigned order = 0;
    bool anon = true;
    int refcount = 0;
    bool dirty = false;
    bool referenced = false;
    bool lazyfree = false;
    [[nodiscard]] std::uint64_t nr_pages() const { return std::uint64_t{1} << order; }
    [[nodiscard]] bool contains(pfn_t p) const { return p >= pfn && p < pfn + nr_pages(); }
};

/// Per-page state: content, and the page_table_check counters (mm/page_table_check.c).
struct page_state {
    std::uint64_t content = 0;
    int anon_map_count = 0;
    int file_map_count = 0;
    bool allocated = false;
};

/// A PTL: 0 is mm->page_table_lock, otherwise the split lock of the table page with that PFN.
struct spinlock_t {
    std::uint64_t id = 0;
    friend constexpr bool operator==(spinlock_t, spinlock_t) = default;
};

class machine {
  public:
    explicit machine(const machine_options &opts = {});
    ~machine();
    machine(const machine &) = delete;
    machine &operator=(const machine &) = delete;

    [[nodiscard]] const geometry &geo() const { return geo_; }
    [[nodiscard]] const machine_options &options() const { return opts_; }
    mm_struct mm; ///< the user mm whose window this machine maps

    // ---- address window -------------------------------------------------------------------
    static constexpr std::uint64_t window_base = std::uint64_t{1} << 42;
    [[nodiscard]] std::uint64_t window_start() const { return window_base; }
    [[nodiscard]] std::uint64_t window_end() const;
    [[nodiscard]] bool in_window(std::uint64_t addr) const;

    // ---- walking ----------------------------------------------------------------------------
    /// pmd_off(): the root entry that maps addr. addr must be in the window.
    hw_pmdp pmd_off(std::uint64_t addr);
    /// pte_offset_map(): the entry for addr in the table the PMD points to; none if not a table.
    std::optional<hw_ptep> pte_offset_map(hw_pmdp pmdp, std::uint64_t addr);
    /// The entry for addr in a table that hardware cannot reach.
    staged_ptep pte_offset_staged(pgtable_t table, std::uint64_t addr);
    [[nodiscard]] pgtable_t pmd_pgtable(pmd_t pmd) const { return {pmd_pfn(pmd)}; }
    /// pte_alloc_one(): a zeroed table page; pte_free() returns it.
    pgtable_t pte_alloc_one();
    void pte_free(pgtable_t table);
    [[nodiscard]] bool table_is_live(pgtable_t table) const;
    [[nodiscard]] bool is_table_page(pfn_t pfn) const;
    [[nodiscard]] pgtable_t table_of(hw_ptep ptep) const;
    [[nodiscard]] pgtable_t table_of(staged_ptep ptep) const;
    [[nodiscard]] std::size_t index_of(hw_ptep ptep) const;
    [[nodiscard]] std::size_t index_of(hw_pmdp pmdp) const;
    /// The virtual address a live table maps at index 0, if it is live.
    [[nodiscard]] std::optional<std::uint64_t> table_va(pgtable_t table) const;
    [[nodiscard]] std::size_t pmd_index(std::uint64_t addr) const;
    [[nodiscard]] std::size_t nr_table_pages() const { return nr_tables_; }

    // ---- entry access: the only code that opens handles ----------------------------------------
    pte_t read(hw_ptep ptep) const;
    /// READ_ONCE(): single-copy-atomic load.
    pte_t read_once(hw_ptep ptep) const;
    void write(hw_ptep ptep, pte_t pte);
    pte_t xchg(hw_ptep ptep, pte_t pte);
    pte_t read(staged_ptep ptep) const;
    void write(staged_ptep ptep, pte_t pte);
    pmd_t read(hw_pmdp pmdp) const;
    void write(hw_pmdp pmdp, pmd_t pmd);
    pmd_t xchg(hw_pmdp pmdp, pmd_t pmd);
    /// Raw inspection for the oracle and tests (no log entry).
    [[nodiscard]] pte_t peek_pte(pgtable_t table, std::size_t index) const;
    [[nodiscard]] pmd_t peek_pmd(std::size_t index) const;
    /// The live table mapping addr, if the PMD for addr is a table.
    [[nodiscard]] std::optional<pgtable_t> live_table_for(std::uint64_t addr) const;
    /// The deposited page tables of a PMD (pmd_huge_pte), FIFO.
    std::deque<pgtable_t> &pmd_huge_pte(hw_pmdp pmdp);

    // ---- logs ------------------------------------------------------------------------------
    [[nodiscard]] const std::vector<pgtable_write> &write_log() const { return writes_; }
    [[nodiscard]] const std::vector<tlb_flush> &flush_log() const { return flushes_; }
    void clear_logs();
    void flush_tlb(flush_kind kind, std::uint64_t start, std::uint64_t end, std::uint64_t stride,
                   bool last_level);
    void flush_tlb_page(std::uint64_t addr);
    void flush_tlb_range(std::uint64_t start, std::uint64_t end);
    void flush_pmd_tlb_range(std::uint64_t start, std::uint64_t end);
    void flush_tlb_mm();

    // ---- locks -----------------------------------------------------------------------------
    [[nodiscard]] spinlock_t pmd_lockptr() const;
    [[nodiscard]] spinlock_t pte_lockptr(pgtable_t table) const;
    void spin_lock(spinlock_t lock);
    void spin_unlock(spinlock_t lock);
    [[nodiscard]] bool spin_is_locked(spinlock_t lock) const;
    [[nodiscard]] const std::vector<spinlock_t> &held_locks() const { return held_; }
    /// lockdep_assert_held(pte_lockptr(ptep)): a LOCK violation names the call if not held.
    void assert_ptl_held(hw_ptep ptep, std::string_view call);
    void assert_pmd_lock_held(std::string_view call);

    // ---- frames and folios -------------------------------------------------------------------
    [[nodiscard]] pfn_t first_data_pfn() const { return data_base_; }
    [[nodiscard]] pfn_t end_data_pfn() const { return data_base_ + nr_frames_; }
    [[nodiscard]] bool pfn_valid(pfn_t pfn) const;
    /// folio_alloc(): a naturally aligned free range, lowest first; nullptr when memory is full.
    folio *folio_alloc(unsigned order, bool anon);
    /// folio_put() of the last reference: frees the frames (counters must be zero).
    void folio_free(folio *f);
    /// page_folio(pfn_to_page(pfn)); nullptr for a frame outside any folio.
    folio *pfn_folio(pfn_t pfn);
    [[nodiscard]] const folio *pfn_folio(pfn_t pfn) const;
    page_state &page(pfn_t pfn);
    [[nodiscard]] const page_state &page(pfn_t pfn) const;
    [[nodiscard]] std::size_t nr_folios() const { return nr_folios_; }

    // ---- page_table_check hooks (mm/page_table_check.c)
    // ------------------------------------------
    void page_table_check_pte_clear(const mm_struct *m, pte_t pte);
    /// Clears the old entries of the range, then counts the new mapping (nr pages from pte).
    void page_table_check_ptes_set(const mm_struct *m, hw_ptep ptep, pte_t pte, unsigned nr);
    void page_table_check_ptes_set(const mm_struct *m, staged_ptep ptep, pte_t pte, unsigned nr);
    void page_table_check_pmd_clear(const mm_struct *m, pmd_t pmd);
    void page_table_check_pmd_set(const mm_struct *m, hw_pmdp pmdp, pmd_t pmd);

    // ---- findings ----------------------------------------------------------------------------
    void report(std::string_view id, std::string detail);
    [[nodiscard]] const std::vector<violation> &violations() const { return violations_; }
    void clear_violations() { violations_.clear(); }

  private:
    void record_write(pt_level level, pfn_t table, std::size_t index, pteval_t old_val,
                      pteval_t new_val);
    pte_t *table_ptr(pgtable_t table) const;
    [[nodiscard]] std::size_t table_slot(pfn_t pfn) const;
    [[nodiscard]] pgtable_t table_of_ptr(const pte_t *p) const;
    void ptc_clear_pages(pte_t pte, std::uint64_t nr);
    void ptc_set_pages(pte_t pte, std::uint64_t nr);
    void ptc_check_flags(pte_t pte);
    void after_pmd_write(std::size_t index, pmd_t old_pmd, pmd_t new_pmd);

    geometry geo_;
    machine_options opts_;

    static constexpr pfn_t root_pfn = 1;
    static constexpr pfn_t first_table_pfn = 2;
    std::size_t nr_tables_;
    pfn_t data_base_;
    std::uint64_t nr_frames_;

    struct aligned_free {
        std::size_t align;
        void operator()(void *p) const;
    };
    std::unique_ptr<pmd_t, aligned_free> root_;
    std::unique_ptr<pte_t, aligned_free> tables_;
    std::vector<std::uint8_t> table_allocated_;
    std::vector<std::int32_t> table_pmd_slot_; ///< root index that points at the table, or -1
    std::vector<std::deque<pgtable_t>> deposited_;

    std::vector<page_state> pages_;
    std::vector<folio> folios_;     ///< indexed by pfn - data_base_, valid at heads
    std::vector<pfn_t> folio_head_; ///< per frame: head pfn, or 0 when not in a folio
    std::size_t nr_folios_ = 0;

    std::uint64_t seq_ = 0;
    std::vector<pgtable_write> writes_;
    std::vector<tlb_flush> flushes_;
    std::vector<spinlock_t> held_;
    std::vector<violation> violations_;
};

} // namespace mmfuzz
