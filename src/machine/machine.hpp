// The simulated machine: physical frames with contents, folios, page tables living in simulated
// physical pages, the PMD level of the user window, locks, and the logs of every table write and
// every TLB flush request. Page-table memory is reached only through the accessors below.
//
// The hardware half: an MMU that walks the tables (or hits its TLB) and sets AF and DBM-dirty,
// a TLB with page, contiguous-block and PMD-block entries plus a PMD walk cache, and the monitors
// that report BBM, TLB_STALE, LOCK, UPDATE_MMU_WALK and LIVENESS violations.
#pragma once

#include "machine/mm.hpp"
#include "machine/recycled.hpp"
#include "machine/tlb.hpp"
#include "pgtable/geometry.hpp"
#include "pgtable/handle.hpp"
#include "pgtable/pte.hpp"

#include <cstdint>
#include <deque>
#include <limits>
#include <memory>
#include <optional>
#include <span>
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

/// The stable IDs the machine's monitors report under.
namespace violation_id {
inline constexpr std::string_view BBM = "BBM";
inline constexpr std::string_view TLB_STALE = "TLB_STALE";
inline constexpr std::string_view LOCK = "LOCK";
inline constexpr std::string_view UPDATE_MMU_WALK = "UPDATE_MMU_WALK";
inline constexpr std::string_view LIVENESS = "LIVENESS";
inline constexpr std::string_view PMD_WELLFORMED = "PMD_WELLFORMED";
inline constexpr std::string_view MAPCOUNT = "MAPCOUNT";
inline constexpr std::string_view COW = "COW";
} // namespace violation_id

/// A call that breaks a documented precondition of the API (a framework bug, not a finding).
class api_misuse : public std::logic_error {
  public:
    using std::logic_error::logic_error;
};

enum class pt_level : std::uint8_t { pte, pmd };

/// One store to a page-table entry. Every store goes through the machine and lands here.
struct pgtable_write {
    // Wide fields first: 40 bytes a record rather than 56 (a PMD split on 64K logs 8,192 of
    // them in each world).
    std::uint64_t seq;
    pfn_t table; ///< the table page written
    pteval_t old_val;
    pteval_t new_val;
    std::uint32_t index; ///< entry index in that table
    pt_level level;
    bool live;          ///< whether the table was reachable by hardware at the time
    bool by_hw = false; ///< an AF or DBM-dirty update made by the MMU, not by software
};
static_assert(sizeof(pgtable_write) == 40);

enum class flush_kind : std::uint8_t { page, range, pmd_range, mm };

/// TLBI_TTL_UNKNOWN (arm64 asm/tlbflush.h): a TLBI by VA without a level hint.
inline constexpr int tlbi_ttl_unknown = std::numeric_limits<int>::max();
/// The lookup levels of the leaf entries this machine caches: a PTE (page or CONT block) and a
/// PMD block.
inline constexpr int tlb_level_pte = 3;
inline constexpr int tlb_level_pmd = 2;

/// One TLB invalidation request (flush_tlb_page/range, flush_pmd_tlb_range, flush_tlb_mm, and
/// arm64's __flush_tlb_range with its stride, last-level and level hints).
struct tlb_flush {
    std::uint64_t seq;
    flush_kind kind;
    std::uint64_t start;
    std::uint64_t end;
    std::uint64_t stride;
    bool last_level;
    /// The TTL hint (FEAT_TTL): the level of the leaf being invalidated, or tlbi_ttl_unknown.
    int level = tlbi_ttl_unknown;
};

/// Whether flush request f reaches the TLB entries translating [lo, lo + size) that were cached
/// from a leaf at lookup level `level`: a TLBI by VA drops every entry containing the VA, and a
/// range flush issues one per stride from its start. With FEAT_TTL a TLBI whose level hint does
/// not match the level of a cached leaf need not invalidate it ("If the level is wrong, no
/// invalidation may take place", arm64 asm/tlbflush.h), so the machine keeps such an entry.
bool flush_covers(const tlb_flush &f, std::uint64_t lo, std::uint64_t size, int level);
/// Whether f reaches walk-cache entries (cached table entries) at all: only a flush that is not
/// last-level and has no level hint, since the hint names the level of a leaf (arm64
/// tlb_get_level(): "The TTL field is only valid for the leaf entry").
bool flush_reaches_walk_cache(const tlb_flush &f);
/// Whether f reaches the walk cache of the PMD covering [lo, lo + size).
bool flush_covers_walk_cache(const tlb_flush &f, std::uint64_t lo, std::uint64_t size);

