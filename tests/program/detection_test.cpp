// The line a driver process prints at its first violation, and bench's reading of it.
#include "program/detection.hpp"

#include <gtest/gtest.h>

namespace mmfuzz {
namespace {

TEST(detection, LineGivesSearchAndStartUpApart) {
    const double began = own_cpu_seconds();
    volatile double sink = 0;
    while (own_cpu_seconds() - began < 0.01)
        sink = sink + 1;
    const std::string line = detection_line(began);
    ASSERT_EQ(line.back(), '\n');
    const std::optional<detection_time> t = parse_detection_line(line.substr(0, line.size() - 1));
    ASSERT_TRUE(t.has_value()) << line;
    EXPECT_GE(t->search, 0.01);
    EXPECT_LT(t->search, 10.0);
    EXPECT_NEAR(t->startup, began, 1e-5);
}

TEST(detection, OtherLinesAreNotTimes) {
    EXPECT_FALSE(parse_detection_line("EQUIV at op #3: ptep_get differs"));
    EXPECT_FALSE(parse_detection_line("mmfuzz: violation after x CPU seconds of search"));
    EXPECT_FALSE(parse_detection_line("mmfuzz: violation after 0.5 CPU seconds of search"));
    EXPECT_FALSE(parse_detection_line(
        "mmfuzz: violation after -1 CPU seconds of search (0.1 of start-up before it)"));
    const auto t = parse_detection_line(
        "mmfuzz: violation after 0.250000 CPU seconds of search (0.125000 of start-up before it)");
    ASSERT_TRUE(t.has_value());
    EXPECT_DOUBLE_EQ(t->search, 0.25);
    EXPECT_DOUBLE_EQ(t->startup, 0.125);
}

} // namespace
} // namespace mmfuzz
