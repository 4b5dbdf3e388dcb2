#include "program/mutate.hpp"

#include "program/codec.hpp"
#include "program/generate.hpp"

#include <algorithm>
#include <cstring>

namespace mmfuzz {

namespace {

/// Writes p into out, dropping trailing ops until it fits; returns the size written.
std::size_t emit(const program &p, std::uint8_t *out, std::size_t max_size) {
    program q = p;
    std::vector<std::uint8_t> bytes = encode_binary(q);
    while (bytes.size() > max_size && !q.ops.empty()) {
        q.ops.pop_back();
        bytes = encode_binary(q);
    }
    const std::size_t n = std::min(bytes.size(), max_size);
    std::memcpy(out, bytes.data(), n);
    return n;
}

void tweak_field(const rand_fn &rnd, program &p, op &o) {
    const op_desc &d = desc_of(o.kind);
    if (d.nfields == 0)
        return;
    const field_desc &f = d.fields[rnd(d.nfields)];
    std::uint64_t v = o[f.s];
    switch (rnd(4)) {
    case 0:
        v = random_field(rnd, p.header, d, f);
        break;
    case 1:
        v += 1;
        break;
    case 2:
        v = v == 0 ? 0 : v - 1;
        break;
    default:
        // Reuse a value another op has in the same slot: addresses meet, batches line up.
        if (!p.ops.empty())
            v = p.ops[rnd(p.ops.size())][f.s];
        break;
    }
    o[f.s] = normalize_field(d, f, v);
}

} // namespace

std::size_t mutate_program(std::uint8_t *data, std::size_t size, std::size_t max_size,
                           unsigned seed, const byte_mutator &fallback,
                           std::span<const program> seeds) {
    const rand_fn rnd = seeded_rand(seed);
    program p = decode_any({data, size});
    const auto pos = [&](std::size_t extra) { return rnd(p.ops.size() + extra); };
    // One time in four a fresh random program in the input's geometry, as the plain-random
    // driver makes them: folios first, then small-valued ops. Coverage keeps what is new. Edits
    // stay near the corpus, and some bugs need a value far from it (BENCHMARKS.md: one in four
    // halved the canaries' total time against one in sixteen, at the same coverage).
    if (rnd(4) == 0)
        return emit(random_program(rnd, p.header, 8 + rnd(24)), data, max_size);
    if (!seeds.empty() && rnd(8) == 0) {
        size = emit(seeds[rnd(seeds.size())], data, max_size);
        p = decode_any({data, size});
    }
    switch (p.ops.empty() ? 0 : rnd(10)) {
    case 0:
    case 1: {
        // Half the time a new op of a kind the program already has: a program about direct
        // calls stays about them, one about flows about flows.
        op o = random_op(rnd, p.header);
        if (!p.ops.empty() && rnd(2) == 0) {
            const op_desc &d = desc_of(p.ops[pos(0)].kind);
            o = op{d.kind, {}};
            for (const field_desc &f : d.used())
                o[f.s] = random_field(rnd, p.header, d, f);
        }
        p.ops.insert(p.ops.begin() + static_cast<std::ptrdiff_t>(pos(1)), o);
        break;
    }
    case 2:
        p.ops.erase(p.ops.begin() + static_cast<std::ptrdiff_t>(pos(0)));
        break;
    case 3: {
        const op copy = p.ops[pos(0)];
        p.ops.insert(p.ops.begin() + static_cast<std::ptrdiff_t>(pos(1)), copy);
        break;
    }
    case 4:
        std::swap(p.ops[pos(0)], p.ops[pos(0)]);
        break;
    case 5: {
        const std::size_t from = pos(0);
        const std::size_t len = 1 + rnd(std::min<std::size_t>(8, p.ops.size() - from));
        const std::vector<op> run(p.ops.begin() + static_cast<std::ptrdiff_t>(from),
                                  p.ops.begin() + static_cast<std::ptrdiff_t>(from + len));
        p.ops.insert(p.ops.begin() + static_cast<std::ptrdiff_t>(pos(1)), run.begin(), run.end());
        break;
    }
    case 6:
    case 7:
    case 8:
        tweak_field(rnd, p, p.ops[pos(0)]);
        break;
    default:
        if (fallback) {
            // Byte mutation may change the window and machine options but not the granule: a
            // campaign fuzzes the granule of its seeds. Left free, it drifts to 16K and 64K,
            // where new coverage is cheap to find and a flow costs tens of times the work of
            // 4K, and every run slows down. The mutant is decoded to see its granule (a text
            // seed names it in its header line); one that still looks like text goes out in
            // binary, as it decodes, so that a crash file never holds damaged text, which
            // mmfuzz replay rejects.
            const std::size_t n = fallback(data, size, max_size);
            program q = decode_any({data, n});
            if (n >= binary_header_size && q.header.options.gran == p.header.options.gran &&
                !looks_like_text({data, n}))
                return n;
            q.header.options.gran = p.header.options.gran;
            return emit(q, data, max_size);
        }
        tweak_field(rnd, p, p.ops[pos(0)]);
        break;
    }
    return emit(p, data, max_size);
}

std::size_t crossover_programs(const std::uint8_t *data1, std::size_t size1,
                               const std::uint8_t *data2, std::size_t size2, std::uint8_t *out,
                               std::size_t max_out, unsigned seed) {
    const rand_fn rnd = seeded_rand(seed);
    program a = decode_any({data1, size1});
    const program b = decode_any({data2, size2});
    const std::size_t cut_a = rnd(a.ops.size() + 1);
    const std::size_t cut_b = rnd(b.ops.size() + 1);
    a.ops.resize(cut_a);
    a.ops.insert(a.ops.end(), b.ops.begin() + static_cast<std::ptrdiff_t>(cut_b), b.ops.end());
    return emit(a, out, max_out);
}

} // namespace mmfuzz
