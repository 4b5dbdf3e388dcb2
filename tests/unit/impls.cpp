#include "fixture.hpp"

#include "arch/arm64_contpte/arm64_contpte.hpp"

namespace mmfuzz::test {

std::unique_ptr<pgtable_ops> make_impl(std::string_view name, machine &m) {
    if (name == "generic")
        return std::make_unique<generic_pgtable>(m);
    if (name == "arm64_contpte")
        return std::make_unique<arm64_contpte_pgtable>(m);
    throw std::invalid_argument("unknown implementation " + std::string(name));
}

std::vector<std::string> impl_names() {
    return {"generic", "arm64_contpte"};
}

} // namespace mmfuzz::test
