#include "cli/isolated.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

using mmfuzz::cli::run_isolated;

TEST(RunIsolated, ReturnsWhatTheChildReturned) {
    const auto r = run_isolated([] { return std::string(100000, 'x') + "end"; }, 10);
    ASSERT_TRUE(r.ok) << r.failure;
    EXPECT_EQ(r.output.size(), 100003U);
    EXPECT_EQ(r.output.substr(100000), "end");
}

TEST(RunIsolated, ChildStateStaysInTheChild) {
    int counter = 0;
    const auto r = run_isolated(
        [&] {
            ++counter;
            return std::to_string(counter);
        },
        10);
    ASSERT_TRUE(r.ok) << r.failure;
    EXPECT_EQ(r.output, "1");
    EXPECT_EQ(counter, 0);
}

TEST(RunIsolated, AnExceptionIsAFailureWithItsText) {
    const auto r = run_isolated([]() -> std::string { throw std::runtime_error("bad input"); }, 10);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, "bad input");
}

TEST(RunIsolated, ACrashEndsTheChildOnly) {
    const auto r = run_isolated([]() -> std::string { std::abort(); }, 10);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.failure.find("signal " + std::to_string(SIGABRT)), std::string::npos) << r.failure;
}

TEST(RunIsolated, AnExitStatusIsReported) {
    const auto r = run_isolated([]() -> std::string { std::_Exit(3); }, 10);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, "exited with status 3");
}

TEST(RunIsolated, AnEndlessLoopIsStoppedAtTheCpuLimit) {
    const auto r = run_isolated(
        []() -> std::string {
            for (volatile unsigned long i = 0;; i = i + 1) {
            }
        },
        1);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.failure, "ran past its limit of 1 CPU seconds");
}

TEST(RunIsolated, WhatTheChildPrintsGoesToTheLog) {
    const std::string log = ::testing::TempDir() + "run_isolated_test.log";
    std::remove(log.c_str());
    const auto r = run_isolated(
        []() -> std::string {
            std::fputs("report of the child\n", stderr);
            std::fflush(stderr);
            std::abort();
        },
        10, log);
    EXPECT_FALSE(r.ok);
    std::ifstream in(log);
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line, "report of the child");
}
