#include "program/minimize.hpp"

#include "program/codec.hpp"

#include <stdexcept>

namespace mmfuzz {

namespace {

class shrinker {
  public:
    shrinker(const run_options &opts, std::string invariant)
        : opts_(opts), invariant_(std::move(invariant)) {}

    /// Whether q still fails with the same invariant; on success `best` becomes its legal form.
    bool still_fails(const program &q, program &best) {
        ++runs;
        const run_result r = run_program(q, opts_);
        if (!r.violation || r.violation->invariant != invariant_)
            return false;
        // Keep only the ops up to the failing one: later ones are not needed.
        best = r.legalized;
        if (r.violation->op_index < q.ops.size())
            best.ops.resize(std::min(best.ops.size(), r.applied));
        return true;
    }

    std::size_t runs = 0;

  private:
    const run_options &opts_;
    std::string invariant_;
};

/// Smaller candidates for a field value: zero, half, one less.
std::vector<std::uint64_t> smaller(std::uint64_t v) {
    std::vector<std::uint64_t> c;
    if (v == 0)
        return c;
    c.push_back(0);
    if (v / 2 != 0)
        c.push_back(v / 2);
    if (v - 1 != 0 && v - 1 != v / 2)
        c.push_back(v - 1);
    return c;
}

/// Progress measure for field shrinking: fewer ops, then smaller fields.
std::pair<std::size_t, long double> weight(const program &p) {
    long double w = 0;
    for (const op &o : p.ops)
        for (const std::uint64_t v : o.f)
            w += static_cast<long double>(v);
    return {p.ops.size(), w};
}

} // namespace

minimize_result minimize(const program &p, const run_options &opts,
                         const std::function<void(std::size_t)> &progress) {
    run_options quiet = opts;
    quiet.trace = false;
    const run_result first = run_program(p, quiet);
    if (!first.violation)
        throw std::invalid_argument("the program passes: nothing to minimize");
    shrinker s(quiet, first.violation->invariant);
    program best;
    if (!s.still_fails(p, best))
        throw std::logic_error("the failure is not reproducible");
    const auto tell = [&] {
        if (progress)
            progress(best.ops.size());
    };
    tell();
    constexpr std::size_t max_runs = 20000;
    // Op-level delta debugging: remove chunks, halving their size down to single ops.
    for (std::size_t chunk = std::max<std::size_t>(1, best.ops.size() / 2);;) {
        bool removed = false;
        for (std::size_t start = 0; start < best.ops.size();) {
            program q = best;
            const std::size_t end = std::min(start + chunk, q.ops.size());
            q.ops.erase(q.ops.begin() + static_cast<std::ptrdiff_t>(start),
                        q.ops.begin() + static_cast<std::ptrdiff_t>(end));
            program next;
            if (s.still_fails(q, next)) {
                best = next;
                removed = true;
                tell();
            } else {
                start += chunk;
            }
        }
        if (chunk == 1 && !removed)
            break;
        if (!removed)
            chunk = std::max<std::size_t>(1, chunk / 2);
    }
    // Field shrinking: smaller numbers, lower orders, fewer pages, earlier addresses.
    for (bool changed = true; changed;) {
        changed = false;
        for (std::size_t i = 0; i < best.ops.size(); ++i) {
            const op_desc &d = desc_of(best.ops[i].kind);
            for (const field_desc &f : d.used()) {
                for (const std::uint64_t v : smaller(best.ops[i][f.s])) {
                    program q = best;
                    q.ops[i][f.s] = v;
                    program next;
                    if (s.runs < max_runs && s.still_fails(q, next) &&
                        weight(next) < weight(best)) {
                        best = next;
                        changed = true;
                        tell();
                        break;
                    }
                }
                if (i >= best.ops.size())
                    break;
            }
        }
    }
    return {best, first.violation->invariant, s.runs};
}

} // namespace mmfuzz
