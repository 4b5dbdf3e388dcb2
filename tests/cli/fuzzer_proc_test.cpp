// run_child(): the layout a benchmark's child runs with.
#include "cli/fuzzer_proc.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/personality.h>
#include <unistd.h>

namespace mmfuzz::cli {
namespace {

/// The personality flags a child of run_child() reports in /proc/self/personality.
unsigned long child_personality(bool fixed_layout) {
    const auto log =
        std::filesystem::temp_directory_path() / ("mmfuzz-personality-" + std::to_string(getpid()) +
                                                  "-" + std::to_string(fixed_layout) + ".log");
    child_spec c;
    c.argv = {"/bin/cat", "/proc/self/personality"};
    c.log = log;
    c.fixed_layout = fixed_layout;
    const child_result r = run_child(c);
    EXPECT_EQ(r.status, 0);
    std::ifstream in(log);
    std::string hex;
    in >> hex;
    std::filesystem::remove(log);
    return std::stoul(hex, nullptr, 16);
}

TEST(RunChild, FixedLayoutTurnsAddressRandomizationOffInTheChildOnly) {
    const auto own = static_cast<unsigned long>(personality(0xffffffff));
    if ((own & ADDR_NO_RANDOMIZE) != 0)
        GTEST_SKIP() << "this process already runs without address-space randomization";
    EXPECT_EQ(child_personality(false), own);
    EXPECT_EQ(child_personality(true), own | ADDR_NO_RANDOMIZE);
    EXPECT_EQ(static_cast<unsigned long>(personality(0xffffffff)), own);
}

} // namespace
} // namespace mmfuzz::cli
