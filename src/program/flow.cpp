#include "program/flow.hpp"

#include "core/pte_walk.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace mmfuzz {

const flow_op *find_flow(op_kind kind) {
    static const auto by_tag = [] {
        std::array<const flow_op *, 256> t{};
        for (const auto group : {fault_flows(), basic_flows(), huge_flows(), swap_flows()})
            for (const flow_op &f : group)
                if (t[static_cast<std::uint8_t>(f.kind)] == nullptr)
                    t[static_cast<std::uint8_t>(f.kind)] = &f;
        return t;
    }();
    return by_tag[static_cast<std::uint8_t>(kind)];
}

std::pair<std::uint64_t, std::uint64_t> one_page(const op &o) {
    return {o[slot::addr], 1};
}

bool spread_prot_batches(flow_context &c, std::uint64_t first, std::uint64_t nr) {
    const auto base = c.ref.pte_lookup(c.ref.page_va(first));
    if (!base)
        return false;
    const std::uint64_t end = first + nr;
    for (std::uint64_t p = first; p < end;) {
        const hw_ptep ptep = hw_pte_add(*base, static_cast<std::ptrdiff_t>(p - first));
        const pte_t e = c.ref.ops->ptep_get(ptep);
        const unsigned n =
            pte_present(e) ? folio_pte_batch(c.ref, ptep, e, static_cast<unsigned>(end - p)) : 1;
        if (n > 1)
            c.chk.spec.spread(p, n);
        p += n;
    }
    return true;
}

std::vector<std::uint64_t> written_pages(world &w) {
    std::vector<std::uint64_t> out;
    for_each_write(
        w, [](const pgtable_write &) {},
        [&](const pgtable_write &wr, std::uint64_t page) {
            if (wr.live && !wr.by_hw)
                out.push_back(page);
        });
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

void spread_split_pmd(flow_context &c, std::uint64_t first) {
    const std::uint64_t n = c.ref.geo().ptrs_per_pte();
    const ad_interval g = c.chk.spec.gather(first, n);
    for (std::uint64_t p = first; p < first + n; ++p)
        c.chk.spec.set(p, g);
}

} // namespace mmfuzz
