// Helper laws (SEMANTICS 5), softleaf laws (SEMANTICS 3) and codec round trips over arbitrary
// values.
#include "gen.hpp"

#include "pgtable/softleaf.hpp"

namespace mmfuzz {
namespace {

rc::Gen<pte_t> gen_present_pte() {
    return rc::gen::apply(
        [](pfn_t pfn, std::size_t prot, bool young, bool dirty, bool special) {
            constexpr pgprot_t prots[] = {PAGE_SHARED, PAGE_SHARED_EXEC, PAGE_READONLY,
                                          PAGE_READONLY_EXEC, PAGE_NONE};
            pte_t p = pfn_pte(pfn, prots[prot]);
            p = young ? pte_mkyoung(p) : pte_mkold(p);
            if (dirty)
                p = pte_mkdirty(p);
            return special ? pte_mkspecial(p) : p;
        },
        rc::gen::inRange<pfn_t>(0, PFN_MAX + 1), rc::gen::inRange<std::size_t>(0, 5),
        rc::gen::arbitrary<bool>(), rc::gen::arbitrary<bool>(), rc::gen::arbitrary<bool>());
}

RC_GTEST_PROP(HelperLaws, DebugVmPgtableValueLaws, ()) {
    const pte_t p = *gen_present_pte();
    RC_ASSERT(pte_same(p, p));
    RC_ASSERT(pte_young(pte_mkyoung(pte_mkold(p))));
    RC_ASSERT(!pte_young(pte_mkold(pte_mkyoung(p))));
    RC_ASSERT(pte_dirty(pte_mkdirty(pte_mkclean(p))));
    RC_ASSERT(!pte_dirty(pte_mkclean(pte_mkdirty(p))));
    RC_ASSERT(pte_write(pte_mkwrite_novma(pte_wrprotect(p))));
    RC_ASSERT(!pte_write(pte_wrprotect(pte_mkwrite_novma(p))));
    RC_ASSERT(!pte_dirty(pte_wrprotect(pte_mkclean(p))));
    RC_ASSERT(pte_dirty(pte_wrprotect(pte_mkdirty(p))));
    RC_ASSERT(pte_pfn(p) == pte_pfn(pte_wrprotect(pte_mkdirty(pte_mkold(p)))));
    // Write-protection never loses dirtiness; the normal form ignores exactly young/dirty.
    RC_ASSERT(pte_dirty(pte_wrprotect(p)) == pte_dirty(p));
    RC_ASSERT(pte_normal_form(p) == pte_normal_form(pte_mkyoung(pte_mkdirty(p))) ||
              pte_write(p) != pte_write(pte_mkdirty(p)));
}

RC_GTEST_PROP(HelperLaws, ModifyPreservesDirtinessAndPfn, ()) {
    const pte_t p = *gen_present_pte();
    constexpr pgprot_t prots[] = {PAGE_SHARED, PAGE_READONLY, PAGE_NONE, PAGE_READONLY_EXEC};
    const pgprot_t to = prots[*rc::gen::inRange(0, 4)];
    const pte_t q = pte_modify(p, to);
    RC_ASSERT(pte_pfn(q) == pte_pfn(p));
    RC_ASSERT(pte_dirty(q) == pte_dirty(p));
    RC_ASSERT(pte_young(q) == pte_young(p));
}

rc::Gen<softleaf_t> gen_softleaf() {
    return rc::gen::oneOf(
        rc::gen::apply([](unsigned t, std::uint64_t off) { return swp_entry(t, off); },
                       rc::gen::inRange(0U, MAX_SWAPFILES),
                       rc::gen::inRange<std::uint64_t>(1, SWP_OFFSET_MAX)),
        rc::gen::apply(
            [](unsigned t, pfn_t pfn, bool young, bool dirty) {
                softleaf_t e = swp_entry(t, pfn);
                if (softleaf_is_migration(e) && young)
                    e = make_migration_entry_young(e);
                if (softleaf_is_migration(e) && dirty)
                    e = make_migration_entry_dirty(e);
                return e;
            },
            rc::gen::inRange(SWP_HWPOISON, SWP_PTE_MARKER), rc::gen::inRange<pfn_t>(0, PFN_MAX),
            rc::gen::arbitrary<bool>(), rc::gen::arbitrary<bool>()),
        rc::gen::apply([](pte_marker m) { return make_pte_marker_entry(m); },
                       rc::gen::inRange<pte_marker>(1, PTE_MARKER_MASK + 1)));
}

RC_GTEST_PROP(SoftleafLaws, RoundTripAndFlagsAreInvisible, ()) {
    const softleaf_t e = *gen_softleaf();
    const pte_t p = softleaf_to_pte(e);
    RC_ASSERT(softleaf_from_pte(p) == e);
    RC_ASSERT(!pte_present(p));
    RC_ASSERT(!pte_none(p));
    RC_ASSERT(softleaf_from_pte(pte_swp_mkexclusive(p)) == e);
    RC_ASSERT(softleaf_from_pte(pte_swp_mkuffd_wp(p)) == e);
    RC_ASSERT(pte_val(pte_swp_mkexclusive(p)) - pte_val(p) == PTE_SWP_EXCLUSIVE ||
              pte_swp_exclusive(p));
    RC_ASSERT(pte_swp_clear_uffd_wp(pte_swp_mkuffd_wp(p)) == p);
}

RC_GTEST_PROP(CodecLaws, BytesDecodeAndBothRoundTripsHold,
              (const std::vector<std::uint8_t> &bytes)) {
    const program p = decode_binary(bytes);
    RC_ASSERT(decode_binary(encode_binary(p)) == p);
    RC_ASSERT(parse_text(print_text(p)) == p);
}

RC_GTEST_PROP(CodecLaws, GeneratedProgramsRoundTrip, ()) {
    const program p = *props::gen_program(granule::k16);
    RC_ASSERT(decode_binary(encode_binary(p)) == p);
    RC_ASSERT(parse_text(print_text(p)) == p);
}

} // namespace
} // namespace mmfuzz