/// A folio: 2^order naturally aligned frames (include/linux/mm_types.h, heavily reduced).
struct folio {
    pfn_t pfn = 0;
    unsigned order = 0;
    bool anon = true;
    int refcount = 0;
    bool dirty = false;
    bool referenced = false;
    bool lazyfree = false;
    /// A device-private page (MEMORY_DEVICE_PRIVATE, include/linux/memremap.h): the CPU cannot
    /// address it, so only device-private entries name it, never a present one.
    bool device_private = false;
    [[nodiscard]] std::uint64_t nr_pages() const { return std::uint64_t{1} << order; }
    [[nodiscard]] bool contains(pfn_t p) const { return p >= pfn && p < pfn + nr_pages(); }
};

/// Per-page state: content, and the page_table_check counters (mm/page_table_check.c).
struct page_state {
    std::uint64_t content = 0;
    int anon_map_count = 0;
    int file_map_count = 0;
    /// Present mappings of the page in the children fork() made (child_map()). A child never
    /// runs: it keeps the page as it was at the fork, so nothing may write the page while one
    /// maps it (copy-on-write).
    int child_map_count = 0;
    /// The part of the page_table_check counters above that the children's entries hold.
    int child_ptc_count = 0;
    /// The swap slot whose swap-cache copy the page is while a fork() child's swap entry names
    /// that slot (0: none; slot 0 is never used). The child's swap-in would map this very page,
    /// so it is held as a mapped one is (mm/memory.c do_swap_page() keeps the folio in the swap
    /// cache while the slot's swap count is not zero).
    std::uint64_t child_swap_slot = 0;
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
    [[nodiscard]] std::uint64_t window_end() const {
        return window_base + std::uint64_t{opts_.window_pmds} * geo_.pmd_size();
    }
    [[nodiscard]] bool in_window(std::uint64_t addr) const {
        return addr >= window_start() && addr < window_end();
    }

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
    /// Handed out by pte_alloc_one() and not yet freed.
    [[nodiscard]] bool table_allocated(pgtable_t table) const {
        return is_table_page(table.pfn) && table_allocated_[table_slot(table.pfn)] != 0;
    }
    [[nodiscard]] bool table_is_live(pgtable_t table) const {
        return is_table_page(table.pfn) && table_pmd_slot_[table_slot(table.pfn)] >= 0;
    }
    [[nodiscard]] bool is_table_page(pfn_t pfn) const {
        return pfn >= first_table_pfn && !is_guard_slot(table_slot(pfn));
    }
    [[nodiscard]] pgtable_t table_of(hw_ptep ptep) const;
    [[nodiscard]] pgtable_t table_of(staged_ptep ptep) const;
    [[nodiscard]] std::size_t index_of(hw_ptep ptep) const;
    [[nodiscard]] std::size_t index_of(hw_pmdp pmdp) const;
    /// The virtual address a live table maps at index 0, if it is live.
    [[nodiscard]] std::optional<std::uint64_t> table_va(pgtable_t table) const {
        if (!table_is_live(table))
            return std::nullopt;
        return window_base + (static_cast<std::uint64_t>(table_pmd_slot_[table_slot(table.pfn)])
                              << geo_.pmd_shift());
    }
    [[nodiscard]] std::size_t pmd_index(std::uint64_t addr) const {
        return static_cast<std::size_t>((addr - window_base) >> geo_.pmd_shift());
    }
    /// Table page slots, the guard slots between them included (is_guard_slot()).
    [[nodiscard]] std::size_t nr_table_pages() const { return nr_tables_; }

    // ---- entry access: the only code that opens handles ----------------------------------------
    // Accesses through a live handle to a table hardware cannot reach, or through a staged handle
    // to a table it can, report LIVENESS (and still access the memory).
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
    [[nodiscard]] pte_t peek_pte(pgtable_t table, std::size_t index) const {
        return table_ptr(table)[index];
    }
    /// All entries of a table at once, for checks that scan it.
    [[nodiscard]] std::span<const pte_t> peek_table(pgtable_t table) const {
        return {table_ptr(table), geo_.ptrs_per_pte()};
    }
    [[nodiscard]] pmd_t peek_pmd(std::size_t index) const { return root_.get()[index]; }
    /// The live table mapping addr, if the PMD for addr is a table.
    [[nodiscard]] std::optional<pgtable_t> live_table_for(std::uint64_t addr) const {
        if (!in_window(addr))
            return std::nullopt;
        const pmd_t pmd = root_.get()[pmd_index(addr)];
        if (!pmd_table(pmd) || !is_table_page(pmd_pfn(pmd)))
            return std::nullopt;
        return pmd_pgtable(pmd);
    }
    /// The deposited page tables of a PMD (pmd_huge_pte); withdraw takes the last deposited.
    std::vector<pgtable_t> &pmd_huge_pte(hw_pmdp pmdp);

