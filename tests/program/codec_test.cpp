// The op language's codecs: every byte string decodes, both round trips hold, and parse errors
// name line and column.
#include "program/codec.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace mmfuzz {
namespace {

program sample() {
    program p;
    p.header.options = {granule::k16, 3, true, false};
    p.ops.push_back({op_kind::folio_alloc, {0, 0, 0, 0, 7, 1, 0}});
    p.ops.push_back({op_kind::set_ptes, {130, 128, 0, 0, 1, SETF_YOUNG | SETF_DIRTY, 0}});
    p.ops.push_back({op_kind::set_softleaf, {5, 3, 1, 2, 3, LEAFF_YOUNG | LEAFF_UFFD_WP, 0}});
    p.ops.push_back({op_kind::set_softleaf, {6, 7, 0, 0, 0, 0, 0x123456789}});
    p.ops.push_back({op_kind::clear_young_dirty_ptes, {9, 4, 0, 0, 0, 3, 0}});
    p.ops.push_back({op_kind::hw_access, {17, 0, 200, 0, 1, 0, 0xdeadbeefcafe}});
    p.ops.push_back({op_kind::modify_prot, {1, 2, 0, 0, 4, 0, 0}});
    return p;
}

TEST(Codec, EveryOpKindHasAUniqueTagAndName) {
    for (const op_desc &a : op_descs()) {
        EXPECT_EQ(find_op(static_cast<std::uint8_t>(a.kind)), &a);
        EXPECT_EQ(find_op(a.name), &a);
    }
    EXPECT_EQ(find_op(std::uint8_t{0}), nullptr);
    EXPECT_EQ(find_op(std::uint8_t{0xff}), nullptr);
}

TEST(Codec, TagsAreStable) {
    // Stored corpora depend on these numbers: changing one is a format break.
    EXPECT_EQ(static_cast<int>(op_kind::folio_alloc), 0x01);
    EXPECT_EQ(static_cast<int>(op_kind::set_ptes), 0x02);
    EXPECT_EQ(static_cast<int>(op_kind::ptep_set_access_flags), 0x0f);
    EXPECT_EQ(static_cast<int>(op_kind::hw_access), 0x11);
}

TEST(Codec, BinaryRoundTrip) {
    const program p = sample();
    const auto bytes = encode_binary(p);
    EXPECT_EQ(decode_binary(bytes), p);
}

TEST(Codec, TextRoundTrip) {
    const program p = sample();
    const std::string text = print_text(p);
    EXPECT_EQ(parse_text(text), p) << text;
    EXPECT_EQ(print_text(parse_text(text)), text);
}

TEST(Codec, EveryByteStringDecodesAndRoundTrips) {
    std::mt19937_64 rng(42);
    for (int round = 0; round < 2000; ++round) {
        std::vector<std::uint8_t> bytes(rng() % 96);
        for (auto &b : bytes)
            b = static_cast<std::uint8_t>(rng());
        const program p = decode_binary(bytes);
        EXPECT_GE(p.header.options.window_pmds, 1U);
        EXPECT_LE(p.header.options.window_pmds, max_window_pmds);
        EXPECT_EQ(decode_binary(encode_binary(p)), p);
        EXPECT_EQ(parse_text(print_text(p)), p);
    }
}

TEST(Codec, UnknownTagsAreSkippedAndTruncationDropsTheLastOp) {
    std::vector<std::uint8_t> bytes = {1, 0, 0, 0, 0xee, 0x04, 1, 0, 0, 0, 0x04, 2};
    const program p = decode_binary(bytes);
    ASSERT_EQ(p.ops.size(), 1U);
    EXPECT_EQ(p.ops[0].kind, op_kind::ptep_get);
    EXPECT_EQ(p.ops[0][slot::addr], 1U);
    EXPECT_TRUE(decode_binary({}).ops.empty());
}

// libFuzzer cuts inputs to -max_len, seeds (text) included: a cut or damaged text input runs
// the ops of its lines before the first bad one, in its own geometry (it used to decode as
// binary, in whatever geometry its second byte named).
TEST(Codec, CutTextDecodesAsTheLinesBeforeTheCut) {
    const program p = sample();
    const std::string text = "# a comment line first, as the seeds have\n" + print_text(p);
    for (std::size_t cut = text.find("mmfuzz v1"); cut <= text.size(); ++cut) {
        const std::string part = text.substr(0, cut);
        const program q =
            decode_any({reinterpret_cast<const std::uint8_t *>(part.data()), part.size()});
        if (part.find('\n', text.find("mmfuzz v1")) == std::string::npos)
            continue; // the header line itself is cut: not text any more
        ASSERT_EQ(q.header, p.header) << "cut at " << cut;
        ASSERT_LE(q.ops.size(), p.ops.size());
        // A line cut short may still parse (a shorter number): all ops before it are whole.
        EXPECT_TRUE(std::equal(q.ops.begin(), q.ops.end() - (q.ops.empty() ? 0 : 1), p.ops.begin()))
            << "cut at " << cut;
        if (cut < text.size() && text[cut - 1] == '\n')
            EXPECT_TRUE(std::equal(q.ops.begin(), q.ops.end(), p.ops.begin())) << "cut at " << cut;
    }
    std::string damaged = text;
    damaged.insert(damaged.find("clear_young_dirty_ptes"), "bogus ");
    const program q =
        decode_any({reinterpret_cast<const std::uint8_t *>(damaged.data()), damaged.size()});
    EXPECT_EQ(q.header, p.header);
    EXPECT_EQ(q.ops.size(), 4U);
}

// What the fuzz target runs, and what campaign and bench read its crash files as: decode_any()
// cut to fuzzer_max_ops, damaged text included.
TEST(Codec, FuzzerInputIsDecodeAnyCutToTheFuzzersLength) {
    program p = sample();
    const op first = p.ops.front();
    while (p.ops.size() <= fuzzer_max_ops)
        p.ops.push_back(first);
    const std::string text = print_text(p);
    const program q =
        decode_fuzzer_input({reinterpret_cast<const std::uint8_t *>(text.data()), text.size()});
    ASSERT_EQ(q.ops.size(), fuzzer_max_ops);
    EXPECT_TRUE(std::equal(q.ops.begin(), q.ops.end(), p.ops.begin()));
    std::string damaged = print_text(sample());
    damaged.insert(damaged.find("clear_young_dirty_ptes"), "bogus ");
    EXPECT_THROW(parse_text(damaged), parse_error);
    const program r = decode_fuzzer_input(
        {reinterpret_cast<const std::uint8_t *>(damaged.data()), damaged.size()});
    EXPECT_EQ(r.header, sample().header);
    EXPECT_EQ(r.ops.size(), 4U);
}

TEST(Codec, TextIsReadable) {
    const std::string t = print_text(sample());
    EXPECT_NE(t.find("mmfuzz v1 granule=16K window=3 bbml2=1 split_ptlocks=0"), std::string::npos);
    EXPECT_NE(t.find("set_ptes addr=0x40000208000 nr=128 folio=0 page=0 prot=ro flags=young|dirty"),
              std::string::npos)
        << t;
    EXPECT_NE(t.find("type=migration_write"), std::string::npos);
}

TEST(Codec, CommentsAndBlankLinesAreIgnored) {
    const program p = parse_text("# a reproducer\n\nmmfuzz v1 granule=4K window=1 bbml2=0 "
                                 "split_ptlocks=1  # header\n  ptep_get addr=0x40000001000 # x\n");
    ASSERT_EQ(p.ops.size(), 1U);
    EXPECT_EQ(p.ops[0][slot::addr], 1U);
}

void expect_error(const std::string &text, unsigned line, unsigned column,
                  const std::string &fragment) {
    try {
        parse_text(text, "repro.ops");
        ADD_FAILURE() << "parsed: " << text;
    } catch (const parse_error &e) {
        EXPECT_EQ(e.file, "repro.ops");
        EXPECT_EQ(e.line, line) << e.what();
        EXPECT_EQ(e.column, column) << e.what();
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
        EXPECT_EQ(std::string(e.what()).rfind("repro.ops:" + std::to_string(line) + ":", 0), 0U);
    }
}

TEST(Codec, ParseErrorsNameLineColumnAndWhatWasExpected) {
    const std::string h = "mmfuzz v1 granule=4K window=2 bbml2=0 split_ptlocks=1\n";
    expect_error("", 1, 1, "expected the header line");
    expect_error("set_ptes addr=0x40000000000\n", 1, 1, "expected the header line");
    expect_error("mmfuzz v1 granule=8K\n", 1, 19, "expected a granule");
    expect_error("mmfuzz v1 window=9\n", 1, 18, "expected a window of 1..4");
    expect_error(h + "set_pte addr=0x40000000000\n", 2, 1, "unknown op 'set_pte'");
    expect_error(h + "ptep_get addr=0x40000000001\n", 2, 15, "page-aligned address");
    expect_error(h + "ptep_get adr=0x40000000000\n", 2, 10, "has no field 'adr' (expected: addr)");
    expect_error(h + "set_ptes nr=x\n", 2, 13, "expected a number");
    expect_error(h + "set_ptes prot=rwz\n", 2, 15, "expected a protection (rw, ro, rwx, rx, none)");
    expect_error(h + "set_ptes flags=young|old\n", 2, 22, "expected flags of set_ptes");
    expect_error(h + "set_ptes nr=1 nr=2\n", 2, 15, "given twice");
    expect_error(h + "folio_alloc order=256\n", 2, 19, "exceeds the largest order");
    expect_error(h + "ptep_get addr\n", 2, 10, "expected key=value");
}

} // namespace
} // namespace mmfuzz
