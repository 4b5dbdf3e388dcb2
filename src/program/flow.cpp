#include "program/flow.hpp"

#include <array>
#include <cstdint>

namespace mmfuzz {

const flow_op *find_flow(op_kind kind) {
    static const auto by_tag = [] {
        std::array<const flow_op *, 256> t{};
        for (const auto group : {basic_flows(), huge_flows(), swap_flows()})
            for (const flow_op &f : group)
                if (t[static_cast<std::uint8_t>(f.kind)] == nullptr)
                    t[static_cast<std::uint8_t>(f.kind)] = &f;
        return t;
    }();
    return by_tag[static_cast<std::uint8_t>(kind)];
}

} // namespace mmfuzz
