// Reproducer minimization: op-level delta debugging, then field shrinking, keeping the same
// invariant ID (DESIGN "Drivers").
#pragma once

#include "program/runner.hpp"

#include <functional>
#include <string>

namespace mmfuzz {

struct minimize_result {
    program reproducer; ///< legal, minimal ops, still failing with `invariant`
    std::string invariant;
    std::size_t runs = 0; ///< programs executed while minimizing
};

/// Minimizes p, which must fail under `opts`; throws std::invalid_argument if it passes.
/// `progress` (may be empty) is told the op count after each successful step.
minimize_result minimize(const program &p, const run_options &opts,
                         const std::function<void(std::size_t)> &progress = {});

} // namespace mmfuzz
