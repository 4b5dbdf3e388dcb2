#include "arch/registry.hpp"

#include "arch/generic/generic.hpp"

#if __has_include("arch/arm64_contpte/arm64_contpte.hpp")
#include "arch/arm64_contpte/arm64_contpte.hpp"
#define MMFUZZ_HAVE_CONTPTE 1
#endif

#include <stdexcept>

namespace mmfuzz {

std::unique_ptr<pgtable_ops> make_pgtable_ops(std::string_view name, machine &m) {
    if (name == "generic")
        return std::make_unique<generic_pgtable>(m);
#ifdef MMFUZZ_HAVE_CONTPTE
    if (name == "arm64_contpte")
        return std::make_unique<arm64_contpte_pgtable>(m);
#endif
    throw std::invalid_argument("unknown page-table implementation '" + std::string(name) + "'");
}

std::vector<std::string> pgtable_ops_names() {
#ifdef MMFUZZ_HAVE_CONTPTE
    return {"generic", "arm64_contpte"};
#else
    return {"generic"};
#endif
}

bool have_pgtable_ops(std::string_view name) {
    for (const auto &n : pgtable_ops_names())
        if (n == name)
            return true;
    return false;
}

} // namespace mmfuzz
