#include "pgtable/format.hpp"
#include "program/codec.hpp"

#include <charconv>
#include <cstdio>
#include <sstream>

namespace mmfuzz {

parse_error::parse_error(std::string f, unsigned l, unsigned c, const std::string &m)
    : std::runtime_error(f + ":" + std::to_string(l) + ":" + std::to_string(c) + ": " + m),
      file(std::move(f)), line(l), column(c), message(m) {}

namespace {

std::uint64_t page_va(const program_header &h, std::uint64_t index) {
    return machine::window_base + (index << geometry_of(h.options.gran).page_shift);
}

std::string print_value(const program_header &h, const op_desc &d, const field_desc &f,
                        std::uint64_t v) {
    switch (f.type) {
    case field_type::address:
        return hex(page_va(h, v));
    case field_type::prot:
        return std::string(prot_names.at(v));
    case field_type::leaf:
        return std::string(leaf_names.at(v));
    case field_type::flag_set: {
        if (v == 0)
            return "0";
        std::string s;
        for (unsigned b = 0; b < d.flag_names.size(); ++b) {
            if ((v & (std::uint64_t{1} << b)) == 0)
                continue;
            if (!s.empty())
                s += '|';
            s += d.flag_names[b];
        }
        return s;
    }
    case field_type::number:
        return f.width == 8 ? hex(v) : std::to_string(v);
    case field_type::boolean:
    default:
        return std::to_string(v);
    }
}

} // namespace

std::string print_header(const program_header &h) {
    const machine_options &o = h.options;
    return "mmfuzz v" + std::to_string(h.version) +
           " granule=" + std::string(granule_name(o.gran)) +
           " window=" + std::to_string(o.window_pmds) + " bbml2=" + (o.bbml2_noabort ? "1" : "0") +
           " split_ptlocks=" + (o.split_ptlocks ? "1" : "0");
}

std::string print_op(const program_header &h, const op &o) {
    const op_desc &d = desc_of(o.kind);
    std::string s(d.name);
    for (const field_desc &f : d.used())
        s += " " + std::string(f.name) + "=" + print_value(h, d, f, o[f.s]);
    return s;
}

std::string print_text(const program &p) {
    std::string s = print_header(p.header) + "\n";
    for (const op &o : p.ops)
        s += print_op(p.header, o) + "\n";
    return s;
}

namespace {

/// A cursor over one line that remembers columns for errors.
struct line_parser {
    std::string_view file;
    unsigned line;
    std::string_view text;
    std::size_t pos = 0;

