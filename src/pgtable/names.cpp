#include "pgtable/geometry.hpp"
#include "pgtable/softleaf.hpp"

#include <array>

namespace mmfuzz {

namespace {
constexpr std::array<std::string_view, 3> granule_names = {"4K", "16K", "64K"};
}

std::string_view granule_name(granule g) {
    return granule_names.at(static_cast<unsigned>(g));
}

std::optional<granule> granule_from_name(std::string_view name) {
    for (unsigned i = 0; i < granule_names.size(); ++i)
        if (granule_names[i] == name)
            return static_cast<granule>(i);
    return std::nullopt;
}

std::string_view softleaf_type_name(softleaf_type t) {
    static constexpr std::array<std::string_view, 10> names = {"none",
                                                               "swap",
                                                               "migration_read",
                                                               "migration_read_exclusive",
                                                               "migration_write",
                                                               "device_read",
                                                               "device_write",
                                                               "device_exclusive",
                                                               "hwpoison",
                                                               "marker"};
    return names.at(static_cast<unsigned>(t));
}

} // namespace mmfuzz
