#include "program/codec.hpp"

#include <algorithm>

namespace mmfuzz {

std::uint64_t normalize_field(const op_desc &d, const field_desc &f, std::uint64_t v) {
    const std::uint64_t width_mask =
        f.width >= 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * f.width)) - 1;
    v &= width_mask;
    switch (f.type) {
    case field_type::boolean:
        return v & 1;
    case field_type::prot:
        return v % prot_names.size();
    case field_type::leaf:
        return v % leaf_names.size();
    case field_type::flag_set:
        return v & f.max;
    default:
        (void)d;
        return v;
    }
}

void encode_op(const op &o, std::vector<std::uint8_t> &out) {
    const op_desc &d = desc_of(o.kind);
    out.push_back(static_cast<std::uint8_t>(o.kind));
    for (const field_desc &f : d.used()) {
        const std::uint64_t v = o[f.s];
        for (unsigned b = 0; b < f.width; ++b)
            out.push_back(static_cast<std::uint8_t>(v >> (8 * b)));
    }
}

bool decode_op(std::span<const std::uint8_t> bytes, std::size_t &pos, op &out) {
    while (pos < bytes.size()) {
        const op_desc *d = find_op(bytes[pos]);
        if (d == nullptr) {
            ++pos;
            continue;
        }
        std::size_t need = 1;
        for (const field_desc &f : d->used())
            need += f.width;
        if (pos + need > bytes.size()) {
            pos = bytes.size();
            return false;
        }
        out = op{d->kind, {}};
        std::size_t at = pos + 1;
        for (const field_desc &f : d->used()) {
            std::uint64_t v = 0;
            for (unsigned b = 0; b < f.width; ++b)
                v |= std::uint64_t{bytes[at + b]} << (8 * b);
            at += f.width;
            out[f.s] = normalize_field(*d, f, v);
        }
        pos = at;
        return true;
    }
    return false;
}

std::vector<std::uint8_t> encode_binary(const program &p) {
    const machine_options &o = p.header.options;
    std::vector<std::uint8_t> out = {
        program_format_version, static_cast<std::uint8_t>(o.gran),
        static_cast<std::uint8_t>(o.window_pmds - 1),
        static_cast<std::uint8_t>((o.bbml2_noabort ? 1U : 0U) | (o.split_ptlocks ? 0U : 2U))};
    for (const op &x : p.ops)
        encode_op(x, out);
    return out;
}

program decode_binary(std::span<const std::uint8_t> bytes) {
    program p;
    auto at = [&](std::size_t i) -> std::uint8_t { return i < bytes.size() ? bytes[i] : 0; };
    p.header.version = program_format_version;
    p.header.options.gran = static_cast<granule>(at(granule_byte) % 3);
    p.header.options.window_pmds = 1 + at(2) % max_window_pmds;
    p.header.options.bbml2_noabort = (at(3) & 1) != 0;
    p.header.options.split_ptlocks = (at(3) & 2) == 0;
    std::size_t pos = binary_header_size;
    // An op takes at least a byte; most inputs are fuzzer inputs, cut to fuzzer_max_ops.
    p.ops.reserve(std::min(bytes.size() - std::min(bytes.size(), pos), fuzzer_max_ops));
    op o;
    while (pos < bytes.size() && decode_op(bytes, pos, o))
        p.ops.push_back(o);
    return p;
}

} // namespace mmfuzz