    [[noreturn]] void fail(std::size_t at, const std::string &msg) const {
        throw parse_error(std::string(file), line, static_cast<unsigned>(at + 1), msg);
    }
    void skip_space() {
        while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t'))
            ++pos;
    }
    bool at_end() {
        skip_space();
        return pos >= text.size();
    }
    struct key_value {
        std::string_view key;
        std::string_view value;
        std::size_t key_at;
        std::size_t value_at;
    };
    /// The next token, which must be key=value.
    key_value next_key_value() {
        skip_space();
        const std::size_t at = pos;
        const std::string_view tok = token();
        const std::size_t eq = tok.find('=');
        if (eq == std::string_view::npos)
            fail(at, "expected key=value, found '" + std::string(tok) + "'");
        return {tok.substr(0, eq), tok.substr(eq + 1), at, at + eq + 1};
    }
    /// The next whitespace-delimited token.
    std::string_view token() {
        skip_space();
        const std::size_t start = pos;
        while (pos < text.size() && text[pos] != ' ' && text[pos] != '\t')
            ++pos;
        return text.substr(start, pos - start);
    }
};

std::uint64_t parse_number(const line_parser &lp, std::size_t at, std::string_view s) {
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s.remove_prefix(2);
    }
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (ec != std::errc{} || end != s.data() + s.size() || s.empty())
        lp.fail(at, "expected a number (decimal or 0x hex), found '" + std::string(s) + "'");
    return v;
}

template <std::size_t N>
std::uint64_t parse_name(const line_parser &lp, std::size_t at, std::string_view s,
                         const std::array<std::string_view, N> &names, std::string_view what) {
    for (std::size_t i = 0; i < N; ++i)
        if (names[i] == s)
            return i;
    std::string expected;
    for (std::string_view n : names)
        expected += (expected.empty() ? "" : ", ") + std::string(n);
    lp.fail(at, "expected a " + std::string(what) + " (" + expected + "), found '" +
                    std::string(s) + "'");
}

std::uint64_t parse_value(const line_parser &lp, std::size_t at, const program_header &h,
                          const op_desc &d, const field_desc &f, std::string_view s) {
    switch (f.type) {
    case field_type::address: {
        const geometry g = geometry_of(h.options.gran);
        const std::uint64_t va = parse_number(lp, at, s);
        if (va < machine::window_base || (va & (g.page_size() - 1)) != 0)
            lp.fail(at, "expected a page-aligned address at or above " + hex(machine::window_base) +
                            ", found " + std::string(s));
        const std::uint64_t index = (va - machine::window_base) >> g.page_shift;
        if (index > f.max)
            lp.fail(at, "address " + std::string(s) + " is too far above the window");
        return index;
    }
    case field_type::prot:
        return parse_name(lp, at, s, prot_names, "protection");
    case field_type::leaf:
        return parse_name(lp, at, s, leaf_names, "softleaf type");
    case field_type::flag_set: {
        if (s == "0")
            return 0;
        std::uint64_t v = 0;
        std::size_t start = 0;
        while (start <= s.size()) {
            const std::size_t bar = std::min(s.find('|', start), s.size());
            const std::string_view name = s.substr(start, bar - start);
            bool found = false;
            for (unsigned b = 0; b < d.flag_names.size() && !d.flag_names[b].empty(); ++b) {
                if (d.flag_names[b] == name && ((std::uint64_t{1} << b) & f.max) != 0) {
                    v |= std::uint64_t{1} << b;
                    found = true;
                }
            }
            if (!found) {
                std::string expected;
                for (unsigned b = 0; b < d.flag_names.size(); ++b)
                    if (!d.flag_names[b].empty() && ((std::uint64_t{1} << b) & f.max) != 0)
                        expected += (expected.empty() ? "" : ", ") + std::string(d.flag_names[b]);
                lp.fail(at + start, "expected flags of " + std::string(d.name) + " (" + expected +
                                        ", joined by |, or 0), found '" + std::string(name) + "'");
            }
            start = bar + 1;
        }
        return v;
    }
    case field_type::boolean: {
        const std::uint64_t v = parse_number(lp, at, s);
        if (v > 1)
            lp.fail(at, "expected 0 or 1, found " + std::string(s));
        return v;
    }
    case field_type::number:
    default: {
        const std::uint64_t v = parse_number(lp, at, s);
        if (v > f.max)
            lp.fail(at, "value " + std::string(s) + " exceeds the largest " + std::string(f.name) +
                            " (" + std::to_string(f.max) + ")");
        return v;
    }
    }
}

program_header parse_header(line_parser &lp) {
    program_header h;
    const std::size_t at = lp.pos;
    if (lp.token() != "mmfuzz")
        lp.fail(at, "expected the header line 'mmfuzz v1 granule=4K window=2 ...'");
    const std::size_t vat = lp.pos + 1;
    const std::string_view v = lp.token();
    if (v != "v1")
        lp.fail(vat, "expected format version v1, found '" + std::string(v) + "'");
    while (!lp.at_end()) {
        const auto [key, val, kat, vpos] = lp.next_key_value();
        if (key == "granule") {
            const auto g = granule_from_name(val);
            if (!g)
                lp.fail(vpos,
                        "expected a granule (4K, 16K, 64K), found '" + std::string(val) + "'");
            h.options.gran = *g;
        } else if (key == "window") {
            const std::uint64_t w = parse_number(lp, vpos, val);
            if (w < 1 || w > max_window_pmds)
                lp.fail(vpos, "expected a window of 1.." + std::to_string(max_window_pmds) +
                                  " PMDs, found " + std::string(val));
            h.options.window_pmds = static_cast<unsigned>(w);
        } else if (key == "bbml2" || key == "split_ptlocks") {
            const std::uint64_t b = parse_number(lp, vpos, val);
            if (b > 1)
                lp.fail(vpos, "expected 0 or 1, found " + std::string(val));
            (key == "bbml2" ? h.options.bbml2_noabort : h.options.split_ptlocks) = b != 0;
        } else {
            lp.fail(kat, "unknown header key '" + std::string(key) +
                             "' (expected granule, window, bbml2, split_ptlocks)");
        }
    }
    return h;
}

op parse_op_line(line_parser &lp, const program_header &h) {
    const std::size_t nat = lp.pos;
    const std::string_view name = lp.token();
    const op_desc *d = find_op(name);
    if (d == nullptr) {
        std::string expected;
        for (const op_desc &x : op_descs())
            expected += (expected.empty() ? "" : ", ") + std::string(x.name);
        lp.fail(nat, "unknown op '" + std::string(name) + "' (expected one of: " + expected + ")");
    }
    op o{d->kind, {}};
    std::array<bool, nr_slots> seen{};
    while (!lp.at_end()) {
        const auto [key, val, kat, vpos] = lp.next_key_value();
        const field_desc *f = nullptr;
        for (const field_desc &x : d->used())
            if (x.name == key)
                f = &x;
        if (f == nullptr) {
            std::string expected;
            for (const field_desc &x : d->used())
                expected += (expected.empty() ? "" : ", ") + std::string(x.name);
            lp.fail(kat, std::string(d->name) + " has no field '" + std::string(key) +
                             "' (expected: " + expected + ")");
        }
        auto &was = seen[static_cast<std::size_t>(f->s)];
        if (was)
            lp.fail(kat, "field '" + std::string(key) + "' given twice");
        was = true;
        o[f->s] = parse_value(lp, vpos, h, *d, *f, val);
    }
    return o;
}

} // namespace

