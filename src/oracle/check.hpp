// The oracle's checks over two worlds: view equivalence against the young/dirty spec, the
// table invariants, the machines' monitors, and the end-of-program audit.
#pragma once

#include "core/world.hpp"
#include "oracle/content.hpp"
#include "oracle/spec.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace mmfuzz {

/// Walks w's write log: on_pmd(write) for each PMD write, on_pte(write, page) for each PTE
/// write with the window page it wrote (writes to a table no PMD points to are left out). A
/// table's place in the window is looked up once per run of writes to it.
template <typename OnPmd, typename OnPte>
void for_each_write(const world &w, OnPmd &&on_pmd, OnPte &&on_pte) {
    pfn_t table = ~pfn_t{0};
    std::optional<std::uint64_t> table_first;
    for (const pgtable_write &wr : w.m.write_log()) {
        if (wr.level == pt_level::pmd) {
            on_pmd(wr);
            continue;
        }
        if (wr.table != table) {
            table = wr.table;
            const auto va = w.m.table_va({wr.table});
            table_first =
                va ? std::optional((*va - w.m.window_start()) >> w.geo().page_shift) : std::nullopt;
        }
        if (table_first)
            on_pte(wr, *table_first + wr.index);
    }
}

struct finding {
    std::string invariant;
    std::string detail;
    std::vector<std::uint64_t> pages; ///< window page indices involved
};

class checker {
  public:
    checker(world &ref, world &opt);

    /// An op result against its interval: exact part equal, young/dirty inside.
    std::optional<finding> check_result(std::string_view what, pte_t ref, pte_t opt,
                                        const ad_interval &iv, std::uint64_t page);
    /// Views of these pages (and nothing else) in both worlds.
    std::optional<finding> check_pages(const std::vector<std::uint64_t> &pages);
    /// CONT_BLOCK over the blocks holding these pages (optimized world's raw table).
    std::optional<finding> check_blocks(const std::vector<std::uint64_t> &pages);
    /// CONT_BLOCK over these blocks (their first pages), each known to hold a valid PTE_CONT
    /// entry: touched_set::cont_blocks.
    std::optional<finding> check_cont_blocks(const std::vector<std::uint64_t> &blocks);
    std::optional<finding> check_pmds(const std::vector<std::size_t> &pmds);
    /// Violations the machines' monitors reported during the op.
    std::optional<finding> check_monitors();
    /// Whole window, page_table_check recount and RSS, and with `content` every mapped page and
    /// swap slot against the ideal memory: at the end of a program.
    std::optional<finding> audit(const content_spec *content = nullptr);
    /// CONTENT: a value a read returned.
    std::optional<finding> check_read(const content_spec &content, std::uint64_t page,
                                      std::uint64_t value, std::string_view what);
    /// CONTENT: the frames these pages map (PTE or PMD) in both worlds, and the swap slots of
    /// their swap entries, against the ideal memory.
    std::optional<finding> check_content(const content_spec &content,
                                         const std::vector<std::uint64_t> &pages);

