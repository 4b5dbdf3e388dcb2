#include "oracle/view.hpp"
#include "pgtable/format.hpp"

#include "pgtable/softleaf.hpp"

#include <cstdio>

namespace mmfuzz {

std::string describe_pte(pte_t p) {
    if (pte_none(p))
        return "none";
    if (!pte_present(p)) {
        const softleaf_t e = softleaf_from_pte(p);
        std::string s(softleaf_type_name(softleaf_type_of(e)));
        if (softleaf_is_swap(e))
            s += " type=" + std::to_string(swp_type(e)) + " offset=" + hex(swp_offset(e));
        else if (softleaf_is_marker(e))
            s += " marker=" + hex(softleaf_to_marker(e));
        else
            s += " pfn=" + hex(softleaf_to_pfn(e));
        if (softleaf_is_migration_young(e))
            s += " young";
        if (softleaf_is_migration_dirty(e))
            s += " dirty";
        if (pte_swp_exclusive(p))
            s += " exclusive";
        if (pte_swp_uffd_wp(p))
            s += " uffd_wp";
        return s + " (" + hex(pte_val(p)) + ")";
    }
    std::string s = "pfn=" + hex(pte_pfn(p));
    s += pte_valid(p) ? (pte_write(p) ? " rw" : " ro")
                      : (pte_protnone(p) ? " protnone" : " invalid");
    if (pte_user_exec(p))
        s += "x";
    if (pte_young(p))
        s += " young";
    if (pte_dirty(p))
        s += pte_hw_dirty(p) ? " dirty(hw)" : " dirty";
    if (pte_cont(p))
        s += " CONT";
    if (pte_special(p))
        s += " special";
    if (pte_uffd_wp(p))
        s += " uffd_wp";
    return s + " (" + hex(pte_val(p)) + ")";
}

std::string describe_interval(const ad_interval &iv) {
    auto bit = [](bool must, bool may) { return must ? "1" : (may ? "0..1" : "0"); };
    return std::string("young ") + bit(iv.must.young, iv.may.young) + ", dirty " +
           bit(iv.must.dirty, iv.may.dirty);
}

char map_char(pte_t p) {
    if (pte_none(p))
        return '.';
    if (!pte_present(p)) {
        const softleaf_t e = softleaf_from_pte(p);
        if (softleaf_is_swap(e))
            return 's';
        if (softleaf_is_migration(e))
            return 'm';
        if (softleaf_is_device_private(e) || softleaf_is_device_exclusive(e))
            return 'v';
        if (softleaf_is_hwpoison(e))
            return 'x';
        if (softleaf_is_marker(e))
            return 'k';
        return '?';
    }
    if (!pte_valid(p))
        return 'n';
    static constexpr char plain[] = {'o', 'y', 'd', 'b'};
    static constexpr char cont[] = {'O', 'Y', 'D', 'B'};
    const unsigned i = (pte_young(p) ? 1U : 0U) | (pte_dirty(p) ? 2U : 0U);
    return pte_cont(p) ? cont[i] : plain[i];
}

std::string map_legend() {
    return "legend: . none  o old  y young  d dirty  b young+dirty  (upper case: CONT)  "
           "n present-invalid  s swap  m migration  v device  x hwpoison  k marker";
}

std::string render_map(const std::vector<map_row> &rows, const std::string &left_name,
                       const std::string &right_name) {
    std::size_t width = 0;
    for (const map_row &r : rows)
        width = std::max(width, r.left.size());
    std::string out;
    char head[64];
    std::snprintf(head, sizeof head, "%-18s ", "va");
    out += head + left_name + std::string(width + 2 - std::min(width + 2, left_name.size()), ' ') +
           right_name + "\n";
    for (const map_row &r : rows) {
        std::snprintf(head, sizeof head, "%-18s ", hex(r.va).c_str());
        out += head + r.left + "  " + r.right + "\n";
        std::string marks;
        bool any = false;
        for (std::size_t i = 0; i < r.left.size(); ++i) {
            const bool diff = i >= r.right.size() || r.left[i] != r.right[i];
            marks += diff ? '^' : ' ';
            any |= diff;
        }
        if (any)
            out += std::string(19, ' ') + marks + "\n";
    }
    return out + map_legend() + "\n";
}

} // namespace mmfuzz
