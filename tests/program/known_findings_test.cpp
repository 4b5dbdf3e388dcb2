// The known-findings file: the project's own parses, and a line that could match no finding is
// an error naming its line and column, not a silent no-op.
#include "program/codec.hpp"
#include "program/runner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace mmfuzz {
namespace {

/// read_known_findings() of a file holding `text`, or the message it threw.
std::string error_of(const std::string &text) {
    const auto path =
        std::filesystem::temp_directory_path() /
        ("mmfuzz-known-" +
         std::to_string(::testing::UnitTest::GetInstance()->current_test_info()->line()) + ".txt");
    std::ofstream(path) << text;
    std::string message;
    try {
        read_known_findings(path.string());
    } catch (const std::runtime_error &e) {
        message = e.what();
        message = message.substr(message.find(".txt:") + 4);
    }
    std::filesystem::remove(path);
    return message;
}

TEST(KnownFindings, TheProjectsFileParses) {
    const auto known = read_known_findings(MMFUZZ_CORPUS_DIR "/known-findings.txt");
    ASSERT_FALSE(known.empty());
    for (const std::string &k : known)
        EXPECT_NE(k.find(' '), std::string::npos) << k;
    EXPECT_NE(std::find(known.begin(), known.end(), "BBM modify_prot translation size change"),
              known.end());
}

TEST(KnownFindings, WordsAfterTheOpAreKeptAsOneFragment) {
    EXPECT_EQ(error_of("EQUIV ptep_get  the  gathered\tbits\n"), "");
    const auto path = std::filesystem::temp_directory_path() / "mmfuzz-known-words.txt";
    std::ofstream(path) << "EQUIV ptep_get  the  gathered\tbits # why\n";
    const auto known = read_known_findings(path.string());
    std::filesystem::remove(path);
    ASSERT_EQ(known.size(), 1U);
    EXPECT_EQ(known[0], "EQUIV ptep_get the gathered bits");
}

std::string read_text(const std::string &path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

/// The known refold BBM of mprotect names its detail, so it no longer hides a BBM of another
/// kind at mprotect: the in-place change_huge_pmd() canary's is reported.
TEST(KnownFindings, AFindingWithWordsPassesOverOnlyAViolationWhoseDetailHasThem) {
    const auto known = read_known_findings(MMFUZZ_CORPUS_DIR "/known-findings.txt");
    run_options o;
    o.known = known;
    const run_result refold = run_program(
        parse_text(read_text(MMFUZZ_CORPUS_DIR "/regressions/mprotect-flow-refold-bbm.ops")), o);
    EXPECT_TRUE(refold.passed());
    EXPECT_EQ(refold.known, 1U);

    const program canary =
        parse_text(read_text(MMFUZZ_CORPUS_DIR "/regressions/canary-change_huge_pmd_in_place.ops"));
    o.inject = "change_huge_pmd_in_place";
    const run_result reported = run_program(canary, o);
    ASSERT_FALSE(reported.passed());
    EXPECT_EQ(reported.violation->invariant, "BBM");
    EXPECT_EQ(reported.known, 0U);
    // Without the words, "BBM mprotect" passes over every BBM at mprotect.
    o.known = {"BBM mprotect"};
    const run_result hidden = run_program(canary, o);
    EXPECT_TRUE(hidden.passed());
    EXPECT_EQ(hidden.known, 1U);
}

TEST(KnownFindings, CommentsAndBlankLinesAreSkipped) {
    EXPECT_EQ(error_of("# a comment\n\n  BBM mprotect   # why\n"), "");
}

TEST(KnownFindings, AMistakeNamesItsLineAndColumn) {
    EXPECT_EQ(error_of("BBM mprotect\nBMM modify_prot\n"),
              ":2:1: expected an invariant ID (see 'mmfuzz invariants'), found 'BMM'");
    EXPECT_EQ(error_of("EQUIV\n"), ":1:6: expected an op name after 'EQUIV'");
    EXPECT_EQ(error_of("EQUIV  ptep_gte\n"), ":1:8: expected an op name, found 'ptep_gte'");
}

TEST(KnownFindings, AFolderIsNotAnEmptyList) {
    EXPECT_THROW(read_known_findings(MMFUZZ_CORPUS_DIR), std::runtime_error);
    EXPECT_THROW(read_known_findings(MMFUZZ_CORPUS_DIR "/no-such-file.txt"), std::runtime_error);
}

} // namespace
} // namespace mmfuzz