program parse_text(std::string_view text, std::string_view file) {
    program p;
    bool have_header = false;
    unsigned lineno = 0;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t nl = std::min(text.find('\n', start), text.size());
        std::string_view line = text.substr(start, nl - start);
        start = nl + 1;
        ++lineno;
        if (const std::size_t hash = line.find('#'); hash != std::string_view::npos)
            line = line.substr(0, hash);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        line_parser lp{file, lineno, line};
        if (lp.at_end())
            continue;
        if (!have_header) {
            p.header = parse_header(lp);
            have_header = true;
            continue;
        }
        p.ops.push_back(parse_op_line(lp, p.header));
    }
    if (!have_header)
        throw parse_error(std::string(file), lineno == 0 ? 1 : lineno, 1,
                          "expected the header line 'mmfuzz v1 granule=4K window=2 ...'");
    return p;
}

bool looks_like_text(std::span<const std::uint8_t> bytes) {
    std::size_t i = 0;
    while (i < bytes.size()) {
        const auto c = static_cast<char>(bytes[i]);
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            ++i;
        } else if (c == '#') {
            while (i < bytes.size() && bytes[i] != '\n')
                ++i;
        } else {
            break;
        }
    }
    static constexpr std::string_view word = "mmfuzz ";
    if (bytes.size() - i < word.size())
        return false;
    for (std::size_t k = 0; k < word.size(); ++k)
        if (static_cast<char>(bytes[i + k]) != word[k])
            return false;
    return true;
}

program decode_any(std::span<const std::uint8_t> bytes) {
    if (looks_like_text(bytes)) {
        const std::string_view text(reinterpret_cast<const char *>(bytes.data()), bytes.size());
        try {
            return parse_text(text);
        } catch (const parse_error &e) {
            // Text cut or damaged after its header (libFuzzer truncates inputs to -max_len):
            // the ops of the lines before the first bad one.
            std::size_t end = 0;
            for (unsigned l = 1; l < e.line && end < text.size(); ++l)
                end = std::min(text.find('\n', end), text.size()) + 1;
            try {
                return parse_text(text.substr(0, std::min(end, text.size())));
            } catch (const parse_error &) {
            }
        }
    }
    return decode_binary(bytes);
}

program decode_fuzzer_input(std::span<const std::uint8_t> bytes) {
    program p = decode_any(bytes);
    if (p.ops.size() > fuzzer_max_ops)
        p.ops.resize(fuzzer_max_ops);
    return p;
}

} // namespace mmfuzz
