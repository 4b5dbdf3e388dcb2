// The known-findings file: the project's own parses, and a line that could match no finding is
// an error naming its line and column, not a silent no-op.
#include "program/runner.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
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
        EXPECT_EQ(k.find(' '), k.rfind(' ')) << k;
    EXPECT_NE(std::find(known.begin(), known.end(), "BBM modify_prot"), known.end());
}

TEST(KnownFindings, CommentsAndBlankLinesAreSkipped) {
    EXPECT_EQ(error_of("# a comment\n\n  BBM mprotect   # why\n"), "");
}

TEST(KnownFindings, AMistakeNamesItsLineAndColumn) {
    EXPECT_EQ(error_of("BBM mprotect\nBMM modify_prot\n"),
              ":2:1: expected an invariant ID (see 'mmfuzz invariants'), found 'BMM'");
    EXPECT_EQ(error_of("EQUIV\n"), ":1:6: expected an op name after 'EQUIV'");
    EXPECT_EQ(error_of("EQUIV  ptep_gte\n"), ":1:8: expected an op name, found 'ptep_gte'");
    EXPECT_EQ(error_of("EQUIV ptep_get shrink_folio\n"),
              ":1:16: expected the end of the line ('INVARIANT op'), found 'shrink_folio'");
}

TEST(KnownFindings, AFolderIsNotAnEmptyList) {
    EXPECT_THROW(read_known_findings(MMFUZZ_CORPUS_DIR), std::runtime_error);
    EXPECT_THROW(read_known_findings(MMFUZZ_CORPUS_DIR "/no-such-file.txt"), std::runtime_error);
}

} // namespace
} // namespace mmfuzz