    // ---- logs ------------------------------------------------------------------------------
    [[nodiscard]] const std::vector<pgtable_write> &write_log() const { return writes_; }
    [[nodiscard]] const std::vector<tlb_flush> &flush_log() const { return flushes_; }
    void clear_logs();
    void flush_tlb(flush_kind kind, std::uint64_t start, std::uint64_t end, std::uint64_t stride,
                   bool last_level, int level = tlbi_ttl_unknown);
    void flush_tlb_page(std::uint64_t addr);
    void flush_tlb_range(std::uint64_t start, std::uint64_t end);
    void flush_pmd_tlb_range(std::uint64_t start, std::uint64_t end);
    void flush_tlb_mm();

    // ---- MMU and TLB (mmu.cpp) ------------------------------------------------------------------
    static constexpr std::size_t tlb_capacity = 64;
    /// A user-mode access by the hardware: TLB lookup, else a walk root PMD -> (PMD block | PTE
    /// table) through simulated memory. On success AF is set if clear and a write to a DBM-clean
    /// entry clears RDONLY (recorded machine writes, `by_hw`); a write stores `value` into the
    /// frame's content, a read returns it. For a valid+CONT entry the hardware may use and update
    /// any entry of the block: entry `slot % CONT_PTES` of the block is the one it uses; and it
    /// caches the block as one TLB entry, or only the page accessed when `slot / CONT_PTES` is
    /// odd.
    hw_access_result hw_access(std::uint64_t va, bool write, unsigned slot = 0,
                               std::uint64_t value = 0);
    /// An access by a device through an SMMU without HTTU (an SVA-bound device): it walks the
    /// live tables for every access (no IOTLB, no walk cache) and evaluates va's own descriptor
    /// alone: AF clear is an access-flag fault and any read-only entry faults on a write, since
    /// it neither sets AF nor updates the dirty state. Nothing is cached and no entry written.
    hw_access_result device_access(std::uint64_t va, bool write, std::uint64_t value = 0);
    /// The TLB entry a lookup of va would use, if any.
    [[nodiscard]] std::optional<tlb_entry> tlb_lookup(std::uint64_t va) const;
    [[nodiscard]] std::size_t tlb_nr_entries() const;
    /// The table the walk cache holds for PMD `index`, if any.
    [[nodiscard]] std::optional<pgtable_t> walk_cache_entry(std::size_t index) const;

    // ---- monitors (bbm.cpp, monitors.cpp)
    // --------------------------------------------------------- BBM runs incrementally on every
    // write and flush and reports as soon as a make lands on a translation the TLB may still hold
    // (rules in machine/bbm.hpp).
    /// Breaks (valid -> invalid on a live entry) not yet covered by a flush.
    [[nodiscard]] std::size_t bbm_unflushed_breaks() const { return breaks_.size(); }
    /// TLB_STALE, at the end of a core operation: no TLB or walk-cache entry is more permissive
    /// than the tables (other PFN; writable over read-only; hardware-dirty over clean; valid over
    /// invalid; user over kernel). Entries stale only in AF are allowed (no flush after aging).
    void check_tlb_stale();
    /// UPDATE_MMU_WALK: update_mmu_cache_range(addr, ptep, nr) walks from the mm root, as MIPS
    /// does, and must reach ptep's table and the nr consecutive entries it was given.
    void update_mmu_walk_check(std::uint64_t addr, hw_ptep ptep, unsigned nr);

