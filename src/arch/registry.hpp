// Implementations of the handle API, by name. Upper layers make worlds through this and never
// name an implementation type.
#pragma once

#include "arch/pgtable_ops.hpp"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mmfuzz {

/// "generic" (the reference) or "arm64_contpte"; throws std::invalid_argument otherwise.
std::unique_ptr<pgtable_ops> make_pgtable_ops(std::string_view name, machine &m);
std::vector<std::string> pgtable_ops_names();
/// Whether the contpte implementation is built in.
bool have_pgtable_ops(std::string_view name);

} // namespace mmfuzz
