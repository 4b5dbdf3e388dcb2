// RapidCheck generators over the op language. Values shrink towards zero: earlier addresses,
// shorter batches, smaller folios, so a failing program shrinks to a small reproducer.
#pragma once

#include "program/codec.hpp"

#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <ostream>

namespace mmfuzz {

/// RapidCheck shows a counterexample program as its text reproducer.
inline void showValue(const program &p, std::ostream &os) {
    os << "\n" << print_text(p);
}

namespace props {

inline rc::Gen<op> gen_op(granule g) {
    const geometry geo = geometry_of(g);
    const std::uint64_t n = geo.cont_ptes();
    return rc::gen::apply(
        [geo](std::size_t k, std::uint64_t addr, std::uint64_t nr, std::uint64_t folio,
              std::uint64_t page, std::uint64_t arg, std::uint64_t flags, std::uint64_t value,
              std::uint64_t whole) {
            const op_desc &d = op_descs()[k];
            op o{d.kind, {}};
            const std::array<std::uint64_t, nr_slots> raw = {addr, nr,    folio, page,
                                                             arg,  flags, value};
            for (const field_desc &f : d.used())
                o[f.s] = normalize_field(d, f, raw[static_cast<std::size_t>(f.s)]);
            if (d.kind == op_kind::folio_alloc)
                o[slot::arg] = arg % (geo.cont_pte_shift + 2);
            // Now and then a zap of the whole table, which MADV_DONTNEED frees; shrinking
            // (towards 0) leaves it for the ordinary zap.
            if (d.kind == op_kind::zap_pte_range && whole == 3) {
                o[slot::addr] = 0;
                o[slot::nr] = geo.ptrs_per_pte();
            }
            return o;
        },
        rc::gen::inRange<std::size_t>(0, op_descs().size()),
        rc::gen::inRange<std::uint64_t>(0, 4 * n), rc::gen::inRange<std::uint64_t>(0, 2 * n + 1),
        rc::gen::inRange<std::uint64_t>(0, 4), rc::gen::inRange<std::uint64_t>(0, 2 * n),
        rc::gen::inRange<std::uint64_t>(0, 256), rc::gen::inRange<std::uint64_t>(0, 16),
        rc::gen::inRange<std::uint64_t>(0, 1U << 20), rc::gen::inRange<std::uint64_t>(0, 4));
}

/// A program on granule g: two folio allocations (a block-sized one and a page), then ops.
inline rc::Gen<program> gen_program(granule g) {
    return rc::gen::map(rc::gen::container<std::vector<op>>(gen_op(g)), [g](std::vector<op> ops) {
        program p;
        p.header.options.gran = g;
        p.header.options.window_pmds = 1;
        const unsigned shift = geometry_of(g).cont_pte_shift;
        p.ops.push_back({op_kind::folio_alloc, {0, 0, 0, 0, shift, 1, 0}});
        p.ops.push_back({op_kind::folio_alloc, {0, 0, 0, 0, 0, 1, 0}});
        p.ops.insert(p.ops.end(), ops.begin(), ops.end());
        return p;
    });
}

} // namespace props
} // namespace mmfuzz