    // ---- locks -----------------------------------------------------------------------------
    [[nodiscard]] spinlock_t pmd_lockptr() const;
    [[nodiscard]] spinlock_t pte_lockptr(pgtable_t table) const;
    // One context runs at a time, so the owner of a held lock is the running flow. Taking a held
    // lock is a deadlock; taking a second lock of the same class (PTE, PMD, mm) needs a distinct
    // lockdep subclass, as spin_lock_nested(ptl, SINGLE_DEPTH_NESTING) gives. Without split
    // ptlocks the PTE and PMD locks are one lock: kernel code guards the nested acquisition with
    // `if (pte_ptl != pmd_ptl)`, and so must our flows.
    void spin_lock(spinlock_t lock) { spin_lock_nested(lock, 0); }
    void spin_lock_nested(spinlock_t lock, unsigned subclass);
    void spin_unlock(spinlock_t lock);
    [[nodiscard]] bool spin_is_locked(spinlock_t lock) const;
    [[nodiscard]] const std::vector<spinlock_t> &held_locks() const { return held_; }
    /// lockdep_assert_held(pte_lockptr(ptep)): a LOCK violation names the call if not held.
    void assert_ptl_held(hw_ptep ptep, std::string_view call);
    void assert_pmd_lock_held(std::string_view call);
    void assert_lock_held(spinlock_t lock, std::string_view call);
    /// At the end of a core operation every lock must have been released.
    void check_locks_released(std::string_view where);

    // ---- frames and folios -------------------------------------------------------------------
    [[nodiscard]] pfn_t first_data_pfn() const { return data_base_; }
    [[nodiscard]] pfn_t end_data_pfn() const { return data_base_ + nr_frames_; }
    [[nodiscard]] bool pfn_valid(pfn_t pfn) const {
        return pfn >= data_base_ && pfn < end_data_pfn();
    }
    /// folio_alloc(): a naturally aligned free range, lowest first; nullptr when memory is full.
    folio *folio_alloc(unsigned order, bool anon);
    /// folio_put() of the last reference: frees the frames (counters must be zero).
    void folio_free(folio *f);
    /// page_folio(pfn_to_page(pfn)); nullptr for a frame outside any folio.
    folio *pfn_folio(pfn_t pfn);
    [[nodiscard]] const folio *pfn_folio(pfn_t pfn) const;
    page_state &page(pfn_t pfn);
    /// A frame never touched reads as a fresh page_state.
    [[nodiscard]] const page_state &page(pfn_t pfn) const {
        if (!pfn_valid(pfn)) [[unlikely]]
            bad_page(pfn);
        return pfn - data_base_ < pages_.size() ? pages_[pfn - data_base_] : untouched_page;
    }
    /// The states of frames [pfn, pfn + nr), which a folio has held (below frames_in_use()).
    [[nodiscard]] std::span<const page_state> pages(pfn_t pfn, std::uint64_t nr) const {
        if (pfn < data_base_ || pfn - data_base_ + nr > pages_.size()) [[unlikely]]
            bad_page(pfn);
        return {pages_.data() + (pfn - data_base_), nr};
    }
    [[nodiscard]] std::size_t nr_folios() const { return nr_folios_; }
    /// Frames from first_data_pfn() up to the highest one ever allocated.
    [[nodiscard]] std::uint64_t frames_in_use() const { return pages_.size(); }
    /// __split_folio_to_order() (mm/huge_memory.c): f keeps its first 2^new_order pages and
    /// every further 2^new_order pages become a folio of their own, with f's flags. The new
    /// folios, in address order. The caller has unmapped f (its pages are under migration).
    std::vector<folio *> folio_split(folio *f, unsigned new_order);

    // ---- page_table_check hooks (mm/page_table_check.c)
    // ------------------------------------------
    void page_table_check_pte_clear(const mm_struct *m, pte_t pte);
    /// Clears the old entries of the range, then counts the new mapping (nr pages from pte).
    void page_table_check_ptes_set(const mm_struct *m, hw_ptep ptep, pte_t pte, unsigned nr);
    void page_table_check_ptes_set(const mm_struct *m, staged_ptep ptep, pte_t pte, unsigned nr);
    void page_table_check_pmd_clear(const mm_struct *m, pmd_t pmd);
    void page_table_check_pmd_set(const mm_struct *m, hw_pmdp pmdp, pmd_t pmd);
    /// The child of a fork() maps nr pages from pte's PFN with pte (a PTE, or a PMD leaf as a
    /// PTE): its set_ptes()/set_pmd_at() in the child's tables, which this model does not
    /// keep. page_table_check counts the user-accessible ones; every page is held for the COW
    /// monitor.
    void child_map(pte_t pte, std::uint64_t nr);
    /// A fork() child's device-private entry names the page at pfn (a device page): held for
    /// the COW monitor; page_table_check counts no entry that is not present.
    void child_map_device(pfn_t pfn);
    /// An rmap walk of the parent's flows reached the children's mappings of the page at pfn
    /// (try_to_unmap(), try_to_migrate()): they stop mapping it, for page_table_check and the
    /// COW monitor. Returns how many mappings they had.
    int child_unmap(pfn_t pfn);
    /// The children's mappings of the page at from now map the page at to instead
    /// (remove_migration_ptes() over their VMAs). Returns how many moved.
    int child_move(pfn_t from, pfn_t to);

