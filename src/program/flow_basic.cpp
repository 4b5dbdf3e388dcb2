#include "program/flow.hpp"

namespace mmfuzz {

std::span<const flow_op> basic_flows() {
    return {};
}

} // namespace mmfuzz
