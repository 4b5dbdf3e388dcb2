#include "fixture.hpp"

namespace mmfuzz::test {

std::unique_ptr<pgtable_ops> make_impl(std::string_view name, machine &m) {
    if (name == "generic")
        return std::make_unique<generic_pgtable>(m);
    throw std::invalid_argument("unknown implementation " + std::string(name));
}

std::vector<std::string> impl_names() {
    return {"generic"};
}

} // namespace mmfuzz::test