    // ---- findings ----------------------------------------------------------------------------
    void report(std::string_view id, std::string detail);
    [[nodiscard]] const std::vector<violation> &violations() const { return violations_; }
    void clear_violations() { violations_.clear(); }

  private:
    /// A broken translation (valid -> invalid) that the TLB may still hold until a flush covers
    /// [cover_lo, cover_lo + cover_size): the page itself, or the whole block it came from.
    struct pending_break {
        std::uint64_t va;
        std::uint64_t cover_lo;
        std::uint64_t cover_size;
        pteval_t old_val; ///< the old descriptor, PFN adjusted to the page at va
        bool from_block;  ///< the old translation was a PMD block
    };
    /// What a walk found for an address: the leaf descriptor and where it lives, or the fault.
    struct walk_result {
        hw_fault fault = hw_fault::none_entry;
        bool pmd_leaf = false;
        pteval_t desc = 0;
        pfn_t table = 0;       ///< the PTE table (PTE leaves)
        std::size_t index = 0; ///< index in the PTE table, or the PMD index for a block
    };

    void record_write(pt_level level, pfn_t table, std::size_t index, pteval_t old_val,
                      pteval_t new_val, bool by_hw = false);
    void note(std::string_view id, std::string detail) const;
    // liveness (monitors.cpp)
    void check_live(const pte_t *p, const char *what) const {
        const std::size_t slot = ptr_table_slot(p);
        if (is_guard_slot(slot) || table_pmd_slot_[slot] < 0) [[unlikely]]
            liveness_violation(p, what, true);
    }
    void check_staged(const pte_t *p, const char *what) const {
        const std::size_t slot = ptr_table_slot(p);
        if (is_guard_slot(slot) || table_pmd_slot_[slot] >= 0) [[unlikely]]
            liveness_violation(p, what, false);
    }
    /// Table pages take the odd slots; the even ones, never handed out, stand for the memory
    /// around a page-table page, which in the kernel is no other table: a handle moved past
    /// either end of its table lands in one (api_misuse) instead of in the next table's entries.
    [[nodiscard]] bool is_guard_slot(std::size_t slot) const {
        return slot >= nr_tables_ || slot % 2 == 0;
    }
    /// Throws api_misuse for a handle in a guard slot; notes LIVENESS otherwise.
    void liveness_violation(const pte_t *p, const char *what, bool live_handle) const;
    [[nodiscard]] std::size_t ptr_table_slot(const pte_t *p) const {
        return static_cast<std::size_t>(p - tables_.get()) >> geo_.pte_index_bits;
    }
    // bbm.cpp
    void bbm_pte_write(pfn_t table, std::size_t index, pteval_t old_val, pteval_t new_val);
    void bbm_pmd_write(std::size_t index, pteval_t old_val, pteval_t new_val);
    const char *bbm_make(std::uint64_t va, pteval_t new_val, bool new_is_block, pteval_t &old_val);
    void bbm_direct(std::uint64_t va, pteval_t old_val, pteval_t new_val, bool size_change);
    void bbm_add_break(std::uint64_t va, pteval_t old_val, bool from_block);
    void bbm_remove_break(std::size_t at);
    void bbm_break_table(std::size_t pmd, pfn_t table);
    void bbm_report(std::uint64_t va, pteval_t old_val, pteval_t new_val, const char *reason,
                    bool via_break);
    void bbm_flush(const tlb_flush &f);
    [[nodiscard]] std::size_t page_number(std::uint64_t va) const {
        return static_cast<std::size_t>((va - window_base) >> geo_.page_shift);
    }
    // mmu.cpp
    [[nodiscard]] walk_result walk(std::uint64_t va, bool use_walk_cache) const;
    tlb_entry *tlb_find(std::uint64_t va);
    void tlb_insert(const tlb_entry &e);
    void tlb_apply_flush(const tlb_flush &f);
    [[nodiscard]] std::uint64_t tlb_entry_size(tlb_kind k) const;
    void hw_store(bool pmd, pfn_t table, std::size_t index, pteval_t new_val);
    /// The data access of a translated va to frame pfn: the COW check, the store or the load.
    void access_frame(hw_access_result &res, std::uint64_t va, pfn_t pfn, bool write,
                      std::uint64_t value);
    // monitors.cpp
    const char *stale_reason(std::uint64_t va, pfn_t pfn, pteval_t desc) const;
    [[nodiscard]] bool cont_block_hw_dirty(pfn_t table, std::size_t index) const;
    pte_t *table_ptr(pgtable_t table) const {
        return tables_.get() + table_slot(table.pfn) * geo_.ptrs_per_pte();
    }
    [[noreturn]] static void bad_page(pfn_t pfn);
    static const page_state untouched_page;
    [[nodiscard]] static std::size_t table_slot(pfn_t pfn) {
        return static_cast<std::size_t>(pfn - first_table_pfn);
    }
    [[nodiscard]] pgtable_t table_of_ptr(const pte_t *p) const;
    [[nodiscard]] bool ptc_anon(pfn_t pfn) const;
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

