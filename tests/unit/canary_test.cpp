// The canary registry, and the one canary the oracle cannot see yet
// (clear_flush_young_skips_flush): shown here to change what it claims to change.
#include "arch/canary.hpp"
#include "contpte_fixture.hpp"

#include <set>
#include <string>
#include <utility>

namespace mmfuzz {
namespace {

using test::ContpteTest;
using test::test_world;

TEST(Canary, EveryCatalogueNameFindsItsOwnCanary) {
    std::set<std::string_view> names;
    std::set<canary> ids;
    for (const canary_info &c : canaries()) {
        EXPECT_TRUE(names.insert(c.name).second) << c.name;
        EXPECT_TRUE(ids.insert(c.id).second) << c.name;
        EXPECT_FALSE(c.bug_class.empty()) << c.name;
        EXPECT_EQ(canary_from_name(c.name), c.id) << c.name;
    }
    EXPECT_FALSE(names.empty());
    EXPECT_EQ(canary_from_name("nope"), std::nullopt);
    EXPECT_EQ(canary_from_name(""), std::nullopt);
}

TEST(Canary, SetEnablesOnlyWhatItIsGiven) {
    canary_set s;
    EXPECT_TRUE(s.empty());
    s.enable(canary::convert_skips_flush);
    EXPECT_FALSE(s.empty());
    EXPECT_TRUE(s.on(canary::convert_skips_flush));
    EXPECT_FALSE(s.on(canary::unfold_drops_dirty));
}

TEST(Canary, NoImplementationStartsWithOne) {
    for (const char *impl : {"generic", "arm64_contpte"}) {
        test_world w(granule::k4, impl);
        EXPECT_TRUE(w.ops->canaries.empty()) << impl;
    }
}

class CanaryContpte : public ContpteTest {
  protected:
    /// A CONT block accessed once (so the TLB holds it), ptep_clear_flush_young() on it, and a
    /// second read access: whether the block then reads young, and how many flushes were issued.
    std::pair<bool, std::size_t> clear_flush_young_then_access() {
        map_cont_blocks(0, cont_order());
        touch(0, false);
        w.m.clear_logs();
        w.lock();
        EXPECT_TRUE(w.ops->ptep_clear_flush_young(&w.vma, w.addr(0), w.ptep(0)));
        w.unlock();
        const std::size_t nr_flushes = flushes().size();
        touch(0, false);
        w.lock();
        const bool young = pte_young(w.ops->ptep_get(w.ptep(0)));
        w.unlock();
        return {young, nr_flushes};
    }
};

TEST_P(CanaryContpte, ClearFlushYoungFlushesSoTheNextAccessSetsAf) {
    EXPECT_EQ(clear_flush_young_then_access(), std::make_pair(true, std::size_t{1}));
}

/// Without the flush, a TLB hit keeps serving the block and the next access sets no AF.
TEST_P(CanaryContpte, ClearFlushYoungSkipsFlushLeavesTheBlockOldAfterAnAccess) {
    w.ops->canaries.enable(canary::clear_flush_young_skips_flush);
    EXPECT_EQ(clear_flush_young_then_access(), std::make_pair(false, std::size_t{0}));
}

INSTANTIATE_TEST_SUITE_P(AllGranules, CanaryContpte, ::testing::ValuesIn(test::all_granules),
                         test::contpte_param_name);

} // namespace
} // namespace mmfuzz
