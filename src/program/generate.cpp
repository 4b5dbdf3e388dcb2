#include "program/generate.hpp"

#include "program/codec.hpp"

#include <memory>

namespace mmfuzz {

std::uint64_t random_field(const rand_fn &rnd, const program_header &h, const op_desc &d,
                           const field_desc &f) {
    const geometry g = geometry_of(h.options.gran);
    const std::uint64_t n = g.cont_ptes();
    switch (f.s) {
    case slot::addr:
        // Mostly the first few blocks, sometimes anywhere in the window.
        return rnd(4) == 0 ? rnd(window_pages(h)) : rnd(4 * n);
    case slot::nr:
        // A zap, mprotect or NUMA scan sometimes runs on across page tables: a THP and the PTEs
        // after it in one gather, or whole tables, which MADV_DONTNEED frees.
        if ((d.kind == op_kind::zap_pte_range || d.kind == op_kind::mprotect ||
             d.kind == op_kind::change_prot_numa) &&
            rnd(4) == 0)
            return rnd(2) == 0 ? 1 + rnd(window_pages(h))
                               : g.ptrs_per_pte() * (1 + rnd(h.options.window_pmds));
        return rnd(3) == 0 ? n : 1 + rnd(2 * n);
    case slot::page:
        return rnd(2) == 0 ? 0 : rnd(2 * n);
    case slot::folio:
        // An access's slot: one of the first CONT entries, the block cached whole or by page.
        if (d.kind == op_kind::hw_access || d.kind == op_kind::handle_mm_fault)
            return rnd(8) + (rnd(2) == 0 ? 0 : n);
        return rnd(8);
    case slot::arg:
        if (d.kind == op_kind::folio_alloc)
            return rnd(5) == 0 ? rnd(g.pmd_order() + 1) : rnd(g.cont_pte_shift + 2);
        return normalize_field(d, f, rnd(256));
    case slot::value:
        return rnd(3) == 0 ? rnd(16) : rnd(~std::uint64_t{0});
    case slot::flags:
    default:
        return normalize_field(d, f, rnd(256));
    }
}

op random_op(const rand_fn &rnd, const program_header &h) {
    const auto descs = op_descs();
    const op_desc &d = descs[rnd(descs.size())];
    op o{d.kind, {}};
    for (const field_desc &f : d.used())
        o[f.s] = random_field(rnd, h, d, f);
    return o;
}

program random_program(const rand_fn &rnd, const program_header &h, std::size_t nr_ops) {
    program p;
    p.header = h;
    const op_desc &alloc = desc_of(op_kind::folio_alloc);
    for (int i = 0; i < 3; ++i) {
        op o{op_kind::folio_alloc, {}};
        for (const field_desc &f : alloc.used())
            o[f.s] = random_field(rnd, h, alloc, f);
        o[slot::flags] = 1;
        p.ops.push_back(o);
    }
    for (std::size_t i = 0; i < nr_ops; ++i)
        p.ops.push_back(random_op(rnd, h));
    return p;
}

program uniform_program(const rand_fn &rnd, const program_header &h, std::size_t nr_ops) {
    program p;
    p.header = h;
    const auto descs = op_descs();
    for (std::size_t i = 0; i < nr_ops; ++i) {
        const op_desc &d = descs[rnd(descs.size())];
        op o{d.kind, {}};
        for (const field_desc &f : d.used())
            o[f.s] = normalize_field(
                d, f, rnd(std::uint64_t{1} << 32) << 32 | rnd(std::uint64_t{1} << 32));
        p.ops.push_back(o);
    }
    return p;
}

rand_fn seeded_rand(std::uint64_t seed) {
    auto state = std::make_shared<std::uint64_t>(seed);
    return [state](std::uint64_t bound) -> std::uint64_t {
        std::uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        return bound == 0 ? z : z % bound;
    };
}

} // namespace mmfuzz
