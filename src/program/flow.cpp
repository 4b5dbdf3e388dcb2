#include "program/flow.hpp"

namespace mmfuzz {

const flow_op *find_flow(op_kind kind) {
    for (const auto group : {basic_flows(), huge_flows(), swap_flows()})
        for (const flow_op &f : group)
            if (f.kind == kind)
                return &f;
    return nullptr;
}

} // namespace mmfuzz