    /// Gives table memory back to the per-thread pool it came from.
    struct aligned_free {
        std::size_t align = 0;
        std::size_t bytes = 0;
        void operator()(void *p) const;
    };
    std::unique_ptr<pmd_t, aligned_free> root_;
    std::unique_ptr<pte_t, aligned_free> tables_;
    recycled_vector<std::uint8_t> table_allocated_;
    recycled_vector<std::int32_t> table_pmd_slot_; ///< root index that points at the table, or -1
    recycled_vector<std::vector<pgtable_t>> deposited_;

    // Per-frame state grows with the highest frame handed out: most programs touch a few
    // folios, and a machine is built for every program run.
    recycled_vector<page_state> pages_;
    std::deque<folio> folios_;                ///< every folio allocated, stable addresses
    recycled_vector<std::uint32_t> folio_of_; ///< per frame: index + 1 into folios_, or 0 (free)
    void grow_frames(std::uint64_t count);
    std::size_t nr_folios_ = 0;
    std::uint64_t free_hint_ = 0; ///< frames below it are all allocated

    std::uint64_t seq_ = 0;
    recycled_vector<pgtable_write> writes_;
    recycled_vector<tlb_flush> flushes_;
    recycled_vector<spinlock_t> held_;
    recycled_vector<std::uint8_t> held_subclass_; ///< parallel to held_
    mutable recycled_vector<violation> violations_;

    // TLB: a small fully associative array, round-robin replacement, plus a per-PMD walk cache.
    recycled_vector<tlb_entry> tlb_;
    std::size_t tlb_victim_ = 0;
    recycled_vector<pfn_t> walk_cache_; ///< per PMD index: cached table pfn, 0 if none
    std::uint64_t state_gen_ = 1;       ///< bumped by every table write and TLB fill
    std::uint64_t stale_checked_gen_ = 0;
    // TLB_STALE re-verifies a TLB entry only when what it translates has been written since.
    // Per TLB slot, parallel to tlb_: the length it covers (0 when empty, so lookups need no
    // kind test) and the write generations it was last verified at, with pointers to the
    // counters it depends on (the vectors never resize after construction).
    struct tlb_verified {
        bool valid = false;
        std::uint32_t gen_a = 0;
        std::uint32_t gen_b = 0;
        const std::uint32_t *a = nullptr;
        const std::uint32_t *b = nullptr;
    };
    recycled_vector<std::uint64_t> tlb_len_;
    /// Bit i set: slot i holds an entry. Lookups, flushes and the staleness check visit only
    /// those, lowest slot first as before.
    std::uint64_t tlb_used_ = 0;
    static_assert(tlb_capacity == 64, "tlb_used_ has one bit per slot");
    recycled_vector<tlb_verified> tlb_verified_;
    recycled_vector<std::uint32_t> page_gen_;      ///< per window page: live PTE writes
    recycled_vector<std::uint32_t> block_gen_;     ///< per CONT block: live PTE writes
    recycled_vector<std::uint32_t> pmd_entry_gen_; ///< per PMD: writes of the PMD entry
    recycled_vector<std::uint32_t> pmd_any_gen_;   ///< per PMD: writes of the PMD or its live table

    // BBM monitor state.
    recycled_vector<pending_break> breaks_;
    recycled_vector<std::uint32_t> break_at_; ///< per window page: index + 1 into breaks_, or 0
    recycled_vector<pfn_t> broken_table_; ///< per PMD: table unlinked without a walk-cache flush
};

} // namespace mmfuzz