    /// What an op wrote in either world, and the range it named.
    struct touched_set {
        /// Written pages and the op's range, each as it is: where the data a read returns can
        /// have changed (an entry, or the frame a hardware write went to).
        recycled_vector<std::uint64_t> written;
        /// The same widened to their CONT blocks: where a view can have changed (contpte
        /// gathers young/dirty over a block, and a fold or unfold rewrites all of it). Without
        /// `whole_blocks`, a block that holds PTE_CONT in neither world after the op adds only
        /// its written pages: each of its entries shows itself alone, so an entry nobody wrote
        /// looks as before, and the spec of a direct op changes only inside the op's range
        /// (elsewhere it only relaxes), so the last check of such an entry still holds. A getter
        /// that gathered over a block without PTE_CONT is left to the end-of-program audit
        /// (run_options::whole_blocks checks it after the op).
        recycled_vector<std::uint64_t> pages;
        /// The blocks of `pages` (their first pages) that hold a valid PTE_CONT entry in the
        /// optimized world after the op: the only ones CONT_BLOCK has anything to check in.
        recycled_vector<std::uint64_t> cont_blocks;
        recycled_vector<std::size_t> pmds;
    };
    /// What the op that named [first, first + nr) touched: that range, the pages either world
    /// wrote, and `also` (pages whose spec the op tightened, written or not).
    void touched(std::uint64_t first, std::uint64_t nr, bool whole_blocks,
                 const std::vector<std::uint64_t> &also, touched_set &out);
    /// Whether a CONT-aligned block is one contpte could map with PTE_CONT, seen in the
    /// reference world: present entries mapping one folio contiguously from an aligned PFN
    /// with equal protection. `valid`: all of them valid as well. Special entries count:
    /// contpte_try_fold() skips them, but contpte_set_ptes() sets CONT on any full aligned
    /// chunk (arch/arm64/mm/contpte.c). For them the folio does not matter: contpte_set_ptes()
    /// does not look for one, and the CONT block stays when the folio whose frames it maps is
    /// split, as rmap does not see special entries to unmap them ("there is no associated
    /// folio", contpte_try_fold() in arch/arm64/include/asm/pgtable.h). `present` alone admits
    /// present-invalid (PROT_NONE) blocks: contpte_set_ptes() sets PTE_CONT on them, and the
    /// batched young/dirty clears test pte_cont(), not validity.
    struct foldability {
        bool valid = false;
        bool present = false;
    };
    foldability foldable(std::uint64_t block_first);
    /// The result of a young clear over [first, first + nr) in both worlds: 1 over a page that
    /// must be young, 0 where nothing may be; an edge that may carry PTE_CONT makes the clear
    /// block-wide, and its result the OR over the block.
    std::optional<finding> check_young_result(std::string_view what, std::uint64_t first,
                                              std::uint64_t nr, bool ref_young, bool opt_young);
    /// The interval such a result must lie in.
    [[nodiscard]] ad_interval young_result_interval(std::uint64_t first, std::uint64_t nr) const;
    /// Spec transition of a young clear without a flush over [first, first + nr): old there, and
    /// contpte may have cleared the blocks the range touches if one folio could map them
    /// contiguously; their TLBs may keep stale-old translations.
    void young_cleared(std::uint64_t first, std::uint64_t nr);
    /// Spread `may` over every foldable block among these pages.
    void spread(const std::vector<std::uint64_t> &pages);
    /// spread() over the blocks the reference's first `end` writes of this op touched, as it
    /// would have run had the op ended there: on the table as it then stood.
    void spread_at_write(std::size_t end);
    [[nodiscard]] std::uint64_t block_of(std::uint64_t page) const {
        return page & ~(std::uint64_t{ref_.geo().cont_ptes()} - 1);
    }

    ad_spec spec;

  private:
    std::optional<finding> check_ad(const std::string &where, pte_t seen, const ad_interval &iv,
                                    std::uint64_t page);
    /// SOFTLEAF_ROUNDTRIP: the uffd-wp bit and the swap-exclusive flag the op stream gave it.
    std::optional<finding> check_flags(std::uint64_t page, pte_t seen) const;
    /// A software leaf core code sees must be one in the raw table too, and re-encode to itself.
    std::optional<finding> check_leaf(world &w, std::uint64_t page, pte_t raw);
    /// CONT_BLOCK over one block with a valid PTE_CONT entry, `run` its raw entries.
    std::optional<finding> check_block(std::uint64_t first, std::span<const pte_t> run);
    world &ref_;
    world &opt_;
    recycled_vector<std::uint64_t> page_bits_;   ///< touched() scratch: one bit per window page
    recycled_vector<std::uint64_t> audit_pages_; ///< audit scratch: the pages either world maps
    recycled_vector<int> audit_counts_;          ///< audit scratch: mappings per frame
};

} // namespace mmfuzz
