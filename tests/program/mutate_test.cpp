// The fuzzer's custom mutator and crossover: outputs fit, decode, keep the input's granule,
// and change the program.
#include "program/codec.hpp"
#include "program/generate.hpp"
#include "program/mutate.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <span>
#include <string>

namespace mmfuzz {
namespace {

constexpr std::size_t max_len = 320;

std::vector<std::uint8_t> seed_input(granule g, std::uint64_t seed) {
    program_header h;
    h.options.gran = g;
    h.options.window_pmds = 2;
    std::vector<std::uint8_t> bytes = encode_binary(random_program(seeded_rand(seed), h, 12));
    bytes.resize(std::min(bytes.size(), max_len));
    return bytes;
}

class MutateTest : public ::testing::TestWithParam<granule> {};

TEST_P(MutateTest, MutationKeepsTheGranuleAndChangesTheProgram) {
    std::mt19937_64 rng(9);
    // A byte mutator as wild as libFuzzer's can be: any byte, the header included.
    const byte_mutator bytes = [&](std::uint8_t *d, std::size_t size, std::size_t max) {
        const std::size_t n = std::min<std::size_t>(max, 1 + rng() % (size + 8));
        for (std::size_t i = 0; i < n; ++i)
            d[i] = static_cast<std::uint8_t>(rng());
        return n;
    };
    std::vector<std::uint8_t> buf = seed_input(GetParam(), 1);
    std::size_t size = buf.size();
    buf.resize(max_len);
    std::size_t changed = 0;
    std::size_t window_changed = 0;
    for (unsigned i = 0; i < 2000; ++i) {
        const program before = decode_any({buf.data(), size});
        size = mutate_program(buf.data(), size, max_len, i, bytes);
        ASSERT_LE(size, max_len);
        const program after = decode_any({buf.data(), size});
        ASSERT_EQ(after.header.options.gran, GetParam()) << "mutation " << i;
        changed += after != before ? 1 : 0;
        window_changed +=
            after.header.options.window_pmds != before.header.options.window_pmds ? 1 : 0;
        ASSERT_GE(size, binary_header_size);
    }
    EXPECT_GT(changed, 1500U);
    // The rest of the header stays open to mutation.
    EXPECT_GT(window_changed, 0U);
}

// libFuzzer starts from an empty input when the corpus is empty: it decodes as 4K and its
// mutants stay 4K.
TEST(Mutate, AnInputShorterThanAHeaderStays4K) {
    std::mt19937_64 rng(5);
    const byte_mutator bytes = [&](std::uint8_t *d, std::size_t size, std::size_t max) {
        const std::size_t n = std::min<std::size_t>(max, size + rng() % 8);
        for (std::size_t i = 0; i < n; ++i)
            d[i] = static_cast<std::uint8_t>(rng());
        return n;
    };
    for (unsigned i = 0; i < 500; ++i) {
        std::vector<std::uint8_t> buf(max_len);
        const std::size_t size = mutate_program(buf.data(), i % 4, max_len, i, bytes);
        EXPECT_EQ(decode_any({buf.data(), size}).header.options.gran, granule::k4) << i;
    }
}

// A text input (the seeds are text) names its granule in its header line.
TEST(Mutate, ATextInputKeepsItsGranule) {
    program p = random_program(seeded_rand(8), {}, 6);
    const std::string text = "# a seed, as in corpus/seeds\n" + print_text(p);
    const byte_mutator to64k = [](std::uint8_t *d, std::size_t size, std::size_t max) {
        std::string s(reinterpret_cast<const char *>(d), size);
        s.replace(s.find("granule=4K"), 10, "granule=64K");
        const std::size_t n = std::min(s.size(), max);
        std::copy_n(s.data(), n, d);
        return n;
    };
    std::vector<std::uint8_t> buf(text.begin(), text.end());
    buf.resize(4096);
    std::size_t mutated = 0;
    for (unsigned seed = 0; seed < 200; ++seed) {
        std::vector<std::uint8_t> b = buf;
        const std::size_t n = mutate_program(b.data(), text.size(), b.size(), seed, to64k);
        const program q = decode_any({b.data(), n});
        EXPECT_EQ(q.header.options.gran, granule::k4) << seed;
        mutated += q.ops == p.ops ? 1 : 0;
    }
    // Some of the 200 went through the byte mutator (the ops unchanged, the header rewritten).
    EXPECT_GT(mutated, 0U);
}

// With seed programs given, some mutants are edits of a seed rather than of the input; without
// them, none.
TEST(Mutate, SomeMutationsStartFromASeed) {
    op marked{op_kind::ptep_get, {}};
    marked[slot::addr] = 5;
    program seed;
    seed.ops.assign(10, marked);
    const std::vector<program> seeds{seed};
    const byte_mutator none;
    const auto from_seed = [&](std::span<const program> given) {
        std::size_t edits = 0;
        for (unsigned i = 0; i < 2000; ++i) {
            std::vector<std::uint8_t> buf = seed_input(granule::k4, i);
            const std::size_t size = buf.size();
            buf.resize(max_len);
            const std::size_t n = mutate_program(buf.data(), size, max_len, i, none, given);
            const program q = decode_any({buf.data(), n});
            const auto kept = std::count(q.ops.begin(), q.ops.end(), marked);
            edits += kept >= 8 && q.ops != seed.ops ? 1 : 0;
        }
        return edits;
    };
    EXPECT_GT(from_seed(seeds), 100U);
    EXPECT_EQ(from_seed({}), 0U);
}

TEST_P(MutateTest, CrossoverTakesTheFirstHeaderAndOpsOfBoth) {
    const std::vector<std::uint8_t> a = seed_input(GetParam(), 2);
    const granule other = GetParam() == granule::k4 ? granule::k64 : granule::k4;
    const std::vector<std::uint8_t> b = seed_input(other, 3);
    std::vector<std::uint8_t> out(max_len);
    const program pa = decode_any(a);
    const program pb = decode_any(b);
    std::size_t mixed = 0;
    for (unsigned seed = 0; seed < 200; ++seed) {
        const std::size_t n =
            crossover_programs(a.data(), a.size(), b.data(), b.size(), out.data(), max_len, seed);
        const program c = decode_any({out.data(), n});
        ASSERT_EQ(c.header, pa.header);
        bool from_a = false;
        bool from_b = false;
        for (const op &o : c.ops) {
            from_a = from_a || std::find(pa.ops.begin(), pa.ops.end(), o) != pa.ops.end();
            from_b = from_b || std::find(pb.ops.begin(), pb.ops.end(), o) != pb.ops.end();
        }
        mixed += from_a && from_b ? 1 : 0;
    }
    EXPECT_GT(mixed, 50U);
}

INSTANTIATE_TEST_SUITE_P(AllGranules, MutateTest,
                         ::testing::Values(granule::k4, granule::k16, granule::k64),
                         [](const auto &info) {
                             return "g" + std::string(granule_name(info.param));
                         });

} // namespace
} // namespace mmfuzz
